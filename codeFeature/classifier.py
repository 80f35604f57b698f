"""Classify a song: load the models once, then file or upload in -> per-segment and song-level probabilities out.

Three engines judge the same ten segments:
- "cnn": the small MFCC CNN (model_cnn.*), trained on GTZAN only;
- "musicnn": the genre head (genre_head.*) over musicnn's embedding (musicnn_msd.*, pretrained on the Million
  Song Dataset), which also gives the MSD tags ("sounds like");
- "ensemble": w * musicnn + (1 - w) * cnn per segment, w from ensemble.json (chosen by the training command).
"""
from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from . import file_split
from .audio import AudioSource
from .config import ENGINES, ENSEMBLE_JSON, GENRES, HEAD_INPUT, MODEL_DIR, MSD_TAGS, N_SEGMENTS, SEGMENT_SAMPLES
from .errors import GenreClassifierError, ModelFilesError, SilentAudioError
from .feature_extractor_cnn import mfcc_features
from .feature_extractor_musicnn import musicnn_features

TOP_TAGS = 5  # MSD tags reported per song

# ffmpeg processes decoding one song's windows at once (classify_many runs songs side by side instead).
_SONG_PROCESSES = max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class SegmentResult:
    """One 3-s segment: its time span (s), genre probabilities, and whether it was silent (left out of the mean)."""

    start: float
    end: float
    probabilities: dict[str, float]
    silent: bool = False

    @property
    def genre(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


@dataclass(frozen=True)
class Prediction:
    """A song's result: song-level probabilities (mean of its non-silent segments), the segments, timings."""

    file: str
    probabilities: dict[str, float]
    segments: tuple[SegmentResult, ...]
    duration_s: float
    elapsed_s: float
    engine: str = "cnn"
    tags: tuple[tuple[str, float], ...] = ()  # the song's top MSD tags, most likely first (musicnn engines)

    @property
    def genre(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    def ranked(self) -> list[tuple[str, float]]:
        """(genre, probability) pairs, most likely first."""
        return sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)

    def to_dict(self) -> dict:
        """The CLI's --json object."""
        return {
            "file": self.file,
            "genre": self.genre,
            "probabilities": _rounded(self.probabilities),
            "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "silent": s.silent,
                          "probabilities": _rounded(s.probabilities)} for s in self.segments],
            "duration_s": round(self.duration_s, 3),
            "elapsed_s": round(self.elapsed_s, 4),
            "engine": self.engine,
            "tags": {tag: round(p, 4) for tag, p in self.tags},
        }


def _rounded(probabilities: dict[str, float]) -> dict[str, float]:
    return {genre: round(p, 4) for genre, p in probabilities.items()}


@dataclass(frozen=True)
class Failure:
    """An input that could not be classified, with the one-line reason."""

    file: str
    error: str

    def to_dict(self) -> dict:
        return {"file": self.file, "error": self.error}


