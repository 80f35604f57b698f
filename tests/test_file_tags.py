"""tagging/file_tags.py: genre tags of every taggable format are read and written exactly (several values where the
format has them), atomically, keeping the ID3 version, and the audio stays bit-identical."""
from __future__ import annotations

from pathlib import Path

import mutagen
import numpy as np
import pytest
from conftest import synth_song, write_audio
from mutagen.id3 import ID3, TCON
from mutagen.mp3 import MP3

from codeFeature.audio import audio_io
from codeFeature.tagging import file_tags
from codeFeature.tagging.file_tags import (
    TagWriteError,
    as_values,
    read_genres,
    write_genres,
)

FORMATS = {".mp3": (), ".flac": (), ".ogg": ("-c:a", "libvorbis"), ".opus": (), ".m4a": ()}
MULTI_VALUE = {".mp3": True, ".flac": True, ".ogg": True, ".opus": True, ".m4a": False}


def id3v23_mp3(path: Path, genres: list[str]) -> Path:
    """An mp3 whose ID3 tag is version 2.3 with `genres` (and a title, which must survive)."""
    write_audio(path, synth_song(4.0))
    tags = ID3()
    tags.add(TCON(encoding=1, text=genres))
    tags.add(mutagen.id3.TIT2(encoding=1, text=["Title"]))
    tags.save(path, v2_version=3)
    return path


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_genres_are_written_exactly_and_the_audio_is_untouched(tmp_path: Path, suffix: str) -> None:
    path = write_audio(tmp_path / f"song{suffix}", synth_song(5.0), codec_args=FORMATS[suffix])
    before = audio_io.load(path)
    assert read_genres(path) == ()
    write_genres(path, ["Hip-Hop"])
    assert read_genres(path) == ("Hip-Hop",)
    values = as_values(["Rock", "Pop"], path, separator=" / ")
    assert values == (("Rock", "Pop") if MULTI_VALUE[suffix] else ("Rock / Pop",))
    write_genres(path, values)  # replaces, does not add
    assert read_genres(path) == values
    write_genres(path, [])  # no genre at all again
    assert read_genres(path) == ()
    assert np.array_equal(audio_io.load(path), before)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no copy left beside it


def test_an_id3v23_file_stays_id3v23_with_its_other_frames(tmp_path: Path) -> None:
    path = id3v23_mp3(tmp_path / "old.mp3", ["Post-Punk"])
    assert read_genres(path) == ("Post-Punk",)
    assert as_values(["Rock", "Pop"], path) == ("Rock; Pop",)  # v2.3 has no separate values
    write_genres(path, ["Rock; Pop"])
    tagged = MP3(path)
    assert tagged.tags.version[:2] == (2, 3) and str(tagged.tags["TIT2"]) == "Title"
    write_genres(path, ["Post-Punk"])
    assert read_genres(path) == ("Post-Punk",) and MP3(path).tags.version[:2] == (2, 3)


def test_raw_values_round_trip(tmp_path: Path) -> None:
    """What was read is what is written back: ID3v1 genre numbers and free text are not interpreted."""
    path = write_audio(tmp_path / "song.mp3", synth_song(4.0))
    write_genres(path, ["(17)", "Bossa Nova"])
    assert read_genres(path) == ("(17)", "Bossa Nova")


def test_an_untaggable_format_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "song.wav", synth_song(3.0))
    original = path.read_bytes()
    with pytest.raises(TagWriteError, match="mp3, FLAC, Ogg, Opus and m4a"):
        write_genres(path, ["Rock"])
    assert path.read_bytes() == original and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("failure", ["save", "replace"])
def test_a_failed_write_leaves_the_original_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   failure: str) -> None:
    path = write_audio(tmp_path / "song.mp3", synth_song(4.0))
    original = path.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise (mutagen.MutagenError("disk full") if failure == "save" else OSError(28, "No space left on device"))

    if failure == "save":
        monkeypatch.setattr(ID3, "save", fail)
    else:
        monkeypatch.setattr(file_tags.os, "replace", fail)
    with pytest.raises(TagWriteError, match="could not be written"):
        write_genres(path, ["Metal"])
    assert path.read_bytes() == original and list(tmp_path.iterdir()) == [path]


def test_not_audio_cannot_be_tagged(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("just text")
    with pytest.raises(TagWriteError):
        read_genres(path)
