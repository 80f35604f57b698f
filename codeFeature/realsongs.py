"""The real-song set: recordings that are not GTZAN, labelled with genre and artist (the `shared/realsongs` layout).

    <folder>/labels.csv       columns file, genre, artist, ... (file: a path relative to <folder>)
    <folder>/audio/*.opus

Its songs are read as `dataset.Track`s (id `real.<file stem>`, the file as the clip, the artist), so their features
are computed and cached by the same code as GTZAN's, and cross-validation can keep each artist on one side.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .config import GENRES
from .dataset import Track
from .errors import DatasetError

LABELS_CSV = "labels.csv"
TRACK_PREFIX = "real."


def discover(folder: Path) -> list[Track]:
    """The labelled songs of `folder`, sorted by id. Raises DatasetError if labels.csv is missing or malformed,
    names a genre outside GENRES, or points at a file that is not there."""
    folder = Path(folder)
    labels = folder / LABELS_CSV
    if not labels.is_file():
        raise DatasetError(f"No {LABELS_CSV} in {folder}: a real-song folder lists file, genre and artist there.")
    with labels.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    tracks = []
    for number, row in enumerate(rows, start=2):
        try:
            path, genre, artist = folder / row["file"], row["genre"].strip(), row["artist"].strip()
        except (KeyError, AttributeError) as exc:
            raise DatasetError(f"{labels}:{number}: needs the columns file, genre and artist.") from exc
        if genre not in GENRES:
            raise DatasetError(f"{labels}:{number}: unknown genre {genre!r} (one of: {', '.join(GENRES)}).")
        if not path.is_file():
            raise DatasetError(f"{labels}:{number}: no file {path}.")
        tracks.append(Track(f"{TRACK_PREFIX}{path.stem}", genre, clip=path, artist=artist or path.stem))
    if not tracks:
        raise DatasetError(f"{labels} lists no songs.")
    return sorted(tracks, key=lambda track: track.track_id)


def is_real(track: Track) -> bool:
    """Whether `track` came from a real-song folder (not GTZAN)."""
    return track.track_id.startswith(TRACK_PREFIX)
