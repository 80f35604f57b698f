"""A file's own genre tag, read and written exactly with mutagen: ID3 TCON (mp3, keeping the file's ID3 version),
Vorbis GENRE comments (FLAC, Ogg Vorbis, Opus), ©gen (m4a/mp4).

Values are the tag's raw strings, in order, so what was read can be written back unchanged (undo). Several genres
are several values where the format has them (ID3v2.4 TCON, repeated Vorbis GENRE comments) and one value joined
with a separator elsewhere (ID3v2.3, m4a). Writing is atomic: the tag goes into a copy next to the file, which then
replaces it; the audio data is never touched, and a failed write leaves the original as it was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import mutagen
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TCON
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from codeFeature.errors import GenreClassifierError

_VORBIS = (FLAC, OggVorbis, OggOpus)
_TAGGABLE = (MP3, MP4, *_VORBIS)
_MP4_GENRE = "\xa9gen"
DEFAULT_SEPARATOR = "; "

# How our genres are written into tags (the ID3v1 spellings).
TAG_NAMES: dict[str, str] = {"blues": "Blues", "classical": "Classical", "country": "Country", "disco": "Disco",
                             "hiphop": "Hip-Hop", "jazz": "Jazz", "metal": "Metal", "pop": "Pop", "reggae": "Reggae",
                             "rock": "Rock"}


class TagWriteError(GenreClassifierError):
    """A genre tag could not be read or written (unsupported format, unreadable or read-only file)."""


def read_genres(path: Path) -> tuple[str, ...]:
    """The file's genre values, raw and in order (() if it has none). Raises TagWriteError for a file mutagen
    cannot tag."""
    tagged = _open(path)
    if tagged.tags is None:
        return ()
    if isinstance(tagged, MP3):
        return tuple(text for frame in _raw_id3(path).getall("TCON") for text in frame.text)
    if isinstance(tagged, MP4):
        return tuple(tagged.tags.get(_MP4_GENRE, []))
    return tuple(tagged.tags.get("genre", []))


def has_multiple_values(path: Path) -> bool:
    """Whether the file's format keeps several genre values apart (ID3v2.4 or no ID3 yet, Vorbis comments)."""
    tagged = _open(path)
    if isinstance(tagged, MP3):
        return tagged.tags is None or tagged.tags.version[1] >= 4
    return isinstance(tagged, _VORBIS)


def as_values(names: Sequence[str], path: Path, separator: str = DEFAULT_SEPARATOR) -> tuple[str, ...]:
    """Genre names as the file's format stores them: several values where it can (see has_multiple_values), else
    one value joined with `separator`."""
    names = tuple(names)
    return names if len(names) <= 1 or has_multiple_values(path) else (separator.join(names),)


def write_genres(path: Path, values: Sequence[str]) -> None:
    """Set the file's genre tag to exactly `values` (raw strings, as `read_genres` gives them; none removes the
    tag), keeping its ID3 version, atomically. Raises TagWriteError if the format cannot be tagged or the file
    cannot be replaced; the original is then unchanged."""
    path = Path(path)
    _open(path)  # refuse formats mutagen cannot tag before copying anything
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".genre-tag", dir=path.parent)
    os.close(handle)
    copy = Path(name)
    try:
        shutil.copy2(path, copy)
        _set(_open(copy), list(values))
        os.replace(copy, path)
    except (OSError, mutagen.MutagenError) as exc:
        raise TagWriteError(f"The genre tag of {path.name} could not be written: {exc}") from exc
    finally:
        copy.unlink(missing_ok=True)


def _set(tagged: mutagen.FileType, values: list[str]) -> None:
    """Put `values` into the opened file's genre tag and save it."""
    if isinstance(tagged, MP3):
        if tagged.tags is None and not values:
            return
        tags = _raw_id3(tagged.filename) if tagged.tags is not None else ID3()
        version = tags.version[1] if tags.version >= (2, 3, 0) else 4
        tags.delall("TCON")
        if values:
            tags.add(TCON(encoding=3 if version >= 4 else 1, text=values))
        tags.save(tagged.filename, v2_version=version)
        return
    if tagged.tags is None:
        if not values:
            return
        tagged.add_tags()
    key = _MP4_GENRE if isinstance(tagged, MP4) else "genre"
    if values:
        tagged.tags[key] = values
    elif key in tagged.tags:
        del tagged.tags[key]
    tagged.save()


def _raw_id3(path: Path) -> ID3:
    """The file's ID3 tag as stored (frames of its own version, genre numbers like "(17)" not interpreted)."""
    return ID3(path, translate=False)


def _open(path: Path) -> mutagen.FileType:
    """The file through mutagen (a genre tag for every format it can tag)."""
    try:
        tagged = mutagen.File(path)
    except (OSError, mutagen.MutagenError) as exc:
        raise TagWriteError(f"{Path(path).name} cannot be read for tagging: {exc}") from exc
    if not isinstance(tagged, _TAGGABLE):
        raise TagWriteError(f"{Path(path).name}: genre tags are written to mp3, FLAC, Ogg, Opus and m4a files only.")
    return tagged
