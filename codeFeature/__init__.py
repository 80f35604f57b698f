"""codeFeature: the genre of a song, in ten genres, per 3-s segment and for the whole song.

Public API (loaded lazily: `import codeFeature` imports none of the audio or model code until a name is used):

    import codeFeature

    prediction = codeFeature.classify("song.mp3")           # a path, bytes, a file object...
    prediction = codeFeature.classify(samples, sr=44100)    # ...or audio in memory: (n,) or (n, channels) array
    prediction.genre, prediction.ranked()[:3], prediction.confident, prediction.doubt
    [segment.genre for segment in prediction.segments]       # how the genre moves through the song

    classifier = codeFeature.GenreClassifier(engine="cnn")   # load once, classify many
    for result in classifier.classify_many(paths): ...            # Prediction or Failure, in input order

- `classify(source, sr=None, engine=None)`: one song with the shared classifier of `engine` (None: the default
  engine the training command measured best on real songs).
- `GenreClassifier(models=None, engine=None)`: an engine's models from a model folder (class_xls/ by default),
  compiled for OpenVINO; `.classify(source, sr=None)`, `.classify_many(paths)`.
- `Prediction`, `SegmentResult`, `Failure`: the typed results (`.to_dict()` is the JSON the CLI and API give).
  `GenreClassifier.featurise(source)` gives the `Featurised` song (its segments and model inputs) a prediction
  judged, for a look inside.
- `shared_classifiers(models=None)`: a server's `Classifiers`, one loaded classifier per engine, the default one
  loading in the background (the page and the API use it).
- `ModelFolder.open(path=None)`: a model folder's settings and its `ModelCard` (what each engine measured).
- `GENRES`, `ENGINES`, `AUDIO_EXTENSIONS`: the ten genres, the engine names, the file types it reads; the other
  constants (sample rate, segment length, MFCC settings) are in `codeFeature.config`.
- Errors, all `GenreClassifierError` with a one-line message for the person who gave the file:
  `AudioDecodeError`, `AudioTooShortError`, `SilentAudioError`, `ModelFilesError`.

Layers, each importing only those above it: config/errors -> audio/ (decode, segment) -> feature_extractor_*.py
(MFCCs, log-mels) -> models/ (networks, model files, runtime) -> engine/ (classifier, model folder, results) ->
tagging/ (batch job, tags) -> apps/ (CLI, API, batch command, report). training/ may use all of them; nothing
imports it.
"""
from __future__ import annotations

import functools
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from codeFeature.audio.audio_io import AudioSource
    from codeFeature.engine.prediction import Prediction

_EXPORTS = {
    "GenreClassifier": "codeFeature.engine.classifier",
    "Prediction": "codeFeature.engine.prediction",
    "SegmentResult": "codeFeature.engine.prediction",
    "Failure": "codeFeature.engine.prediction",
    "Featurised": "codeFeature.engine.classifier",
    "Classifiers": "codeFeature.engine.registry",
    "shared_classifiers": "codeFeature.engine.registry",
    "ModelFolder": "codeFeature.engine.model_folder",
    "ModelCard": "codeFeature.engine.card",
    "GENRES": "codeFeature.config",
    "ENGINES": "codeFeature.engine.engines",
    "AUDIO_EXTENSIONS": "codeFeature.config",
    "GenreClassifierError": "codeFeature.errors",
    "AudioDecodeError": "codeFeature.errors",
    "AudioTooShortError": "codeFeature.errors",
    "SilentAudioError": "codeFeature.errors",
    "ModelFilesError": "codeFeature.errors",
}

__all__ = ["classify", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'codeFeature' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def classify(source: AudioSource | np.ndarray | str | Path, sr: int | None = None,
             engine: str | None = None) -> Prediction:
    """The genre of one song: a path, bytes, a file object, or a NumPy array of samples with its rate `sr`. Uses
    this process's classifier of `engine` (None: the default engine), loaded on the first call. Raises a
    GenreClassifierError subclass with a user-facing message for anything it cannot judge."""
    return _classifier(engine).classify(source, sr=sr)


@functools.cache
def _classifier(engine: str | None):
    from codeFeature.engine.classifier import GenreClassifier

    return GenreClassifier(engine=engine)
