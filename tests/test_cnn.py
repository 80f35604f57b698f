"""models/cnn.py, models/keras_files.py: the card's architecture, a JSON + .weights.h5 round trip with identical
outputs, the served (OpenVINO) model within SERVING_TOLERANCE of it, clear load errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codeFeature.config import (
    GENRES,
    INFERENCE_BATCH,
    INPUT_SHAPE,
    MODEL_JSON,
    MODEL_WEIGHTS,
    SERVING_TOLERANCE,
)
from codeFeature.errors import ModelFilesError
from codeFeature.models.cnn import build_cnn, load_model, save_model
from codeFeature.models.keras_files import load_keras
from codeFeature.models.runtime import InferenceModel


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    model = build_cnn(rng.normal(size=13), rng.uniform(1, 2, size=13))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = rng.normal(size=(64, *INPUT_SHAPE)).astype(np.float32)
    model.fit(x, np.eye(10)[rng.integers(0, 10, 64)], epochs=1, verbose=0)  # moves weights and BN statistics
    folder = tmp_path_factory.mktemp("model")
    save_model(model, folder)
    np.save(folder / "probe.npy", x[:10])
    np.save(folder / "expected.npy", np.asarray(model(x[:10], training=False)))
    return folder


def test_architecture_is_the_cards() -> None:
    model = build_cnn(np.zeros(13), np.ones(13))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 4 and kinds.count("BatchNormalization") == 4 and kinds[0] == "Normalization"
    assert model.input_shape[1:] == INPUT_SHAPE and model.output_shape[-1] == len(GENRES)
    assert 30_000 < model.count_params() < 36_000


def test_files_have_keras3_names_and_no_optimizer_state(trained_dir: Path) -> None:
    assert (trained_dir / MODEL_JSON).is_file() and (trained_dir / MODEL_WEIGHTS).is_file()
    assert (trained_dir / MODEL_WEIGHTS).stat().st_size < 250_000  # ~180 KB; with Adam slots it would be ~460 KB
    config = json.loads((trained_dir / MODEL_JSON).read_text())
    assert config["class_name"] == "Sequential" and not config.get("compile_config")


def test_round_trip_in_a_fresh_process_is_bit_identical(trained_dir: Path) -> None:
    script = ("import os, sys; os.environ['KERAS_BACKEND'] = 'tensorflow'; import numpy as np; "
              "from codeFeature.models.keras_files import load_keras; from pathlib import Path; "
              f"d = Path({str(trained_dir)!r}); m = load_keras(d / {MODEL_JSON!r}, d / {MODEL_WEIGHTS!r}); "
              "np.save(d / 'got.npy', np.asarray(m(np.load(d / 'probe.npy'), training=False)))")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parent.parent)
    np.testing.assert_array_equal(np.load(trained_dir / "got.npy"), np.load(trained_dir / "expected.npy"))


def test_the_served_model_agrees_and_normalisation_travels_in_the_json(trained_dir: Path) -> None:
    model = load_model(trained_dir)  # compiled for OpenVINO, as every engine runs it
    np.testing.assert_allclose(model(np.load(trained_dir / "probe.npy")), np.load(trained_dir / "expected.npy"),
                               atol=SERVING_TOLERANCE)
    assert '"Normalization"' in (trained_dir / MODEL_JSON).read_text()


def test_the_served_model_runs_any_number_of_rows_ten_at_a_time(trained_dir: Path) -> None:
    """models/runtime.py: rows run INFERENCE_BATCH at a time (the last call padded), equal to one row at a time."""
    keras_model = load_keras(trained_dir / MODEL_JSON, trained_dir / MODEL_WEIGHTS)
    batched, single = InferenceModel(keras_model), InferenceModel(keras_model, batch=1)
    assert batched.batch == INFERENCE_BATCH == 10
    probe = np.concatenate([np.load(trained_dir / "probe.npy")] * 2)
    for rows in (0, 3, 10, 13):
        got = batched(probe[:rows])
        assert got.shape == (rows, len(GENRES))
        np.testing.assert_allclose(got, single(probe[:rows]), atol=1e-6)


def test_missing_files_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesError, match="codeFeature.train"):
        load_model(tmp_path)


def test_damaged_weights_give_a_model_error(trained_dir: Path, tmp_path: Path) -> None:
    (tmp_path / MODEL_JSON).write_text((trained_dir / MODEL_JSON).read_text())
    (tmp_path / MODEL_WEIGHTS).write_bytes(b"not hdf5")
    with pytest.raises(ModelFilesError, match="could not be loaded"):
        load_model(tmp_path)
