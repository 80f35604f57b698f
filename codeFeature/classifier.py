"""Classify a song: load the models once, then file or upload in -> per-segment and song-level probabilities out.

Three engines judge the same ten segments:
- "cnn": the small MFCC CNN (model_cnn.*); the song is the mean of its audible segments' probabilities;
- "musicnn": the genre head (genre_head.*) over musicnn's outputs (musicnn_msd.*, pretrained on the Million Song
  Dataset: MSD tag likelihoods, which also say what the song "sounds like", and its embedding);
- "ensemble": w * musicnn + (1 - w) * cnn, w from engines.json (chosen by the training command).
Every prediction says whether the engine is sure of it (confidence.judge, margin from engines.json).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import confidence, file_split
from .audio import AudioSource
from .config import (ENGINES, GENRES, MODEL_DIR, MSD_TAGS, N_SEGMENTS, SEGMENT_SAMPLES,
                     SERVING_BACKEND)
from .engines import EngineSettings
from .errors import GenreClassifierError, SilentAudioError
from .feature_extractor_cnn import mfcc_features
from .feature_extractor_musicnn import musicnn_features
from .genre_head import head_inputs, input_dims, song_rows, split_outside
from .musicnn import OUTPUTS
from .song import audible_mean, mix, top_k

TOP_TAGS = 5  # MSD tags reported per song


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
    """A song's result: song-level probabilities (from its non-silent segments), the segments, timings, and
    whether the engine is sure (`confident`; if not, `doubt` says why in one line)."""

    file: str
    probabilities: dict[str, float]
    segments: tuple[SegmentResult, ...]
    duration_s: float
    elapsed_s: float
    engine: str = "cnn"
    tags: tuple[tuple[str, float], ...] = ()  # the song's top MSD tags, most likely first (musicnn engines)
    confident: bool = True
    doubt: str | None = None

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
            "confident": self.confident,
            "doubt": self.doubt,
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
    """The models of one engine from `model_dir` (class_xls/ by default), loaded once; thread-safe for prediction
    (one song at a time runs through the models; decoding and features run in parallel outside).

    `engine` is one of ENGINES; None means the default the training command chose (engines.json)."""

    def __init__(self, model_dir: Path = MODEL_DIR, engine: str | None = None) -> None:
        from .genre_head import load_head
        from .model import load_model
        from .musicnn import load_musicnn

        self.model_dir = Path(model_dir)
        self.settings = EngineSettings.read(self.model_dir)
        self.engine = engine or self.settings.default_engine
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {self.engine!r}")
        self.cnn = load_model(self.model_dir) if self.engine != "musicnn" else None
        self.musicnn = load_musicnn(self.model_dir) if self.engine != "cnn" else None
        self.head = None
        self._models_lock = threading.Lock()
        if self.musicnn is not None:
            self.head = load_head(self.model_dir, input_dims({n: self.musicnn.output[n].shape[-1] for n in OUTPUTS}))

    def warm_up(self) -> None:
        """Run a silent song's segments through features and models, so the first real song pays no compile
        cost."""
        self.judge(features(self.engine, np.zeros((N_SEGMENTS, SEGMENT_SAMPLES), np.float32)), [False] * N_SEGMENTS)

    def judge(self, inputs: dict[str, np.ndarray], silent: Sequence[bool]) -> Judged:
        """Model inputs of a song's segments (from `features`) and their silence flags -> the engine's Judged.

        Each engine's song comes from its audible segments (song.audible_mean; for the head, of its inputs, see
        genre_head.song_rows; genre_head.split_outside separates "none of the ten"); the ensemble is song.mix of the
        two. Inference mode throughout (the compiled predict step), one song at a time."""
        cnn = head = None
        tags = outside = None
        with self._models_lock:  # a backend's compiled model may hold one request's buffers (OpenVINO does)
            if self.cnn is not None:
                segments = _by_row(self.cnn, inputs["mfcc"])
                cnn = audible_mean(segments, silent), segments
            if self.musicnn is not None:
                outputs = _by_row(self.musicnn, inputs["log_mel"])
                genres, none_of_them = split_outside(_by_row(self.head, song_rows(head_inputs(outputs), silent)))
                head, outside = (genres[0], genres[1:]), float(none_of_them[0])
                tags = audible_mean(outputs["tags"], silent)
        if cnn is None:
            return Judged(*head, tags, outside)
        if head is None:
            return Judged(*cnn)
        weight = self.settings.musicnn_weight
        return Judged(mix(head[0], cnn[0], weight), mix(head[1], cnn[1], weight), tags, outside)

    def classify_features(self, featurised: Featurised, name: str) -> Prediction:
        """Judge a featurised song (see `featurise`), naming it `name`. Raises SilentAudioError if every segment is
        silent."""
        segments = featurised.segments
        if all(segments.silent):
            raise SilentAudioError("The audio is silent (or nearly): there is no music to judge.")
        judged = self.judge(featurised.features, segments.silent)
        probabilities = dict(zip(GENRES, judged.song.tolist()))
        verdict = confidence.judge(judged.song, self.settings.thresholds(self.engine), judged.outside, judged.tags)
        top_tags: tuple[tuple[str, float], ...] = ()
        if judged.tags is not None:
            top_tags = tuple((MSD_TAGS[i], float(judged.tags[i])) for i in top_k(judged.tags, TOP_TAGS))
        return Prediction(
            file=name,
            probabilities=probabilities,
            segments=tuple(SegmentResult(start, end, dict(zip(GENRES, p.tolist())), bool(silent))
                           for start, end, p, silent in zip(segments.starts, segments.ends, judged.segments,
                                                            segments.silent)),
            duration_s=segments.duration_s,
            elapsed_s=time.perf_counter() - featurised.started,
            engine=self.engine,
            tags=top_tags,
            confident=verdict.confident,
            doubt=confidence.explain(verdict, probabilities),
        )

    def classify(self, source: AudioSource, name: str | None = None, suffix: str = "") -> Prediction:
        """Classify a path, bytes or file object (what was judged: `featurise`, then `classify_features`).

        `suffix` (".mp3") names the temporary copy of in-memory input.
        Raises a GenreClassifierError subclass with a user-facing message for anything it cannot judge.
        """
        return self.classify_features(featurise(source, self.engine, suffix), name or _name_of(source))

    def classify_many(self, paths: Iterable[Path], threads: int = 3) -> Iterator[Prediction | Failure]:
        """Classify many files, yielding results in input order. Decoding and features of the next few files run
        in `threads` threads while the models judge the current one; at most 2 * `threads` files are held at once."""
        with ThreadPoolExecutor(max_workers=threads) as pool:
            pending: deque = deque()
            for path in [*paths, None]:
                if path is not None:
                    pending.append((path, pool.submit(featurise, path, self.engine)))
                while pending and (path is None or len(pending) > 2 * threads):
                    done_path, future = pending.popleft()
                    try:
                        result: Prediction | Failure = self.classify_features(future.result(), str(done_path))
                    except GenreClassifierError as exc:
                        result = Failure(str(done_path), str(exc))
                    yield result


@dataclass(frozen=True)
class Judged:
    """What an engine's models say of a song: `song` (genres,) and `segments` (n, genres) probabilities, the song's
    (50,) MSD tag likelihoods and its probability of being none of the ten genres (None without musicnn)."""

    song: np.ndarray
    segments: np.ndarray
    tags: np.ndarray | None = None
    outside: float | None = None


@dataclass(frozen=True)
class Featurised:
    """A song ready to judge: its segments, an engine's model inputs for them (see `features`), and when the work on
    it started (time.perf_counter(), for the elapsed time a Prediction reports)."""

    segments: file_split.Segments
    features: dict[str, np.ndarray]
    started: float


def _by_row(model, rows: np.ndarray):
    """A Keras model's outputs for `rows`, run one row at a time and stacked (float64 arrays, or a dict of them for
    a model with named outputs). One input shape whatever the song's length: the OpenVINO backend compiles a model
    per input shape, and one row's activations are a tenth of ten rows' (musicnn: ~30 MB instead of ~300 MB)."""
    outputs = [model.predict_on_batch(rows[i:i + 1]) for i in range(len(rows))]
    if isinstance(outputs[0], dict):
        return {name: np.concatenate([np.asarray(o[name], np.float64) for o in outputs]) for name in outputs[0]}
    return np.concatenate([np.asarray(o, np.float64) for o in outputs])


def prepare_serving_process() -> None:
    """Set up this process to classify songs; the programs that do call it first (CLI, page, API, batch actors,
    benchmarks). Both settings are process-wide, so the programs choose them, not the library:
    - Keras' backend is SERVING_BACKEND (OpenVINO), unless Keras was already imported here (then its backend stays:
      the outputs agree within SERVING_TOLERANCE; tests/test_classifier.py checks);
    - BLAS/OpenMP run on one thread: one song's features are small matrices, where BLAS worker threads gain nothing
      and their spin-waiting steals the cores from the ffmpeg processes decoding the windows."""
    from threadpoolctl import threadpool_limits

    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = SERVING_BACKEND
    threadpool_limits(limits=1)


def featurise(source: AudioSource, engine: str, suffix: str = "") -> Featurised:
    """Decode and cut `source` (path, bytes or file object) and compute `engine`'s model inputs; no model is needed,
    so this runs anywhere (threads, other processes). Raises AudioDecodeError or AudioTooShortError."""
    started = time.perf_counter()
    segments = file_split.load_segments(source, suffix)
    return Featurised(segments, features(engine, segments.audio), started)


def features(engine: str, audio: np.ndarray) -> dict[str, np.ndarray]:
    """(n, SEGMENT_SAMPLES) segments -> `engine`'s model inputs: {"mfcc": (n, 130, 13, 1)} for the CNN,
    {"log_mel": (n, 187, 96)} for musicnn, both for the ensemble."""
    inputs = {}
    if engine != "musicnn":
        inputs["mfcc"] = mfcc_features(audio)
    if engine != "cnn":
        inputs["log_mel"] = musicnn_features(audio)
    return inputs


def _name_of(source: AudioSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "upload")
