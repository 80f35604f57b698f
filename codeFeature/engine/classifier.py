"""Classify a song: load the models once, then file or upload in -> per-segment and song-level probabilities out.

The engines of the engine table (engine/engines.py) judge the same ten segments: one with `head` runs the genre head
(genre_head.*) over the outputs of the pretrained networks engines.json names (models/ears.py: musicnn pretrained on
the Million Song Dataset, whose MSD tag likelihoods also say what the song "sounds like", and the others the training
command chose); the other runs the small MFCC CNN (model_cnn.*). Every prediction says whether the engine is sure of
it (confidence.judge, thresholds from engines.json).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codeFeature.audio import segmenting
from codeFeature.audio.audio_io import AudioSource, wav_bytes
from codeFeature.config import (
    GENRES,
    MSD_TAGS,
    N_SEGMENTS,
    SEGMENT_SAMPLES,
)
from codeFeature.models.ears import ear, load_ear
from codeFeature.engine import confidence
from codeFeature.engine import engines as engine_table
from codeFeature.engine.model_folder import ModelFolder
from codeFeature.engine.prediction import Failure, Prediction, SegmentResult
from codeFeature.errors import AudioDecodeError, GenreClassifierError, SilentAudioError
from codeFeature.feature_extractor_cnn import mfcc_features
from codeFeature.feature_extractor_musicnn import musicnn_features
from codeFeature.models.cnn import load_model
from codeFeature.models.genre_head import head_inputs, judge_rows, load_head
from codeFeature.models.song import audible_mean, judge_segments, top_k

TOP_TAGS = 5  # MSD tags reported per song


class GenreClassifier:
    """The models of one engine, loaded once and compiled for OpenVINO (models.runtime: the fast path whatever the
    caller imported); thread-safe for prediction (one song at a time runs through the models; decoding and features
    run in parallel outside).

    `models`: a model folder's path (class_xls/ when None) or an opened ModelFolder. `engine`: a name of the engine
    table, or None for the default the training command chose. Raises ModelFilesError (unreadable folder or model
    file) or ValueError (unknown engine)."""

    def __init__(self, models: Path | str | ModelFolder | None = None, engine: str | None = None) -> None:
        folder = models if isinstance(models, ModelFolder) else ModelFolder.open(models)
        self.folder = folder
        self.model_dir = folder.path
        self.settings = folder.settings
        self.engine = folder.engine(engine)
        self.spec = engine_table.engine(self.engine)
        ears = self.settings.head_ears(self.engine)
        self.cnn = None if self.spec.head else load_model(self.model_dir)
        self.ears = {name: load_ear(name, self.model_dir) for name in ears}
        self.head = load_head(self.model_dir, ears) if self.spec.head else None
        # the MSD tags a song's message and top tags come from: the first of the head's ears that has them
        self._tag_ear = next((name for name in ears if ear(name).tags == MSD_TAGS), None)
        self._models_lock = threading.Lock()

    def warm_up(self) -> None:
        """Run a silent song's segments through features and models, so the first real song pays no compile
        cost."""
        self.judge(features(self.engine, np.zeros((N_SEGMENTS, SEGMENT_SAMPLES), np.float32)), [False] * N_SEGMENTS)

    def judge(self, inputs: dict[str, np.ndarray], silent: Sequence[bool]) -> Judged:
        """Model inputs of a song's segments (from `features`) and their silence flags -> the engine's Judged.

        Each engine's song comes from its audible segments (song.judge_segments for the CNN; genre_head.judge_rows
        for the head, which also separates "none of the ten"). The same functions judge every held-out track in
        training. The models are runtime.InferenceModels (OpenVINO), one song at a time."""
        with self._models_lock:  # one song at a time through the models: bounded memory; the cores decode the next
            if self.head is None:
                song, segments = judge_segments(self.cnn, inputs[self.spec.input], silent)
                return Judged(song=song, segments=segments)
            outputs = {name: model(inputs[self.spec.input]) for name, model in self.ears.items()}
            song, segments, outside = judge_rows(self.head, head_inputs(outputs, tuple(self.ears)), silent)
            tags = audible_mean(outputs[self._tag_ear]["tags"], silent) if self._tag_ear is not None else None
        return Judged(song=song, segments=segments, tags=tags, outside=outside)

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

    def featurise(self, source: AudioSource, suffix: str = "") -> Featurised:
        """What this engine judges of `source` (path, bytes or file object): its segments and model inputs, without
        running the models (see `featurise` below). Raises AudioDecodeError or AudioTooShortError."""
        return featurise(source, self.engine, suffix)

    def classify(self, source: AudioSource | np.ndarray, name: str | None = None, suffix: str = "",
                 sr: int | None = None) -> Prediction:
        """Classify a path, bytes, a file object, or audio already in memory (a NumPy array of samples with its rate
        `sr`; see audio_io.wav_bytes). What was judged: `featurise`, then `classify_features`.

        `suffix` (".mp3") names the temporary copy of in-memory input.
        Raises a GenreClassifierError subclass with a user-facing message for anything it cannot judge.
        """
        if isinstance(source, np.ndarray) or sr is not None:
            if sr is None:
                raise AudioDecodeError("Audio given as an array needs its sample rate (sr=...).")
            source, suffix, name = wav_bytes(source, sr), ".wav", name or "array"
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


@dataclass(frozen=True, kw_only=True)
class Judged:
    """What an engine's models say of a song: `song` (genres,) and `segments` (n, genres) probabilities, the song's
    (50,) MSD tag likelihoods (None without a network that has them) and its probability of being none of the ten
    genres (None without the genre head)."""

    song: np.ndarray
    segments: np.ndarray
    tags: np.ndarray | None = None
    outside: float | None = None


@dataclass(frozen=True)
class Featurised:
    """A song ready to judge: its segments, an engine's model inputs for them (see `features`), and when the work on
    it started (time.perf_counter(), for the elapsed time a Prediction reports)."""

    segments: segmenting.Segments
    features: dict[str, np.ndarray]
    started: float


def featurise(source: AudioSource, engine: str, suffix: str = "") -> Featurised:
    """Decode and cut `source` (path, bytes or file object) and compute `engine`'s model inputs; no model is needed,
    so this runs anywhere (threads, other processes). Raises AudioDecodeError or AudioTooShortError."""
    started = time.perf_counter()
    segments = segmenting.load_segments(source, suffix)
    return Featurised(segments, features(engine, segments.audio), started)


INPUTS = {engine_table.MFCC: mfcc_features, engine_table.LOG_MEL: musicnn_features}  # the input an engine names


def features(engine: str, audio: np.ndarray) -> dict[str, np.ndarray]:
    """(n, SEGMENT_SAMPLES) segments -> `engine`'s model input, as the engine table names it: {"mfcc": (n, 130, 13,
    1)} or {"log_mel": (n, 187, 96)}."""
    kind = engine_table.engine(engine).input
    return {kind: INPUTS[kind](audio)}


def _name_of(source: AudioSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "upload")
