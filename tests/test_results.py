"""tagging/results.py: rows round-trip through Parquet parts, parts appear whole, hashes of done files are found."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pyarrow.parquet as pq

from codeFeature.config import GENRES
from codeFeature.tagging.results import (
    SCHEMA,
    PartWriter,
    ResultRow,
    done_hashes,
    read_results,
)


def _row(i: int, error: str | None = None) -> ResultRow:
    if error:
        return ResultRow(path=f"/music/{i}.mp3", sha1=f"{i:040x}", duration_s=None, genre=None, probabilities=None,
                         tags=[], confident=None, engine="cnn", model_digest="sha256:ab", error=error)
    probabilities = {genre: (1.0 if genre == "rock" else 0.0) for genre in GENRES}
    return ResultRow(path=f"/music/{i}.mp3", sha1=f"{i:040x}", duration_s=30.0, genre="rock",
                     probabilities=probabilities, tags=["rock", "90s"], confident=True, engine="cnn",
                     model_digest="sha256:ab", error=None)


def test_schema_has_a_column_for_every_field() -> None:
    names = {f.name for f in fields(ResultRow)} - {"probabilities"}
    assert names | {f"prob_{genre}" for genre in GENRES} == set(SCHEMA.names)


def test_rows_round_trip_through_parts(tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    writer = PartWriter(out, every_rows=2)
    rows = [_row(0), _row(1, "The file is empty."), _row(2)]
    for row in rows:
        writer.add(row)
    assert len(list(out.glob("part-*.parquet"))) == 1  # two rows made a part; the third waits
    writer.flush()
    assert writer.written == 3 and len(list(out.glob("part-*.parquet"))) == 2
    table = read_results(out)
    assert sorted(map(ResultRow.from_record, table.to_pylist()), key=lambda r: r.path) == rows
    assert pq.read_table(out).num_rows == 3  # the folder reads as one table
    assert done_hashes(out) == {row.sha1 for row in rows}


def test_a_new_folder_and_leftovers_of_a_killed_run(tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    assert done_hashes(out) == set() and read_results(out).num_rows == 0
    out.mkdir()
    (out / ".writing-part-x.parquet").write_bytes(b"half a par")
    assert done_hashes(out) == set() and list(out.iterdir()) == []
