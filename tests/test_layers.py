"""The package's shape: folders are layers and imports go one way only (input -> features -> models -> engine ->
surfaces; training may use anything, nothing imports training); TensorFlow is imported only by training; the public
API loads lazily and takes audio already in memory."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import synth_song

import codeFeature
from codeFeature.errors import AudioDecodeError

PACKAGE = Path(codeFeature.__file__).resolve().parent
LAUNCHERS = {"predict", "serve", "batch", "train", "report"}  # `python -m codeFeature.<name>`: one import each
# Each layer may import its own and lower layers only.
LAYERS = {"config": 0, "errors": 0, "hashing": 0, "signals": 0, "cpu_claim": 0, "audio": 1, "feature_extractor_cnn": 2,
          "feature_extractor_musicnn": 2, "models": 3, "engine": 4, "tagging": 5, "apps": 6, "training": 7}


def _modules() -> dict[str, Path]:
    """Every module of the package ("engine.classifier": its path) but the top-level __init__ and launchers."""
    return {".".join(path.relative_to(PACKAGE).with_suffix("").parts): path for path in PACKAGE.rglob("*.py")
            if path.parent != PACKAGE or (path.stem not in LAUNCHERS and path.name != "__init__.py")}


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (at any depth: also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def test_every_module_sits_in_a_layer_and_imports_only_its_own_or_lower_layers() -> None:
    modules = _modules()
    assert len(modules) > 30 and all(name.split(".")[0] in LAYERS for name in modules)
    for name, path in modules.items():
        for imported in _imports(path):
            if imported.startswith("codeFeature.") and imported.removeprefix("codeFeature.") in modules:
                other = imported.removeprefix("codeFeature.")
                assert _layer(other) <= _layer(name), f"{name} imports {other}, a higher layer"


def test_only_training_imports_tensorflow() -> None:
    for name, path in _modules().items():
        if not name.startswith("training."):
            assert not any(i.split(".")[0] == "tensorflow" for i in _imports(path)), name


def test_import_is_cheap_and_the_api_is_documented() -> None:
    script = ("import sys, codeFeature; print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('numpy', 'keras', 'tensorflow', 'openvino', 'librosa') or m.startswith('codeFeature.')))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent).stdout.strip()
    assert loaded == "[]"
    for name in codeFeature.__all__:
        assert name in codeFeature.__doc__ and getattr(codeFeature, name) is not None
    with pytest.raises(AttributeError):
        codeFeature.nothing_here  # noqa: B018


def test_classify_takes_audio_in_memory_as_a_file_is_decoded(tmp_path: Path) -> None:
    rate = 44_100
    samples = np.stack([synth_song(8.0, rate=rate, seed=3), synth_song(8.0, rate=rate, seed=4)], axis=1) * 0.5
    path = tmp_path / "song.wav"
    soundfile.write(path, samples.astype(np.float32), rate, subtype="FLOAT")
    from_file = codeFeature.classify(path, engine="cnn")
    from_array = codeFeature.classify(samples.astype(np.float32), sr=rate, engine="cnn")
    from_channels_first = codeFeature.classify(samples.T.astype(np.float32), sr=rate, engine="cnn")
    assert from_array.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
    assert from_channels_first.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
    assert from_array.file == "array" and from_array.duration_s == pytest.approx(8.0, abs=0.01)


@pytest.mark.parametrize(("samples", "sr", "message"), [
    (np.zeros(44_100), None, "needs its sample rate"),
    (np.zeros(44_100), 12, "sample rate must be"),
    (np.array([], np.float32), 44_100, "samples as numbers"),
    (np.full(44_100, np.nan), 44_100, "NaN"),
    (np.array(["a", "b"]), 44_100, "samples as numbers"),
])
def test_bad_arrays_are_a_clear_error(samples: np.ndarray, sr: int | None, message: str) -> None:
    with pytest.raises(AudioDecodeError, match=message):
        codeFeature.classify(samples, sr=sr, engine="cnn")
