"""training/realsongs.py: a labels.csv folder becomes tracks with their artists; every malformed folder is a clear
error."""
from __future__ import annotations

from pathlib import Path

import pytest

from codeFeature.errors import DatasetError
from codeFeature.training import realsongs


def _folder(root: Path, rows: list[str]) -> Path:
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "audio" / "rock__band__song.opus").write_bytes(b"x")
    (root / "labels.csv").write_text("file,genre,artist,title,doubt\n" + "\n".join(rows) + "\n")
    return root


def test_discover_reads_genre_artist_doubt_and_file(tmp_path: Path) -> None:
    (track,) = realsongs.discover(_folder(tmp_path, ["audio/rock__band__song.opus,rock,The Band,Song,"]))
    assert track.track_id == "real.rock__band__song" and track.genre == "rock" and track.artist == "The Band"
    assert track.clip == tmp_path / "audio" / "rock__band__song.opus" and realsongs.is_real(track)
    assert not track.doubt and not realsongs.is_outside(track)
    (track,) = realsongs.discover(_folder(tmp_path, ["audio/rock__band__song.opus,rock,The Band,Song,soft rock"]))
    assert track.doubt


def test_songs_of_none_of_the_ten_genres(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["audio/rock__band__song.opus,rock,The Band,Song,"])
    assert realsongs.discover_outside(folder) == []  # outside.csv is optional
    (folder / "outside").mkdir()
    (folder / "outside" / "folk__singer__ballad.opus").write_bytes(b"x")
    (folder / "outside.csv").write_text("file,outside_genre,artist,title\n"
                                        "outside/folk__singer__ballad.opus,folk,A Singer,Ballad\n")
    (track,) = realsongs.discover_outside(folder)
    assert track.track_id == "outside.folk__singer__ballad" and track.genre == "folk" and track.artist == "A Singer"
    assert realsongs.is_outside(track) and not realsongs.is_real(track)
    (folder / "outside.csv").write_text("file,outside_genre,artist,title\n"
                                        "outside/folk__singer__ballad.opus,rock,A Singer,Ballad\n")
    with pytest.raises(DatasetError, match="one of the ten"):
        realsongs.discover_outside(folder)


@pytest.mark.parametrize("rows,message", [
    (["audio/rock__band__song.opus,techno,X,Y"], "unknown genre 'techno'"),
    (["audio/missing.opus,rock,X,Y"], "no file"),
    ([], "lists no songs"),
])
def test_malformed_folders(tmp_path: Path, rows: list[str], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        realsongs.discover(_folder(tmp_path, rows))


def test_missing_labels(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No labels.csv"):
        realsongs.discover(tmp_path)
