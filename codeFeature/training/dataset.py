"""Find the tracks of a GTZAN-layout folder and compute (and cache) their training features.

Layouts read:
- `DIR/<genre>/<genre>.000NN.<ext>` (a plain `genres_original/`), or
- `DIR/genres_original/...` plus, if present, `DIR/excerpts_2to3s/<genre>/...` (short excerpts of the same tracks)
  and `DIR/splits/{train,valid}_filtered.txt` (the artist-filtered split), as in `shared/gtzan`.
A track is one GTZAN clip id (`blues.00012`): its full clip and its excerpt belong to it together, so no split
ever puts parts of one track on both sides.

Per track the cache holds, for every augmentation variant (see `augment.VARIANTS`), the features of
- `eval`: the segments the app would judge (ten for a full clip, cut exactly as serving cuts them; one looped
  excerpt for a track that only has an excerpt), and
- `crops`: random 3-s crops at any offset, for training;
as MFCCs in one file, and as each pretrained network's outputs (`eval_<output>`, `crops_<output>`) in one file per
network (models/ears.py), each keyed on the files' contents and every setting that shapes it. `fill_cache` computes
every missing file of a track in one pass: the track is decoded and augmented once (`variant_audio`).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from codeFeature.audio import audio_io, segmenting
from codeFeature.config import (
    AUDIO_EXTENSIONS,
    EARS,
    GENRES,
    HOP_LENGTH,
    MODEL_DIR,
    N_FFT,
    N_MELS,
    N_MFCC,
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
)
from codeFeature.cpu_claim import claim_for_life
from codeFeature.errors import DatasetError, GenreClassifierError
from codeFeature.feature_extractor_cnn import mfcc_features
from codeFeature.feature_extractor_musicnn import musicnn_features
from codeFeature.hashing import file_hash
from codeFeature.models.ears import ear, load_ear
from codeFeature.models.runtime import InferenceModel
from codeFeature.training import augment

CLIPS_DIR, EXCERPTS_DIR, SPLITS_DIR = "genres_original", "excerpts_2to3s", "splits"
CLIP_CROPS, EXCERPT_CROPS = 12, 3  # random crops per variant
_FEATURE_VERSION = 2  # bump when the cached MFCC arrays change meaning
_MUSICNN_VERSION = 3  # ... the cached outputs of a pretrained network


@dataclass(frozen=True)
class Track:
    """One track: its id, genre, full clip and/or short excerpt, its artist-filtered split (GTZAN), its artist,
    whether its label is borderline (real songs) and where it comes from (real songs: the repository, `source_repo`;
    None for GTZAN) where known. An outside song's `genre` is not one of GENRES (realsongs.discover_outside) and it
    has no `label`."""

    track_id: str
    genre: str
    clip: Path | None = None
    excerpt: Path | None = None
    split: str | None = None
    artist: str | None = None
    doubt: bool = False  # a real song whose label is borderline (realsongs' `doubt` column)
    source: str | None = None

    @property
    def label(self) -> int:
        return GENRES.index(self.genre)


@dataclass(frozen=True)
class TrackFeatures:
    """Cached features of one track: `eval` (variants, segments, ...) model inputs of the judged segments, `crops`
    (variants, crops, ...) of random crops, `silent` (variants, segments) bool: the judged segments serving would
    leave out of the song's result."""

    eval: np.ndarray
    crops: np.ndarray
    silent: np.ndarray


