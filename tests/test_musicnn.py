"""models/ears.py, musicnn.py, vgg.py / training/musicnn_convert.py: every shipped Keras port reproduces an
independent float64 computation from its original checkpoint (tests/musicnn_reference.py), every layer with weights
is mapped, and loading fails clearly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from musicnn_reference import RECORD, reference_signal

from codeFeature.config import (
    EARS,
    MODEL_DIR,
    MSD_TAGS,
    MUSICNN_INPUT_SHAPE,
    MUSICNN_JSON,
    MUSICNN_LICENSE,
    SEGMENT_SAMPLES,
)
from codeFeature.errors import ModelFilesError
from codeFeature.feature_extractor_musicnn import musicnn_features
from codeFeature.models import musicnn, vgg
from codeFeature.models.ears import count_macs, ear, load_ear
from codeFeature.training.musicnn_convert import CHECKPOINT_NAMES, checkpoint_names


@pytest.fixture(scope="module")
def model():
    return load_ear("musicnn", MODEL_DIR)


@pytest.mark.parametrize("name", EARS)
def test_outputs_match_the_recorded_reference(name: str) -> None:
    recorded = json.loads(RECORD.read_text())
    outputs = load_ear(name, MODEL_DIR)(musicnn_features(reference_signal()[None]))
    assert set(outputs) == set(musicnn.OUTPUTS if ear(name).builder is musicnn.build_musicnn else vgg.OUTPUTS)
    np.testing.assert_allclose(outputs["tags"][0], recorded["ears"][name]["tags"], atol=2e-5)
    np.testing.assert_allclose(outputs["penultimate"][0], recorded["ears"][name]["penultimate"], atol=2e-4)
    assert float(musicnn_features(reference_signal()[None]).mean()) == pytest.approx(recorded["log_mel_mean"],
                                                                                     abs=1e-5)


@pytest.mark.parametrize("name", EARS)
def test_every_ear_is_what_its_record_says(name: str) -> None:
    spec = ear(name)
    built = spec.build()
    assert {layer.name for layer in built.layers if layer.weights} == set(checkpoint_names(spec))
    assert built.output["tags"].shape[-1] == len(spec.tags)
    assert built.output["penultimate"].shape[-1] == spec.embedding
    assert count_macs(built) == spec.macs
    assert all(tag in spec.tags for tags in spec.genre_map.values() for tag in tags)


def test_distorted_guitar_and_drums_are_not_tagged_as_the_quiet_tags(model) -> None:
    # The synthetic power chord: the port must rank loud/electric tags above acoustic/mellow ones.
    tags = dict(zip(MSD_TAGS, model(musicnn_features(reference_signal()[None]))["tags"][0]))
    assert tags["electronic"] > tags["acoustic"] and tags["electronic"] > tags["Mellow"]


def test_outputs_are_named_shaped_and_row_by_row(model) -> None:
    rng = np.random.default_rng(0)
    patches = musicnn_features((0.1 * rng.normal(size=(20, SEGMENT_SAMPLES))).astype(np.float32))
    outputs = model(patches)
    assert outputs["tags"].shape == (20, 50) and outputs["penultimate"].shape == (20, 200)
    assert outputs["pooled"].shape == (20, 1506) and ((outputs["tags"] >= 0) & (outputs["tags"] <= 1)).all()
    np.testing.assert_allclose(outputs["penultimate"][8:12], model(patches[8:12])["penultimate"], atol=1e-6)


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
        load_ear("musicnn", tmp_path)
    for name in ("model_cnn.json", "model_cnn.weights.h5"):  # the CNN under musicnn's names
        (tmp_path / name.replace("model_cnn", "musicnn_msd")).write_bytes((MODEL_DIR / name).read_bytes())
    with pytest.raises(ModelFilesError, match=f"{MUSICNN_JSON}"):
        load_ear("musicnn", tmp_path)
    for name in ("musicnn_msd.json", "musicnn_msd.weights.h5"):  # musicnn under the VGG's names
        (tmp_path / name.replace("musicnn_msd", "vgg_msd")).write_bytes((MODEL_DIR / name).read_bytes())
    with pytest.raises(ModelFilesError, match="vgg_msd.json"):
        load_ear("msd_vgg", tmp_path)
    with pytest.raises(ModelFilesError, match="Unknown pretrained network"):
        load_ear("openl3", tmp_path)
