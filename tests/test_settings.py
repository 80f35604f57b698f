"""engine/settings.py: engines.json round-trips with its schema, resolves the engine to run, and refuses a missing
file, another schema and models of other features."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeFeature.config import ENGINES_JSON, MODEL_DIR
from codeFeature.engine.confidence import Thresholds
from codeFeature.engine.settings import EngineSettings, feature_settings
from codeFeature.errors import ModelFilesError
from codeFeature.models.genre_head import head_layout


def test_round_trip_and_thresholds(tmp_path: Path) -> None:
    ears = ("musicnn", "msd_vgg")
    EngineSettings(default_engine="musicnn", not_sure={"musicnn": {"min_margin": 0.3, "max_outside": 0.4}}, ears=ears,
                   head_inputs=head_layout(ears)).write(tmp_path)
    read = EngineSettings.read(tmp_path)
    assert read.default_engine == "musicnn" and read.ears == ears
    assert read.head_inputs == ("genre_map", "musicnn:tags", "musicnn:penultimate", "msd_vgg:tags",
                                "msd_vgg:penultimate")
    assert read.thresholds("musicnn") == Thresholds(0.3, 0.4) and read.thresholds("cnn") == Thresholds()


def test_the_engine_to_run_is_the_one_asked_for_else_the_default(tmp_path: Path) -> None:
    settings = EngineSettings(default_engine="musicnn")
    assert settings.engine() == "musicnn" and settings.engine("cnn") == "cnn"
    assert settings.head_ears("musicnn") == ("musicnn",) and settings.head_ears("cnn") == ()
    with pytest.raises(ValueError, match="one of cnn, musicnn, not 'svm'"):
        settings.engine("svm")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesError, match=f"No usable model folder at {tmp_path}: engines.json is missing"):
        EngineSettings.read(tmp_path)


@pytest.mark.parametrize("change,message", [
    ({"features": {**feature_settings(), "sample_rate": 44100}}, "other features"),
    ({"head_inputs": ["tags", "penultimate"]}, "other features"),  # a layout other than the ears'
    ({"ears": ["openl3"], "head_inputs": ["genre_map", "openl3:tags", "openl3:penultimate"]}, "other features"),
    ({"ears": []}, "other features"),
    ({"default_engine": "svm"}, "unknown default engine"),
    ({"surprise": 1}, "not written by this version"),
    ({"schema": 3}, "schema 3, this code reads 4"),  # written by an older training command (with the ensemble)
    ({"musicnn_weight": 0.5}, "not written by this version"),  # written by an older training command
    ({"not_sure": {"cnn": {"margin": 0.3}}}, "cannot read"),
])
def test_models_for_other_settings_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    EngineSettings(default_engine="cnn").write(tmp_path)
    data = json.loads((tmp_path / ENGINES_JSON).read_text())
    (tmp_path / ENGINES_JSON).write_text(json.dumps({**data, **change}))
    with pytest.raises(ModelFilesError, match=message):
        EngineSettings.read(tmp_path)


def test_the_shipped_models_match_this_code() -> None:
    assert EngineSettings.read(MODEL_DIR).features == feature_settings()