def discover(data_dir: Path) -> list[Track]:
    """All tracks under `data_dir` (see module doc), sorted by id. Raises DatasetError if none are found."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"No such folder: {data_dir}")
    clips_dir = data_dir / CLIPS_DIR if (data_dir / CLIPS_DIR).is_dir() else data_dir
    clips = _audio_files(clips_dir)
    excerpts = _audio_files(data_dir / EXCERPTS_DIR)
    splits = _read_splits(data_dir / SPLITS_DIR)
    tracks = [Track(track_id, genre, clips.get(track_id, (None, None))[1], excerpts.get(track_id, (None, None))[1],
                    splits.get(track_id))
              for track_id, genre in sorted({key: value[0] for key, value in {**excerpts, **clips}.items()}.items())]
    if not tracks:
        raise DatasetError(f"No audio found in {clips_dir}/<genre>/ for any of: {', '.join(GENRES)}.")
    return tracks


def _audio_files(folder: Path) -> dict[str, tuple[str, Path]]:
    found: dict[str, tuple[str, Path]] = {}
    for genre in GENRES:
        genre_dir = folder / genre
        if not genre_dir.is_dir():
            continue
        for path in sorted(genre_dir.iterdir()):
            if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
                found[_track_id(genre, path)] = (genre, path)
    return found


def _track_id(genre: str, path: Path) -> str:
    stem = path.stem
    return stem if stem.startswith(f"{genre}.") else f"{genre}.{stem}"


def _read_splits(folder: Path) -> dict[str, str]:
    splits: dict[str, str] = {}
    for name in ("train", "valid"):
        listing = folder / f"{name}_filtered.txt"
        if listing.is_file():
            for line in listing.read_text().split():
                genre, _, filename = line.partition("/")
                if genre in GENRES:
                    splits[_track_id(genre, Path(filename))] = name
    return splits


FEATURE_KINDS = ("mfcc", *EARS)  # the CNN's MFCC matrices; each pretrained network's outputs (models/ears.py)


def load_features(tracks: list[Track], cache_dir: Path, seed: int = 0, workers: int | None = None, log=print,
                  kind: str = "mfcc", output: str = "penultimate") -> tuple[list[Track], list[TrackFeatures]]:
    """Features of `tracks`, computed in `workers` processes where not cached in `cache_dir` (`fill_cache`).

    `kind` "mfcc" gives (variants, segments, 130, 13, 1) MFCCs; a network of config.EARS gives (variants, segments,
    dims) of its output named `output`. Returns the tracks that could be read and their features, in order; a file that
    cannot be decoded (GTZAN has a corrupt one in some copies) is logged with its reason and left out."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"kind must be one of {FEATURE_KINDS}")
    kept, paths = fill_cache(tracks, cache_dir, seed, workers, log, (kind,))
    names = ("eval", "crops") if kind == "mfcc" else (f"eval_{output}", f"crops_{output}")
    features = []
    for path in paths[kind]:
        with np.load(path) as stored:
            features.append(TrackFeatures(stored[names[0]], stored[names[1]], stored["silent"]))
    return kept, features


def cache_path(track: Track, cache_dir: Path, seed: int, kind: str) -> Path:
    """Where `track`'s features of `kind` (FEATURE_KINDS) are cached in `cache_dir`."""
    tag = "" if kind == "mfcc" else f"{kind}-"
    return Path(cache_dir) / f"{track.track_id}-{tag}{_cache_key(track, seed, kind)}.npz"


def fill_cache(tracks: list[Track], cache_dir: Path, seed: int, workers: int | None, log,
               kinds: tuple[str, ...] = FEATURE_KINDS) -> tuple[list[Track], dict[str, list[Path]]]:
    """Compute, in `workers` processes, every cache file of `kinds` (FEATURE_KINDS) that `tracks` lack: each track
    with a missing file is decoded and augmented once (`variant_audio`), and that one pass fills all of its missing
    kinds. Returns the tracks that could be read and, per kind, their files in order (a track that cannot be decoded
    is logged with its reason and left out)."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    paths = {kind: [cache_path(track, cache_dir, seed, kind) for track in tracks] for kind in kinds}
    todo = [(track, {kind: paths[kind][i] for kind in kinds if not paths[kind][i].is_file()}, seed)
            for i, track in enumerate(tracks)]
    todo = [job for job in todo if job[1]]
    failed: set[str] = set()
    if todo:
        missing = sorted({kind for _, wanted, _ in todo for kind in wanted}, key=FEATURE_KINDS.index)
        log(f"computing {', '.join(missing)} features for {len(todo)} of {len(tracks)} tracks, one decode each "
            f"(cache: {cache_dir})")
        # Spawned, not forked: the caller may already run TensorFlow, and a fork of it can hang.
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                 mp_context=multiprocessing.get_context("spawn"), initializer=claim_for_life) as pool:
            for done, ((track, *_), error) in enumerate(zip(todo, pool.map(_compute_and_store, todo, chunksize=2)),
                                                        start=1):
                if error is not None:
                    failed.add(track.track_id)
                    log(f"  skipped {track.track_id}: {error}")
                if done % 50 == 0 or done == len(todo):
                    log(f"  {done}/{len(todo)}")
    keep = [i for i, track in enumerate(tracks) if track.track_id not in failed]
    return [tracks[i] for i in keep], {kind: [paths[kind][i] for i in keep] for kind in kinds}


def _cache_key(track: Track, seed: int, kind: str = "mfcc") -> str:
    """The cache file's key: every setting that shapes `kind`'s features, and the contents of the files read."""
    parts: list[object]
    if kind != "mfcc":
        parts = [kind, _MUSICNN_VERSION, seed, SAMPLE_RATE, CLIP_CROPS, EXCERPT_CROPS, list(augment.VARIANTS),
                 _file_digest(ear(kind).files(MODEL_DIR)[1])]
    else:
        parts = [_FEATURE_VERSION, seed, SAMPLE_RATE, N_MFCC, N_FFT, HOP_LENGTH, N_MELS, CLIP_CROPS, EXCERPT_CROPS,
                 list(augment.VARIANTS)]
    parts += [_file_digest(path) for path in (track.clip, track.excerpt) if path is not None]
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:12]


def _file_digest(path: Path) -> str:
    """SHA-1 of a file's bytes: content, not dates, so a copied dataset keeps its cache."""
    if not path.is_file():
        return "missing"
    stat = path.stat()
    return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=None)
