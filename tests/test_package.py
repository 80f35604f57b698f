"""pyproject.toml: the project builds as one package holding the code (and the beets plugin) and, as its package data,
the shipped models, which an installed copy finds on its own; its console scripts name real commands."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import import_module
from pathlib import Path

import pytest

from codeFeature.config import MODEL_DIR
from codeFeature.engine.engines import ENGINES

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the project's files (a build writes build/ and *.egg-info beside its source)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    for folder in ("codeFeature", "class_xls", "beetsplug"):
        shutil.copytree(PROJECT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "-w", str(out), "-q"], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_the_code_and_the_models(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    code = {f"codeFeature/{p.relative_to(PROJECT / 'codeFeature')}" for p in (PROJECT / "codeFeature").rglob("*.py")}
    models = {f"codeFeature/class_xls/{p.name}" for p in MODEL_DIR.iterdir() if p.is_file()}
    assert code <= names and models <= names and "beetsplug/genreclassify.py" in names  # the beets plugin
    assert not any(name.startswith(("class_xls/", "tests/", "genres_original/", "benchmarks/")) for name in names)


def test_an_installed_copy_finds_its_models(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", str(wheel), "--no-deps", "--target", str(target), "-q"],
                   check=True, capture_output=True, timeout=300)
    probe = ("from codeFeature.config import MODEL_DIR; from codeFeature.engine.settings import EngineSettings; "
             "print(MODEL_DIR); print(EngineSettings.read(MODEL_DIR).default_engine)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                            capture_output=True, text=True, timeout=120)
    model_dir, engine = result.stdout.split()
    assert Path(model_dir) == target / "codeFeature" / "class_xls", result.stderr
    assert engine in ENGINES, result.stderr


def test_console_scripts_name_real_commands() -> None:
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"genre-predict", "genre-serve", "genre-batch", "genre-train", "genre-report"}
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(import_module(module), function))
