"""classifiers.py: one loaded classifier per engine, the default one loaded in the background, shared per folder."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from codeFeature import classifiers
from codeFeature.classifiers import FALLBACK_ENGINE, Classifiers, default_engine
from codeFeature.config import ENGINES_JSON, MODEL_DIR, MODEL_JSON
from codeFeature.engines import EngineSettings
from codeFeature.errors import ModelFilesError


def _wait(loading: Classifiers, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not (loading.ready or loading.error) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_start_loads_the_default_once_and_get_reuses_it() -> None:
    loading = Classifiers(MODEL_DIR, "cnn")
    assert not loading.ready and not loading.loaded("cnn")
    loading.start()
    loading.start()  # a second start does nothing
    _wait(loading)
    assert loading.ready and loading.error is None and loading.loaded("cnn") and not loading.loaded("musicnn")
    first = loading.get("cnn")
    assert loading.get("cnn") is first and first.engine == "cnn"


def test_a_default_that_cannot_load_says_why(tmp_path: Path) -> None:
    shutil.copytree(MODEL_DIR, tmp_path / "models")
    (tmp_path / "models" / MODEL_JSON).unlink()
    loading = Classifiers(tmp_path / "models", "cnn")
    loading.start()
    _wait(loading)
    assert not loading.ready and MODEL_JSON in loading.error
    with pytest.raises(ModelFilesError):
        loading.get("cnn")


def test_shared_is_one_per_folder_with_the_trained_default(tmp_path: Path) -> None:
    assert classifiers.shared(MODEL_DIR) is classifiers.shared(MODEL_DIR)
    assert classifiers.shared(MODEL_DIR).default == EngineSettings.read(MODEL_DIR).default_engine
    assert classifiers.shared(tmp_path) is not classifiers.shared(MODEL_DIR)


def test_default_engine_falls_back_when_engines_json_is_unreadable(tmp_path: Path) -> None:
    assert default_engine(tmp_path) == FALLBACK_ENGINE
    (tmp_path / ENGINES_JSON).write_text("{not json")
    assert default_engine(tmp_path) == FALLBACK_ENGINE