def _digest(path: str, size: int, mtime_ns: int) -> str:  # size and date only make the memo notice a change
    return file_hash(Path(path))


def _compute_and_store(job: tuple[Track, dict[str, Path], int]) -> str | None:
    """Worker: decode and augment one track once, compute and cache every kind asked for; returns None, or the
    reason it could not be read."""
    track, wanted, seed = job
    try:
        variants = list(variant_audio(track, seed))
        patches = [musicnn_features(judged) for judged, _ in variants] if set(wanted) - {"mfcc"} else []
        for kind, path in wanted.items():
            arrays = (compute_track_features(variants).__dict__ if kind == "mfcc"
                      else compute_track_embeddings(variants, kind, patches))
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)
    except GenreClassifierError as exc:
        return f"{track.clip or track.excerpt}: {exc}"
    return None


def variant_audio(track: Track, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per augmentation variant (in VARIANTS order): (eval, crops) audio, each (n, SEGMENT_SAMPLES) float32.

    `eval` is what the app would judge (ten segments cut exactly as serving cuts them, or one looped excerpt for a
    track that only has an excerpt); `crops` are random 3-s windows. Deterministic for a given seed."""
    rng = np.random.default_rng([seed, zlib.crc32(track.track_id.encode())])
    clip = excerpt = None
    if track.clip is not None:
        serving = segmenting.load_segments(track.clip)  # exactly what the app would judge
        clip = audio_io.load(track.clip)
    if track.excerpt is not None:
        excerpt = audio_io.load(track.excerpt)
    for transform in augment.VARIANTS.values():
        variant_eval, variant_crops = [], []
        if clip is not None:
            song = clip if transform is None else transform(clip, rng)
            variant_eval.append(serving.audio if transform is None else segmenting.cut(song, serving.starts))
            variant_crops.append(_random_crops(song, CLIP_CROPS, rng))
        if excerpt is not None:
            short = excerpt if transform is None else transform(excerpt, rng)
            if clip is None:
                variant_eval.append(loop_crop(short, [0]))
            variant_crops.append(loop_crop(short, rng.integers(0, len(short), EXCERPT_CROPS)))
        yield np.concatenate(variant_eval), np.concatenate(variant_crops)


def compute_track_features(variants: list[tuple[np.ndarray, np.ndarray]]) -> TrackFeatures:
    """MFCCs of one track's `variant_audio`; float16 to halve the cache."""
    evals, crops, silent = zip(*((mfcc_features(e), mfcc_features(c), segmenting.is_silent(e)) for e, c in variants))
    return TrackFeatures(np.stack(evals).astype(np.float16), np.stack(crops).astype(np.float16), np.stack(silent))


def compute_track_embeddings(variants: list[tuple[np.ndarray, np.ndarray]], name: str,
                             patches: list[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The outputs of the pretrained network `name` for one track's `variant_audio` (its judged segments' log-mel
    `patches`, computed here when not given), as {"eval_<output>": (variants, segments, dims)} in float16, for every
    output of the network, and "silent" (variants, segments). The genre head learns from whole songs (their judged
    segments), never from random crops, so "crops_<output>" is kept empty: (variants, 0, dims)."""
    model = _ear_model(name)
    patches = patches or [musicnn_features(judged) for judged, _ in variants]
    per_variant = [model(patch) for patch in patches]
    arrays = {"silent": np.stack([segmenting.is_silent(e) for e, _ in variants])}
    for output in model.names:
        arrays[f"eval_{output}"] = np.stack([e[output] for e in per_variant]).astype(np.float16)
        arrays[f"crops_{output}"] = arrays[f"eval_{output}"][:, :0]
    return arrays


@lru_cache(maxsize=None)
def _ear_model(name: str) -> InferenceModel:
    """This worker's network `name`, compiled as served (models.runtime)."""
    return load_ear(name, MODEL_DIR)


def _random_crops(song: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    if len(song) <= SEGMENT_SAMPLES:
        return loop_crop(song, rng.integers(0, max(len(song), 1), count))
    starts = rng.integers(0, len(song) - SEGMENT_SAMPLES + 1, count) / SAMPLE_RATE
    return segmenting.cut(song, starts)


def loop_crop(short: np.ndarray, offsets: Iterable[int]) -> np.ndarray:
    """3-s windows of `short` audio repeated end to end, starting at each sample offset (excerpts are 2-3 s)."""
    if len(short) == 0:
        raise DatasetError("An audio file decoded to nothing.")
    reps = int(np.ceil((SEGMENT_SAMPLES + len(short)) / len(short)))
    looped = np.tile(short, reps)
    return np.stack([looped[offset:offset + SEGMENT_SAMPLES] for offset in offsets]).astype(np.float32)
