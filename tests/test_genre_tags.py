"""genre_tags.py: the genre tag of every taggable format is written atomically and the audio stays bit-identical."""
from __future__ import annotations

from pathlib import Path

import mutagen
import numpy as np
import pytest
from mutagen.mp3 import EasyMP3

from codeFeature import audio, genre_tags
from codeFeature.genre_tags import TAG_NAMES, TagWriteError, read_genre, write_genre
from conftest import synth_song, write_audio

FORMATS = {".mp3": (), ".flac": (), ".ogg": ("-c:a", "libvorbis"), ".opus": (), ".m4a": ()}


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_genre_is_written_and_the_audio_is_untouched(tmp_path: Path, suffix: str) -> None:
    path = write_audio(tmp_path / f"song{suffix}", synth_song(5.0), codec_args=FORMATS[suffix])
    before = audio.load(path)
    assert read_genre(path) is None
    write_genre(path, "hiphop")
    assert read_genre(path) == TAG_NAMES["hiphop"] == "Hip-Hop"
    write_genre(path, "jazz")  # replaces, does not add
    assert mutagen.File(path, easy=True)["genre"] == ["Jazz"]
    assert np.array_equal(audio.load(path), before)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no copy left beside it


def test_an_untaggable_format_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "song.wav", synth_song(3.0))
    original = path.read_bytes()
    with pytest.raises(TagWriteError, match="mp3, FLAC, Ogg, Opus and m4a"):
        write_genre(path, "rock")
    assert path.read_bytes() == original and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("failure", ["save", "replace"])
def test_a_failed_write_leaves_the_original_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   failure: str) -> None:
    path = write_audio(tmp_path / "song.mp3", synth_song(4.0))
    original = path.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise (mutagen.MutagenError("disk full") if failure == "save" else OSError(28, "No space left on device"))

    if failure == "save":
        monkeypatch.setattr(EasyMP3, "save", fail)
    else:
        monkeypatch.setattr(genre_tags.os, "replace", fail)
    with pytest.raises(TagWriteError, match="could not be written"):
        write_genre(path, "metal")
    assert path.read_bytes() == original and list(tmp_path.iterdir()) == [path]


def test_not_audio_cannot_be_tagged(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("just text")
    with pytest.raises(TagWriteError):
        read_genre(path)
