"""Classify a song: load the model once, then file or upload in -> per-segment and song-level probabilities out."""
from __future__ import annotations

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
from .config import GENRES, MODEL_DIR, SEGMENT_SAMPLES
from .errors import GenreClassifierError, SilentAudioError
from .feature_extractor_cnn import mfcc_features

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


class GenreClassifier:
    """The CNN from `model_dir` (class_xls/ by default), loaded once; thread-safe for prediction."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        from .model import load_model

        self.model_dir = Path(model_dir)
        self.model = load_model(self.model_dir)
        # One song is ten small matrices: BLAS/OpenMP worker threads gain nothing there, and their spin-waiting
        # steals the cores from the ffmpeg processes decoding the windows.
        threadpool_limits(limits=1)

    def warm_up(self) -> None:
        """Run one silent segment through MFCC and model, so the first real song pays no compile cost."""
        self.segment_probabilities(mfcc_features(np.zeros((1, SEGMENT_SAMPLES), np.float32)))

    def segment_probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, 130, 13, 1) MFCC features -> (n, 10) genre probabilities (inference mode; the compiled predict
        step is ~4x faster than an eager call on this model)."""
        return np.asarray(self.model.predict_on_batch(features), dtype=np.float64)

    def classify_features(self, segments: file_split.Segments, features: np.ndarray, name: str,
                          started: float) -> Prediction:
        """Judge cut segments and their MFCC features; `started` (perf_counter) dates the elapsed time.

        Raises SilentAudioError if every segment is silent."""
        audible = ~np.asarray(segments.silent)
        if not audible.any():
            raise SilentAudioError("The audio is silent (or nearly): there is no music to judge.")
        probs = self.segment_probabilities(features)
        song = probs[audible].mean(axis=0)
        return Prediction(
            file=name,
            probabilities=dict(zip(GENRES, song.tolist())),
            segments=tuple(SegmentResult(start, end, dict(zip(GENRES, p.tolist())), bool(silent))
                           for start, end, p, silent in zip(segments.starts, segments.ends, probs, segments.silent)),
            duration_s=segments.duration_s,
            elapsed_s=time.perf_counter() - started,
        )

    def analyse(self, source: AudioSource, name: str | None = None,
                suffix: str = "") -> tuple[file_split.Segments, np.ndarray, Prediction]:
        """Classify a path, bytes or file object; also return the segments and MFCCs the model judged.

        `suffix` (".mp3") names the temporary copy of in-memory input. Decoding uses up to two ffmpeg processes.
        Raises a GenreClassifierError subclass with a user-facing message for anything it cannot judge.
        """
        segments, features, started = _featurise(source, suffix, _SONG_PROCESSES)
        return segments, features, self.classify_features(segments, features, name or _name_of(source), started)

    def classify(self, source: AudioSource, name: str | None = None, suffix: str = "") -> Prediction:
        """The Prediction of `analyse`."""
        return self.analyse(source, name, suffix)[2]

    def classify_many(self, paths: Iterable[Path], threads: int = 3) -> Iterator[Prediction | Failure]:
        """Classify many files, yielding results in input order. Decoding and MFCCs of the next few files run in
        `threads` threads while the CNN judges the current one; at most 2 * `threads` files are held at once."""
        with ThreadPoolExecutor(max_workers=threads) as pool:
            pending: deque = deque()
            for path in [*paths, None]:
                if path is not None:
                    pending.append((path, pool.submit(_featurise, path)))
                while pending and (path is None or len(pending) > 2 * threads):
                    done_path, future = pending.popleft()
                    try:
                        segments, features, started = future.result()
                        result: Prediction | Failure = self.classify_features(segments, features, str(done_path),
                                                                              started)
                    except GenreClassifierError as exc:
                        result = Failure(str(done_path), str(exc))
                    yield result


def _featurise(source: AudioSource, suffix: str = "",
               processes: int = 1) -> tuple[file_split.Segments, np.ndarray, float]:
    """Decode and cut `source`, compute its MFCCs; also return when the work started (perf_counter)."""
    started = time.perf_counter()
    segments = file_split.load_segments(source, suffix, processes)
    return segments, mfcc_features(segments.audio), started


def _name_of(source: AudioSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "upload")
