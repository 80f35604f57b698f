"""The real-song set: recordings that are not GTZAN, labelled with genre and artist (the `shared/realsongs` layout).

    <folder>/labels.csv       columns file, genre, artist, doubt, source_repo, ... (file: relative to <folder>)
    <folder>/audio/*.opus
    <folder>/outside.csv      songs of none of the ten genres: file, outside_genre, artist, ... (optional)
    <folder>/outside/*.opus

Its songs are read as `dataset.Track`s (id `real.<file stem>`, the file as the clip, the artist), so their features
are computed and cached by the same code as GTZAN's, and cross-validation can keep each artist on one side.
"""
from __future__ import annotations

import csv
from pathlib import Path

from codeFeature.config import GENRES
from codeFeature.errors import DatasetError
from codeFeature.training.dataset import Track

LABELS_CSV = "labels.csv"
OUTSIDE_CSV = "outside.csv"
TRACK_PREFIX = "real."
OUTSIDE_PREFIX = "outside."
UNKNOWN_SOURCE = "unnamed source"  # a song whose row names no source_repo


def discover(folder: Path) -> list[Track]:
    """The labelled songs of `folder`, sorted by id. Raises DatasetError if labels.csv is missing or malformed,
    names a genre outside GENRES, or points at a file that is not there."""
    tracks = _read(Path(folder), LABELS_CSV, "genre", TRACK_PREFIX)
    for track in tracks:
        if track.genre not in GENRES:
            raise DatasetError(f"{Path(folder) / LABELS_CSV}: {track.track_id} has the unknown genre "
                               f"{track.genre!r} (one of: {', '.join(GENRES)}).")
    return tracks


def discover_outside(folder: Path) -> list[Track]:
    """The songs of `folder`'s outside.csv (none of the ten genres; `genre` holds what they are, e.g. "folk"),
    sorted by id; [] if the folder has no outside.csv. Raises DatasetError as `discover` does."""
    if not (Path(folder) / OUTSIDE_CSV).is_file():
        return []
    tracks = _read(Path(folder), OUTSIDE_CSV, "outside_genre", OUTSIDE_PREFIX)
    for track in tracks:
        if track.genre in GENRES:
            raise DatasetError(f"{Path(folder) / OUTSIDE_CSV}: {track.track_id} is {track.genre}, one of the ten.")
    return tracks


def _read(folder: Path, name: str, genre_column: str, prefix: str) -> list[Track]:
    labels = folder / name
    if not labels.is_file():
        raise DatasetError(f"No {name} in {folder}: a real-song folder lists file, genre and artist there.")
    with labels.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    tracks = []
    for number, row in enumerate(rows, start=2):
        try:
            path, genre, artist = folder / row["file"], row[genre_column].strip(), row["artist"].strip()
        except (KeyError, AttributeError) as exc:
            raise DatasetError(f"{labels}:{number}: needs the columns file, {genre_column} and artist.") from exc
        if not path.is_file():
            raise DatasetError(f"{labels}:{number}: no file {path}.")
        tracks.append(Track(f"{prefix}{path.stem}", genre, clip=path, artist=artist or path.stem,
                            doubt=bool((row.get("doubt") or "").strip()),
                            source=(row.get("source_repo") or "").strip() or UNKNOWN_SOURCE))
    if not tracks:
        raise DatasetError(f"{labels} lists no songs.")
    return sorted(tracks, key=lambda track: track.track_id)


def is_real(track: Track) -> bool:
    """Whether `track` is a labelled real song (not GTZAN, not an outside song)."""
    return track.track_id.startswith(TRACK_PREFIX)


def is_outside(track: Track) -> bool:
    """Whether `track` is a song of none of the ten genres (outside.csv)."""
    return track.track_id.startswith(OUTSIDE_PREFIX)
