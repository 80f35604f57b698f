"""tagging/library_tags.py: tagging a library never loses what its owner wrote. Real files of every taggable format,
results rows as a batch job writes them: fill by default, replace only when told, skip what is not sure, several
genres, undo to the exact previous tag, and Ctrl-C leaves every file old or new and recorded."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import synth_song, write_audio

from codeFeature.audio import audio_io
from codeFeature.config import GENRES
from codeFeature.hashing import sha1_of
from codeFeature.tagging import file_tags
from codeFeature.tagging.file_tags import read_genres, write_genres
from codeFeature.tagging.library_tags import (
    FAILED,
    FILL,
    KEEP,
    REPLACE,
    RESTORED,
    RETAGGED,
    SAME,
    UNDO,
    UNSURE,
    Flags,
    TagOptions,
    decide,
    genre_of,
    last_changes,
    tag_library,
    undo,
    wanted_genres,
)
from codeFeature.tagging.results import PartWriter, ResultRow, read_rows

FORMATS = {".mp3": (), ".flac": (), ".ogg": ("-c:a", "libvorbis"), ".opus": (), ".m4a": ()}


def probabilities(top: str, second: str = "pop") -> dict[str, float]:
    """Probabilities with `top` at 0.6 and `second` at 0.3."""
    return {genre: 0.6 if genre == top else 0.3 if genre == second else 0.1 / 8 for genre in GENRES}


def classified(out: Path, path: Path, top: str, confident: bool = True) -> ResultRow:
    """Record `path` in the results folder `out` as a batch job does."""
    probs = probabilities(top)
    row = ResultRow(path=str(path), sha1=sha1_of(path), duration_s=5.0, genre=top, probabilities=probs, tags=[],
                    confident=confident, engine="musicnn", model_digest="sha256:x", error=None)
    writer = PartWriter(out)
    writer.add(row)
    writer.flush()
    return row


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, Path, dict[str, Path]]:
    """A folder with an untagged song, a hand-tagged one ("Post-Punk"), one tagged with one of the ten ("Rock"), an
    unsure one and an untaggable wav, all classified in `out`."""
    music, out = tmp_path / "music", tmp_path / "results.parquet"
    music.mkdir()
    files = {name: write_audio(music / name, synth_song(4.0, seed=i)) for i, name in enumerate(
        ["untagged.mp3", "post_punk.flac", "rock.ogg", "unsure.opus", "song.wav"])}
    write_genres(files["post_punk.flac"], ["Post-Punk"])
    write_genres(files["rock.ogg"], ["Rock"])
    for name, path in files.items():
        classified(out, path, "hiphop" if name != "rock.ogg" else "metal", confident=name != "unsure.opus")
    return music, out, files


def actions(report) -> dict[str, str]:
    return {Path(p.path).name: p.action for p in report.planned}


def test_a_default_run_fills_only_untagged_confident_files(library: tuple[Path, Path, dict[str, Path]]) -> None:
    _, out, files = library
    before = {name: path.read_bytes() for name, path in files.items()}
    dry = tag_library(out, files.values(), TagOptions(), write=False)
    assert actions(dry) == {"untagged.mp3": FILL, "post_punk.flac": KEEP, "rock.ogg": KEEP, "unsure.opus": UNSURE,
                            "song.wav": FAILED}
    assert {name: path.read_bytes() for name, path in files.items()} == before  # a dry run changes nothing
    report = tag_library(out, files.values(), TagOptions(), write=True)
    assert actions(report) == actions(dry) and report.changed == 1
    assert read_genres(files["untagged.mp3"]) == ("Hip-Hop",)
    assert read_genres(files["post_punk.flac"]) == ("Post-Punk",) and read_genres(files["rock.ogg"]) == ("Rock",)
    assert read_genres(files["unsure.opus"]) == ()
    assert {name: path.read_bytes() for name, path in files.items() if name != "untagged.mp3"} == {
        name: data for name, data in before.items() if name != "untagged.mp3"}
    text = "\n".join(report.lines())
    assert "filled (no genre before): 1" in text and "kept (has a genre): 2" in text
    assert "skipped (not sure): 1" in text and "failed: 1" in text
    again = tag_library(out, files.values(), TagOptions(), write=True)  # a rerun finds it done
    assert actions(again)["untagged.mp3"] == SAME and again.changed == 0


def test_overwrite_replaces_ten_genre_values_only_and_overwrite_any_the_rest(
        library: tuple[Path, Path, dict[str, Path]]) -> None:
    _, out, files = library
    report = tag_library(out, files.values(), TagOptions(overwrite=True), write=True)
    assert actions(report)["rock.ogg"] == REPLACE and actions(report)["post_punk.flac"] == KEEP
    assert read_genres(files["rock.ogg"]) == ("Metal",) and read_genres(files["post_punk.flac"]) == ("Post-Punk",)
    report = tag_library(out, files.values(), TagOptions(overwrite_any=True), write=True)
    assert actions(report)["post_punk.flac"] == REPLACE and read_genres(files["post_punk.flac"]) == ("Hip-Hop",)


def test_unsure_files_are_tagged_only_when_asked_and_min_probability_raises_the_bar(
        library: tuple[Path, Path, dict[str, Path]]) -> None:
    _, out, files = library
    strict = tag_library(out, files.values(), TagOptions(min_probability=0.7), write=False)
    assert actions(strict)["untagged.mp3"] == UNSURE
    report = tag_library(out, [files["unsure.opus"]], TagOptions(include_unsure=True), write=True)
    assert report.changed == 1 and read_genres(files["unsure.opus"]) == ("Hip-Hop",)


def test_keep_existing_keeps_the_owners_own_values_and_the_hints_name_the_callers_flags() -> None:
    """decide, the rule the batch job and the beets plugin share, on genre values given as they are."""
    probs, as_is = probabilities("rock", "pop"), tuple
    keep = TagOptions(overwrite=True, keep_existing=True, genres=2)
    assert decide(True, probs, ("Post-Punk", "Jazz"), keep, "x", as_is).wanted == ("Post-Punk", "Rock", "Pop")
    assert decide(True, probs, ("Post-Punk",), TagOptions(overwrite=True), "x", as_is).action == KEEP
    assert decide(True, probs, ("Post-Punk", "Rock"), TagOptions(overwrite=True, keep_existing=True), "x",
                  as_is).action == SAME
    beets = TagOptions(flags=Flags(include_unsure="-u", overwrite="-f", overwrite_any=None))
    assert decide(False, probs, (), beets, "x", as_is).why.endswith("-u tags it")
    assert decide(True, probs, ("Jazz",), beets, "x", as_is).why == "has Jazz (-f replaces it)"
    assert decide(True, probs, ("Post-Punk",), beets, "x", as_is).why.endswith("not one of the ten genres; kept)")


def test_wanted_genres_and_the_ten_genre_spellings() -> None:
    probs = probabilities("rock", "pop")
    assert wanted_genres(probs, TagOptions(genres=2)) == ("rock", "pop")
    assert wanted_genres(probs, TagOptions(genres=3, min_probability=0.25)) == ("rock", "pop")
    assert wanted_genres(probs, TagOptions(min_probability=0.7)) == ()
    assert [genre_of(v) for v in ("Hip-Hop", "hip hop", "ROCK", "(17)", "Post-Punk", "Bossa Nova")] == [
        "hiphop", "hiphop", "rock", "rock", None, None]


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_several_genres_read_back_as_written_and_undo_restores_everything(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "results.parquet"
    song = write_audio(tmp_path / f"song{suffix}", synth_song(4.0), codec_args=FORMATS[suffix])
    write_genres(song, ["Post-Punk", "Indie"] if suffix != ".m4a" else ["Post-Punk"])
    previous, pcm = read_genres(song), audio_io.load(song)
    classified(out, song, "rock")
    options = TagOptions(overwrite_any=True, genres=2, separator=" | ")
    report = tag_library(out, [song], options, write=True)
    assert report.changed == 1
    multi = suffix != ".m4a"  # m4a keeps one value: the genres are joined
    assert read_genres(song) == (("Rock", "Pop") if multi else ("Rock | Pop",))
    change = last_changes(out)[str(song)]
    assert change.tag_action == REPLACE and tuple(change.previous_genre) == previous
    assert tuple(change.written_genre) == read_genres(song) and change.sha1 == sha1_of(song) != change.sha1_before
    assert change.tagged_at and change.genre == "rock"
    restored = undo(out)
    assert [p.action for p in restored.planned] == [RESTORED]
    assert read_genres(song) == previous and np.array_equal(audio_io.load(song), pcm)
    assert last_changes(out)[str(song)].tag_action == UNDO
    assert undo(out).planned == []  # nothing left to undo


def test_undo_of_a_fill_removes_the_tag_and_leaves_retagged_files_alone(
        library: tuple[Path, Path, dict[str, Path]]) -> None:
    _, out, files = library
    tag_library(out, files.values(), TagOptions(overwrite=True, include_unsure=True), write=True)
    write_genres(files["rock.ogg"], ["Grunge"])  # the owner retags it after the run
    report = undo(out)
    assert actions(report) == {"untagged.mp3": RESTORED, "unsure.opus": RESTORED, "rock.ogg": RETAGGED}
    text = "\n".join(report.lines())
    assert "restored: 2" in text and "left alone (retagged since): 1" in text and "not the Metal written" in text
    assert read_genres(files["untagged.mp3"]) == () and read_genres(files["unsure.opus"]) == ()
    assert read_genres(files["rock.ogg"]) == ("Grunge",)


def test_every_row_survives_reading_back(library: tuple[Path, Path, dict[str, Path]]) -> None:
    _, out, files = library
    tag_library(out, files.values(), TagOptions(), write=True)
    rows = read_rows(out)
    assert len(rows) == len(files) + 1 and sum(r.tag_action == FILL for r in rows) == 1
    assert len(list(out.glob("part-*.parquet"))) == len(files) + 1  # one part per job row, the tag run's merged


@pytest.mark.parametrize("stage", ["tagging", "undo"])
def test_ctrl_c_leaves_every_file_old_or_new_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           stage: str) -> None:
    """A real SIGINT arriving while the second file is being replaced: that file is finished and recorded, the
    run stops there, and undo puts back exactly the files that changed."""
    out = tmp_path / "results.parquet"
    songs = [write_audio(tmp_path / f"s{i}.mp3", synth_song(3.5, seed=i)) for i in range(5)]
    for song in songs:
        classified(out, song, "jazz")
    if stage == "undo":
        assert tag_library(out, songs, TagOptions(), write=True).changed == 5
    real_replace, calls = os.replace, []

    def replace_then_interrupt(source: object, target: object) -> None:  # os.replace of every module
        real_replace(source, target)
        if Path(target).suffix == ".mp3":
            calls.append(target)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(file_tags.os, "replace", replace_then_interrupt)
    report = undo(out) if stage == "undo" else tag_library(out, songs, TagOptions(), write=True)
    monkeypatch.setattr(file_tags.os, "replace", real_replace)
    assert report.interrupted and len(report.planned) == 2 and len(calls) == 2
    want = ("Jazz",) if stage == "tagging" else ()
    changed = {str(song) for song in songs if read_genres(song) == want}
    assert changed == {p.path for p in report.planned}
    assert all(read_genres(song) in {(), ("Jazz",)} for song in songs)
    assert not list(tmp_path.glob(".*genre-tag")) and not list(out.glob(".writing-*"))
    undo(out)  # after tagging: puts back the two changed files; after an undo: does the rest
    assert all(read_genres(song) == () for song in songs)
