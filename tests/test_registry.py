"""engine/registry.py: one loaded classifier per engine, the default one loaded in the background, shared per folder;
an unreadable folder is one clear error wherever it is opened."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from codeFeature.config import ENGINES_JSON, MODEL_DIR, MODEL_JSON
from codeFeature.engine import registry
from codeFeature.engine.model_folder import ModelFolder
from codeFeature.engine.registry import Classifiers
from codeFeature.engine.settings import SCHEMA, EngineSettings
from codeFeature.errors import ModelFilesError


def _wait(loading: Classifiers, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not (loading.ready or loading.error) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_start_loads_the_default_once_and_get_reuses_it() -> None:
    loading = Classifiers(ModelFolder.open(MODEL_DIR), "cnn")
    assert not loading.ready and not loading.loaded("cnn")
    loading.start()
    loading.start()  # a second start does nothing
    _wait(loading)
    assert loading.ready and loading.error is None and loading.loaded("cnn") and not loading.loaded("musicnn")
    first = loading.get("cnn")
    assert loading.get("cnn") is first and first.engine == "cnn"


def test_a_default_that_cannot_load_says_why(tmp_path: Path) -> None:
    shutil.copytree(MODEL_DIR, tmp_path / "models")
    (tmp_path / "models" / MODEL_JSON).write_text("{damaged")  # the folder opens; the model does not load
    loading = Classifiers(ModelFolder.open(tmp_path / "models"), "cnn")
    loading.start()
    _wait(loading)
    assert not loading.ready and MODEL_JSON in loading.error
    with pytest.raises(ModelFilesError):
        loading.get("cnn")


def test_shared_is_one_per_folder_with_the_trained_default(tmp_path: Path) -> None:
    assert registry.shared_classifiers(MODEL_DIR) is registry.shared_classifiers(MODEL_DIR)
    assert registry.shared_classifiers(MODEL_DIR).default == EngineSettings.read(MODEL_DIR).default_engine
    shutil.copytree(MODEL_DIR, tmp_path / "models")
    assert registry.shared_classifiers(tmp_path / "models") is not registry.shared_classifiers(MODEL_DIR)


@pytest.mark.parametrize("damage", ["no folder", "no engines.json", "not json", "older schema"])
def test_an_unreadable_folder_is_one_clear_error(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "models"
    if damage != "no folder":
        shutil.copytree(MODEL_DIR, folder)
        settings = folder / ENGINES_JSON
        if damage == "no engines.json":
            settings.unlink()
        elif damage == "not json":
            settings.write_text("{not json")
        else:
            settings.write_text(settings.read_text().replace(f'"schema": {SCHEMA}', f'"schema": {SCHEMA - 1}'))
    with pytest.raises(ModelFilesError, match=f"No usable model folder at {folder}: engines.json is missing or was "
                                              f"not written by this version") as raised:
        registry.shared_classifiers(folder)
    with pytest.raises(ModelFilesError) as again:
        ModelFolder.open(folder)
    assert str(again.value) == str(raised.value)
