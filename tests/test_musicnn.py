"""musicnn.py / musicnn_convert.py: the shipped Keras port reproduces an independent float64 computation from the
original checkpoint (tests/musicnn_reference.py), every layer with weights is mapped, and loading fails clearly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codeFeature import musicnn
from codeFeature.config import MODEL_DIR, MSD_TAGS, MUSICNN_INPUT_SHAPE, MUSICNN_JSON, MUSICNN_LICENSE, SEGMENT_SAMPLES
from codeFeature.errors import ModelFilesError
from codeFeature.feature_extractor_musicnn import musicnn_features
from codeFeature.musicnn_convert import CHECKPOINT_NAMES
from musicnn_reference import RECORD, reference_signal


@pytest.fixture(scope="module")
def model():
    return musicnn.load_musicnn(MODEL_DIR)


def test_outputs_match_the_recorded_reference(model) -> None:
    recorded = json.loads(RECORD.read_text())
    outputs = musicnn.embed(model, reference_signal()[None])
    assert set(outputs) == set(musicnn.OUTPUTS)
    np.testing.assert_allclose(outputs["tags"][0], recorded["tags"], atol=2e-5)
    np.testing.assert_allclose(outputs["penultimate"][0], recorded["penultimate"], atol=2e-4)
    assert float(musicnn_features(reference_signal()[None]).mean()) == pytest.approx(recorded["log_mel_mean"],
                                                                                     abs=1e-5)


def test_distorted_guitar_and_drums_are_not_tagged_as_the_quiet_tags(model) -> None:
    # The synthetic power chord: the port must rank loud/electric tags above acoustic/mellow ones.
    tags = dict(zip(MSD_TAGS, musicnn.embed(model, reference_signal()[None])["tags"][0]))
    assert tags["electronic"] > tags["acoustic"] and tags["electronic"] > tags["Mellow"]


def test_embed_batches_and_shapes(model) -> None:
    rng = np.random.default_rng(0)
    segments = (0.1 * rng.normal(size=(40, SEGMENT_SAMPLES))).astype(np.float32)
    outputs = musicnn.embed(model, segments, batch=16)
    assert outputs["tags"].shape == (40, 50) and outputs["penultimate"].shape == (40, 200)
    assert outputs["pooled"].shape == (40, 1506) and ((outputs["tags"] >= 0) & (outputs["tags"] <= 1)).all()
    np.testing.assert_allclose(outputs["penultimate"][16:32], musicnn.embed(model, segments[16:32])["penultimate"],
                               atol=1e-4)


def test_every_weighted_layer_comes_from_the_checkpoint() -> None:
    built = musicnn.build_musicnn()
    weighted = {layer.name for layer in built.layers if layer.weights}
    assert weighted == set(CHECKPOINT_NAMES)
    assert built.count_params() == 792_079 and built.input_shape[1:] == MUSICNN_INPUT_SHAPE


def test_licence_notice_ships_with_the_weights() -> None:
    notice = (MODEL_DIR / MUSICNN_LICENSE).read_text()
    assert "ISC" in notice and "Permission to use, copy, modify" in notice and "Pons" in notice


def test_missing_or_foreign_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesError, match="musicnn_convert"):
        musicnn.load_musicnn(tmp_path)
    for name in ("model_cnn.json", "model_cnn.weights.h5"):  # the CNN under musicnn's names
        (tmp_path / name.replace("model_cnn", "musicnn_msd")).write_bytes((MODEL_DIR / name).read_bytes())
    with pytest.raises(ModelFilesError, match=f"{MUSICNN_JSON}"):
        musicnn.load_musicnn(tmp_path)