def engine_settings(model_dir: Path = MODEL_DIR) -> dict:
    """ensemble.json from `model_dir` ({"default_engine", "musicnn_weight", ...}); for a folder without it (a CNN
    trained alone), the CNN as default."""
    path = Path(model_dir) / ENSEMBLE_JSON
    settings = {"default_engine": "cnn", "musicnn_weight": 0.5}
    if path.is_file():
        try:
            settings.update(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ModelFilesError(f"{path} is not a settings file written by the training command: {exc}") from exc
    return settings


class GenreClassifier:
    """The models of one engine from `model_dir` (class_xls/ by default), loaded once; thread-safe for prediction.

    `engine` is one of ENGINES; None means the default the training command chose (ensemble.json)."""

    def __init__(self, model_dir: Path = MODEL_DIR, engine: str | None = None) -> None:
        from .genre_head import load_head
        from .model import load_model
        from .musicnn import load_musicnn

        self.model_dir = Path(model_dir)
        settings = engine_settings(self.model_dir)
        self.engine = engine or settings["default_engine"]
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {self.engine!r}")
        self.musicnn_weight = float(settings["musicnn_weight"])
        self.cnn = load_model(self.model_dir) if self.engine != "musicnn" else None
        self.musicnn = load_musicnn(self.model_dir) if self.engine != "cnn" else None
        self.head = load_head(self.model_dir) if self.engine != "cnn" else None
        # One song is ten small matrices: BLAS/OpenMP worker threads gain nothing there, and their spin-waiting
        # steals the cores from the ffmpeg processes decoding the windows.
        threadpool_limits(limits=1)

    def warm_up(self) -> None:
        """Run a silent song's segments through features and models, so the first real song pays no compile
        cost."""
        self.segment_probabilities(self.features(np.zeros((N_SEGMENTS, SEGMENT_SAMPLES), np.float32)))

    def features(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """(n, SEGMENT_SAMPLES) segments -> this engine's model inputs: {"mfcc": (n, 130, 13, 1)} for the CNN,
        {"log_mel": (n, 187, 96)} for musicnn, both for the ensemble."""
        inputs = {}
        if self.cnn is not None:
            inputs["mfcc"] = mfcc_features(audio)
        if self.musicnn is not None:
            inputs["log_mel"] = musicnn_features(audio)
        return inputs

    def segment_probabilities(self, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Model inputs from `features` -> ((n, 10) genre probabilities, (n, 50) MSD tag likelihoods or None).

        Inference mode throughout; the compiled predict step is ~4x faster than an eager call on these models."""
        cnn = tags = musicnn = None
        if self.cnn is not None:
            cnn = np.asarray(self.cnn.predict_on_batch(features["mfcc"]), dtype=np.float64)
        if self.musicnn is not None:
            outputs = self.musicnn.predict_on_batch(features["log_mel"])
            tags = np.asarray(outputs["tags"], dtype=np.float64)
            musicnn = np.asarray(self.head.predict_on_batch(outputs[HEAD_INPUT]), dtype=np.float64)
        if cnn is None:
            return musicnn, tags
        if musicnn is None:
            return cnn, tags
        return self.musicnn_weight * musicnn + (1 - self.musicnn_weight) * cnn, tags

    def classify_features(self, segments: file_split.Segments, features: dict[str, np.ndarray], name: str,
                          started: float) -> Prediction:
        """Judge cut segments and their model inputs; `started` (perf_counter) dates the elapsed time.

        Raises SilentAudioError if every segment is silent."""
        audible = ~np.asarray(segments.silent)
        if not audible.any():
            raise SilentAudioError("The audio is silent (or nearly): there is no music to judge.")
        probs, tags = self.segment_probabilities(features)
        song = probs[audible].mean(axis=0)
        top_tags: tuple[tuple[str, float], ...] = ()
        if tags is not None:
            song_tags = tags[audible].mean(axis=0)
            top_tags = tuple((MSD_TAGS[i], float(song_tags[i])) for i in np.argsort(-song_tags)[:TOP_TAGS])
        return Prediction(
            file=name,
            probabilities=dict(zip(GENRES, song.tolist())),
            segments=tuple(SegmentResult(start, end, dict(zip(GENRES, p.tolist())), bool(silent))
                           for start, end, p, silent in zip(segments.starts, segments.ends, probs, segments.silent)),
            duration_s=segments.duration_s,
            elapsed_s=time.perf_counter() - started,
            engine=self.engine,
            tags=top_tags,
        )

    def analyse(self, source: AudioSource, name: str | None = None,
                suffix: str = "") -> tuple[file_split.Segments, dict[str, np.ndarray], Prediction]:
        """Classify a path, bytes or file object; also return the segments and model inputs that were judged.

        `suffix` (".mp3") names the temporary copy of in-memory input. Decoding uses up to two ffmpeg processes.
        Raises a GenreClassifierError subclass with a user-facing message for anything it cannot judge.
        """
        segments, features, started = self._featurise(source, suffix, _SONG_PROCESSES)
        return segments, features, self.classify_features(segments, features, name or _name_of(source), started)

    def classify(self, source: AudioSource, name: str | None = None, suffix: str = "") -> Prediction:
        """The Prediction of `analyse`."""
        return self.analyse(source, name, suffix)[2]

    def classify_many(self, paths: Iterable[Path], threads: int = 3) -> Iterator[Prediction | Failure]:
        """Classify many files, yielding results in input order. Decoding and features of the next few files run
        in `threads` threads while the models judge the current one; at most 2 * `threads` files are held at once."""
        with ThreadPoolExecutor(max_workers=threads) as pool:
            pending: deque = deque()
            for path in [*paths, None]:
                if path is not None:
                    pending.append((path, pool.submit(self._featurise, path)))
                while pending and (path is None or len(pending) > 2 * threads):
                    done_path, future = pending.popleft()
                    try:
                        segments, features, started = future.result()
                        result: Prediction | Failure = self.classify_features(segments, features, str(done_path),
                                                                              started)
                    except GenreClassifierError as exc:
                        result = Failure(str(done_path), str(exc))
                    yield result

    def _featurise(self, source: AudioSource, suffix: str = "",
                   processes: int = 1) -> tuple[file_split.Segments, dict[str, np.ndarray], float]:
        """Decode and cut `source`, compute the model inputs; also return when the work started (perf_counter)."""
        started = time.perf_counter()
        segments = file_split.load_segments(source, suffix, processes)
        return segments, self.features(segments.audio), started


def _name_of(source: AudioSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "upload")
