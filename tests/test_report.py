"""apps/report.py: the README's accuracy tables are exactly what the report command prints from the model card
(class_xls/metrics.json)."""
from __future__ import annotations

from pathlib import Path

from codeFeature.apps.report import main, render
from codeFeature.config import ENGINES, GENRES, MODEL_DIR
from codeFeature.engine.card import read_card

PROJECT = Path(__file__).resolve().parent.parent


def test_readme_numbers_come_from_the_shipped_metrics() -> None:
    table = render(read_card(MODEL_DIR))
    assert table in (PROJECT / "README.md").read_text()


def test_table_has_every_genre_and_both_evaluations(capsys) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "grouped 5-fold CV" in out and "artist-filtered split" in out
    assert all(f"| {genre} |" in out for genre in GENRES)
    rows = [line for line in out.splitlines() if "| real songs, artist-grouped 5-fold CV | " in line]
    # every engine, real songs first
    assert len(rows) == len(ENGINES) and out.index(rows[0]) < out.index("| GTZAN, grouped 5-fold CV over tracks | ")
    assert all(row.split(" | ")[6].endswith(")") for row in rows)  # the rows without `doubt`, with their count
    outside = [line for line in out.splitlines() if line.startswith("| ") and "| 60 |" in line]
    assert len(outside) == len(ENGINES)  # every engine on the 60 songs of none of the ten genres
    lines = out.splitlines()
    assert lines[0].startswith("| engine | held-out source")  # the report leads with the per-source table
    by_source = [line for line in lines if line.startswith("| ") and "| GTZAN |" in line]
    assert len(by_source) == len(ENGINES)  # every engine, GTZAN held out
    ablation = [line for line in lines if "(shipped)" in line]
    assert len(ablation) == 1 and " G |" in ablation[0]  # the ablation names the shipped set and its cost


def test_missing_metrics(tmp_path: Path, capsys) -> None:
    assert main(["--model-dir", str(tmp_path)]) == 2
    assert "engines.json is missing" in capsys.readouterr().err
