"""A file's own genre tag, read and written with mutagen: ID3 TCON (mp3), Vorbis comments (FLAC, Ogg Vorbis,
Opus), ©gen (m4a/mp4). Writing is atomic: the tag goes into a copy next to the file, which then replaces it; the
audio data is never touched, and a failed write leaves the original as it was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import mutagen
from mutagen.easymp4 import EasyMP4
from mutagen.flac import FLAC
from mutagen.mp3 import EasyMP3
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from .errors import GenreClassifierError

_TAGGABLE = (EasyMP3, FLAC, OggVorbis, OggOpus, EasyMP4)  # each has a "genre" key in mutagen's easy interface

# How our genres are written into tags (the ID3v1 spellings).
TAG_NAMES: dict[str, str] = {"blues": "Blues", "classical": "Classical", "country": "Country", "disco": "Disco",
                             "hiphop": "Hip-Hop", "jazz": "Jazz", "metal": "Metal", "pop": "Pop", "reggae": "Reggae",
                             "rock": "Rock"}


class TagWriteError(GenreClassifierError):
    """A genre tag could not be read or written (unsupported format, unreadable or read-only file)."""


def read_genre(path: Path) -> str | None:
    """The file's genre tag (the first, if several), or None if it has none. Raises TagWriteError for a file
    mutagen cannot tag."""
    tagged = _open(path)
    values = tagged.get("genre") if tagged.tags is not None else None
    return values[0] if values else None


def write_genre(path: Path, genre: str) -> None:
    """Set the file's genre tag to TAG_NAMES[genre] (replacing any genre it had), atomically. Raises TagWriteError
    if the format cannot be tagged or the file cannot be replaced; the original is then unchanged."""
    path = Path(path)
    _open(path)  # refuse formats mutagen cannot tag before copying anything
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".genre-tag", dir=path.parent)
    os.close(handle)
    copy = Path(name)
    try:
        shutil.copy2(path, copy)
        tagged = _open(copy)
        if tagged.tags is None:
            tagged.add_tags()
        tagged["genre"] = [TAG_NAMES[genre]]
        tagged.save()
        os.replace(copy, path)
    except (OSError, mutagen.MutagenError) as exc:
        raise TagWriteError(f"The genre tag of {path.name} could not be written: {exc}") from exc
    finally:
        copy.unlink(missing_ok=True)


def _open(path: Path) -> mutagen.FileType:
    """The file through mutagen's easy interface (a "genre" key for every format it can tag)."""
    try:
        tagged = mutagen.File(path, easy=True)
    except (OSError, mutagen.MutagenError) as exc:
        raise TagWriteError(f"{Path(path).name} cannot be read for tagging: {exc}") from exc
    if not isinstance(tagged, _TAGGABLE):
        raise TagWriteError(f"{Path(path).name}: genre tags are written to mp3, FLAC, Ogg, Opus and m4a files only.")
    return tagged
