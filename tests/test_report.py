"""apps/report.py: docs/accuracy.md, written from the model card (class_xls/metrics.json): the per-source table
first, then the ablation, every evaluation, the songs of none of the ten, per genre and a glossary."""
from __future__ import annotations

from pathlib import Path

from codeFeature.apps.report import SOURCE_NAMES, main
from codeFeature.config import GENRES
from codeFeature.engine.engines import ENGINES


def test_the_page_leads_with_the_sources_and_covers_every_engine(capsys) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "# Accuracy" and "python -m codeFeature.report --out docs/accuracy.md" in out
    sections = [line for line in lines if line.startswith("## ")]
    assert sections[:2] == ["## By source", "## Genre-head designs (ablation)"] and sections[-1] == "## Glossary"
    by_source = out[out.index("## By source"):out.index("## Genre-head")]
    for engine in ENGINES:  # every engine on every large source, held out by artist and left out whole
        for name in (SOURCE_NAMES["GTZAN"], SOURCE_NAMES["haritha1313/muze"],
                     SOURCE_NAMES["RohitJacob/MusicAnalysis"]):
            assert any(row.startswith(f"| {engine}") or row.startswith(f"| **{engine}**")
                       for row in by_source.splitlines() if f"| {name} |" in row), (engine, name)
    ablation = [line for line in lines if "**(shipped)**" in line]
    assert len(ablation) == 1 and " G |" in ablation[0]  # the ablation names the shipped design and its cost
    assert all(f"| {genre} |" in out for genre in GENRES)


def test_missing_metrics(tmp_path: Path, capsys) -> None:
    assert main(["--model-dir", str(tmp_path)]) == 2
    assert "engines.json is missing" in capsys.readouterr().err
