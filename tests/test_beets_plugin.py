"""beetsplug/genreclassify.py on a real beets library: a temporary beets config and library, `beet import -A` of
generated audio files (some tagged by hand first), the plugin run through beets' own command line, results read back
with `beet ls` and from the files' tags: the sure-only fill, pretend, keeping hand-set genres, force, undo, a missing
file, auto on import, and Ctrl-C leaving every item old or new."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import synth_song, write_audio

from codeFeature.tagging.file_tags import TAG_NAMES, read_genres, write_genres

PROJECT = Path(__file__).resolve().parent.parent
TEN = set(TAG_NAMES.values())
FIELDS = "$path|$genres|$genreclassify_probability|$genreclassify_sure|$genreclassify_written"
SONGS = {"untagged.mp3": (), "post_punk.flac": ("Post-Punk",), "rock.ogg": ("Rock",), "other.mp3": ()}


def make_library(root: Path, songs: dict[str, tuple[str, ...]], **plugin: object) -> Path:
    """A beets config folder under `root` (library db, config.yaml with the plugin and `plugin` settings) and a
    music folder of `songs` (name -> genres tagged by hand), not imported yet."""
    (root / "music").mkdir(parents=True)
    for i, (name, genres) in enumerate(songs.items()):
        path = write_audio(root / "music" / name, synth_song(6.0, seed=i, base_hz=110.0 * 1.4 ** i),
                           codec_args=("-c:a", "libvorbis") if name.endswith(".ogg") else ())
        if genres:
            write_genres(path, genres)
    config = {"directory": str(root / "lib"), "library": str(root / "library.db"), "plugins": ["genreclassify"],
              "import": {"copy": False, "write": False, "quiet": True}, "genreclassify": plugin}
    (root / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    return root


def beet(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run beets' own command line on the library at `root`."""
    result = subprocess.run([sys.executable, "-m", "beets", *args], cwd=root, env=beets_env(root),
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def beets_env(root: Path) -> dict[str, str]:
    """The environment of a beets run: its config folder, this checkout importable (as `pip install .` makes it)."""
    return {**os.environ, "BEETSDIR": str(root), "PYTHONPATH": str(PROJECT), "PYTHONUNBUFFERED": "1"}


def listing(root: Path) -> dict[str, dict[str, str]]:
    """`beet ls` of every item: file name -> genres, probability, sure, written (as beets formats them)."""
    rows = beet(root, "ls", "-f", FIELDS).stdout.splitlines()
    return {Path(path).name: {"genres": genres, "probability": probability, "sure": sure, "written": written}
            for path, genres, probability, sure, written in (row.split("|") for row in rows)}


def test_fill_pretend_keep_force_undo_and_a_missing_file(tmp_path: Path) -> None:
    root = make_library(tmp_path, SONGS)
    beet(root, "import", "-A", str(root / "music"))
    assert {row["genres"] for row in listing(root).values()} == {"", "Post-Punk", "Rock"}

    planned = beet(root, "genreclassify", "-p", "-u").stdout
    assert f"fill: {root / 'music' / 'untagged.mp3'}: none -> " in planned and "would fill" in planned
    assert all(row["probability"] == "$genreclassify_probability" for row in listing(root).values())

    beet(root, "genreclassify")  # sure answers only
    after = listing(root)
    for name in ("untagged.mp3", "other.mp3"):
        assert 0 < float(after[name]["probability"]) <= 1
        assert (after[name]["genres"] in TEN) == (after[name]["sure"] == "True")
    assert (after["post_punk.flac"]["genres"], after["rock.ogg"]["genres"]) == ("Post-Punk", "Rock")

    beet(root, "genreclassify", "-u")  # the unsure ones too; fill only
    after = listing(root)
    assert after["untagged.mp3"]["genres"] in TEN and after["other.mp3"]["genres"] in TEN
    assert (after["post_punk.flac"]["genres"], after["rock.ogg"]["genres"]) == ("Post-Punk", "Rock")
    assert read_genres(root / "music" / "untagged.mp3") == ()  # import.write is off and no -w

    forced = listing_after(root, "genreclassify", "-u", "-f", "-c", "2", "-w")
    assert forced["post_punk.flac"]["genres"] == "Post-Punk"  # hand-set: kept even with --force
    for name in ("untagged.mp3", "other.mp3", "rock.ogg"):
        values = tuple(forced[name]["genres"].split("; "))
        assert len(values) == 2 and set(values) <= TEN
        assert read_genres(root / "music" / name) == values  # -w wrote the file

    undone = listing_after(root, "genreclassify", "--undo", "-w")
    assert {name: row["genres"] for name, row in undone.items()} == {
        "untagged.mp3": "", "post_punk.flac": "Post-Punk", "rock.ogg": "Rock", "other.mp3": ""}
    assert read_genres(root / "music" / "rock.ogg") == ("Rock",) and read_genres(root / "music" / "untagged.mp3") == ()
    assert all(row["written"] == "$genreclassify_written" for row in undone.values())

    (root / "music" / "other.mp3").unlink()
    result = beet(root, "genreclassify", "-u")
    assert f"failed: {root / 'music' / 'other.mp3'}: " in result.stdout and "failed: 1" in result.stdout
    assert listing(root)["untagged.mp3"]["genres"] in TEN
    assert "count must be 1 or more" in beet(root, "genreclassify", "-c", "0", check=False).stderr


def listing_after(root: Path, *args: str) -> dict[str, dict[str, str]]:
    beet(root, *args)
    return listing(root)


def test_undo_leaves_an_item_retagged_since_alone(tmp_path: Path) -> None:
    root = make_library(tmp_path, {"a.mp3": (), "b.mp3": ()}, unsure=True)
    beet(root, "import", "-A", str(root / "music"))
    beet(root, "genreclassify")
    beet(root, "modify", "-y", f"path:{root / 'music' / 'b.mp3'}", "genres=Shoegaze")
    result = beet(root, "genreclassify", "--undo")
    assert "left alone (retagged since): 1" in result.stdout and "restored: 1" in result.stdout
    assert {name: row["genres"] for name, row in listing(root).items()} == {"a.mp3": "", "b.mp3": "Shoegaze"}


def test_auto_classifies_new_items_on_import(tmp_path: Path) -> None:
    root = make_library(tmp_path, {"new.mp3": (), "hand.mp3": ("Shoegaze",)}, auto=True, unsure=True)
    beet(root, "import", "-A", str(root / "music"))
    rows = listing(root)
    assert rows["new.mp3"]["genres"] in TEN and 0 < float(rows["new.mp3"]["probability"]) <= 1
    assert rows["hand.mp3"]["genres"] == "Shoegaze" and rows["hand.mp3"]["probability"] != "$genreclassify_probability"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_within_two_seconds_with_every_item_old_or_new(tmp_path: Path, sig: signal.Signals) -> None:
    root = make_library(tmp_path, {f"s{i}.mp3": () for i in range(12)}, unsure=True)
    beet(root, "import", "-A", str(root / "music"))
    process = subprocess.Popen([sys.executable, "-m", "beets", "genreclassify"], cwd=root, env=beets_env(root),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    assert first.startswith("fill: "), first + process.stderr.read()
    process.send_signal(sig)
    sent = time.monotonic()
    process.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0
    rows = listing(root).values()
    new = [row for row in rows if row["genres"]]
    assert 1 <= len(new) < 12
    for row in rows:  # old: nothing of ours; new: the genre and everything with it
        assert (row["genres"] in TEN) == (row["written"] == json.dumps([row["genres"]])) == (
            row["probability"] != "$genreclassify_probability")
