"""report.py: the README's accuracy tables are exactly what the report command prints from class_xls/metrics.json."""
from __future__ import annotations

import json
from pathlib import Path

from codeFeature.config import GENRES, METRICS_JSON, MODEL_DIR
from codeFeature.report import main, render

PROJECT = Path(__file__).resolve().parent.parent


def test_readme_numbers_come_from_the_shipped_metrics() -> None:
    table = render(json.loads((MODEL_DIR / METRICS_JSON).read_text()))
    assert table in (PROJECT / "README.md").read_text()


def test_table_has_every_genre_and_both_evaluations(capsys) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "grouped 5-fold CV" in out and "artist-filtered split" in out
    assert all(f"| {genre} |" in out for genre in GENRES)
    rows = [line for line in out.splitlines() if "| real songs, artist-grouped" in line]
    assert len(rows) == 3 and out.index(rows[0]) < out.index("GTZAN, grouped")  # every engine, real songs first
    assert all(row.split(" | ")[6].endswith(")") for row in rows)  # the rows without `doubt`, with their count
    outside = [line for line in out.splitlines() if line.startswith("| ") and "| 60 |" in line]
    assert len(outside) == 3  # every engine on the 60 songs of none of the ten genres


def test_missing_metrics(tmp_path: Path, capsys) -> None:
    assert main(["--metrics", str(tmp_path / "none.json")]) == 2
    assert "no metrics file" in capsys.readouterr().err
