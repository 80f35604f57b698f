"""Find the tracks of a GTZAN-layout folder and compute (and cache) their training features.

Layouts read:
- `DIR/<genre>/<genre>.000NN.<ext>` (a plain `genres_original/`), or
- `DIR/genres_original/...` plus, if present, `DIR/excerpts_2to3s/<genre>/...` (short excerpts of the same tracks)
  and `DIR/splits/{train,valid}_filtered.txt` (the artist-filtered split), as in `shared/gtzan`.
A track is one GTZAN clip id (`blues.00012`): its full clip and its excerpt belong to it together, so no split
ever puts parts of one track on both sides.

Per track the cache holds, for every augmentation variant (see `augment.VARIANTS`):
- `eval`: the segments the app would judge (ten for a full clip, cut exactly as serving cuts them; one looped
  excerpt for a track that only has an excerpt), and
- `crops`: random 3-s crops at any offset, for training.
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio, augment, file_split
from .config import AUDIO_EXTENSIONS, GENRES, HOP_LENGTH, N_FFT, N_MELS, N_MFCC, SAMPLE_RATE, SEGMENT_SAMPLES
from .errors import DatasetError, GenreClassifierError
from .feature_extractor_cnn import mfcc_features

CLIPS_DIR, EXCERPTS_DIR, SPLITS_DIR = "genres_original", "excerpts_2to3s", "splits"
CLIP_CROPS, EXCERPT_CROPS = 12, 3  # random crops per variant
_FEATURE_VERSION = 1  # bump when the cached arrays change meaning


@dataclass(frozen=True)
class Track:
    """One GTZAN track: its id, genre, full clip and/or short excerpt, and its artist-filtered split if known."""

    track_id: str
    genre: str
    clip: Path | None = None
    excerpt: Path | None = None
    split: str | None = None

    @property
    def label(self) -> int:
        return GENRES.index(self.genre)


@dataclass(frozen=True)
class TrackFeatures:
    """Cached features of one track: `eval` (variants, segments, 130, 13, 1), `crops` (variants, crops, ...)."""

    eval: np.ndarray
    crops: np.ndarray


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


def load_features(tracks: list[Track], cache_dir: Path, seed: int = 0, workers: int | None = None,
                  log=print) -> tuple[list[Track], list[TrackFeatures]]:
    """Features of `tracks`, computed in `workers` processes where not cached in `cache_dir`.

    Returns the tracks that could be read and their features, in order; a file that cannot be decoded (GTZAN has
    a corrupt one in some copies) is logged with its reason and left out."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = [cache_dir / f"{track.track_id}-{_cache_key(track, seed)}.npz" for track in tracks]
    todo = [(track, path, seed) for track, path in zip(tracks, paths) if not path.is_file()]
    failed: set[str] = set()
    if todo:
        log(f"computing features for {len(todo)} of {len(tracks)} tracks (cache: {cache_dir})")
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            for done, ((track, _, _), error) in enumerate(zip(todo, pool.map(_compute_and_store, todo,
                                                                                chunksize=4)), start=1):
                if error is not None:
                    failed.add(track.track_id)
                    log(f"  skipped {track.track_id}: {error}")
                if done % 50 == 0 or done == len(todo):
                    log(f"  {done}/{len(todo)}")
    kept, features = [], []
    for track, path in zip(tracks, paths):
        if track.track_id in failed:
            continue
        with np.load(path) as stored:
            features.append(TrackFeatures(stored["eval"], stored["crops"]))
        kept.append(track)
    return kept, features


def _cache_key(track: Track, seed: int) -> str:
    parts: list[object] = [_FEATURE_VERSION, seed, SAMPLE_RATE, N_MFCC, N_FFT, HOP_LENGTH, N_MELS,
                           CLIP_CROPS, EXCERPT_CROPS, list(augment.VARIANTS)]
    for path in (track.clip, track.excerpt):
        if path is not None:
            stat = path.stat()
            parts += [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:12]


def _compute_and_store(job: tuple[Track, Path, int]) -> str | None:
    """Worker: compute and cache one track; returns None, or the reason it could not be read."""
    track, path, seed = job
    try:
        features = compute_track_features(track, seed)
    except GenreClassifierError as exc:
        return f"{track.clip or track.excerpt}: {exc}"
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, eval=features.eval, crops=features.crops)
    tmp.replace(path)
    return None


def compute_track_features(track: Track, seed: int) -> TrackFeatures:
    """Features of one track for every variant; float16 to halve the cache. Deterministic for a given seed."""
    rng = np.random.default_rng([seed, zlib.crc32(track.track_id.encode())])
    evals, crops = [], []
    clip = excerpt = None
    if track.clip is not None:
        serving = file_split.load_segments(track.clip)  # exactly what the app would judge
        clip = audio.load(track.clip)
    if track.excerpt is not None:
        excerpt = audio.load(track.excerpt)
    for transform in augment.VARIANTS.values():
        variant_eval, variant_crops = [], []
        if clip is not None:
            song = clip if transform is None else transform(clip, rng)
            variant_eval.append(serving.audio if transform is None else file_split.cut(song, serving.starts))
            variant_crops.append(_random_crops(song, CLIP_CROPS, rng))
        if excerpt is not None:
            short = excerpt if transform is None else transform(excerpt, rng)
            if clip is None:
                variant_eval.append(loop_crop(short, [0]))
            variant_crops.append(loop_crop(short, rng.integers(0, len(short), EXCERPT_CROPS)))
        evals.append(mfcc_features(np.concatenate(variant_eval)))
        crops.append(mfcc_features(np.concatenate(variant_crops)))
    return TrackFeatures(np.stack(evals).astype(np.float16), np.stack(crops).astype(np.float16))


def _random_crops(song: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    if len(song) <= SEGMENT_SAMPLES:
        return loop_crop(song, rng.integers(0, max(len(song), 1), count))
    starts = rng.integers(0, len(song) - SEGMENT_SAMPLES + 1, count) / SAMPLE_RATE
    return file_split.cut(song, starts)


def loop_crop(short: np.ndarray, offsets: Iterable[int]) -> np.ndarray:
    """3-s windows of `short` audio repeated end to end, starting at each sample offset (excerpts are 2-3 s)."""
    if len(short) == 0:
        raise DatasetError("An audio file decoded to nothing.")
    reps = int(np.ceil((SEGMENT_SAMPLES + len(short)) / len(short)))
    looped = np.tile(short, reps)
    return np.stack([looped[offset:offset + SEGMENT_SAMPLES] for offset in offsets]).astype(np.float32)
