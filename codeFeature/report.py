"""Print the engines' measured accuracy from class_xls/metrics.json as the Markdown tables the README shows.

    python -m codeFeature.report [--metrics class_xls/metrics.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import GENRES, METRICS_JSON, MODEL_DIR
from .metrics import headline

_EVALUATIONS = {"cv": "grouped 5-fold CV over tracks", "split": "artist-filtered split (valid part)"}


def render(report: dict) -> str:
    """Markdown: a summary table (one row per engine and evaluation, with the audio variants) and a per-genre
    table of every engine's cross-validated precision / recall."""
    engines = report["engines"]
    lines = ["| engine | evaluation | held-out tracks | track accuracy | macro recall | full clips only: accuracy / "
             "macro recall | loud master | loud + lossy |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, title in _EVALUATIONS.items():
        for engine, details in engines.items():
            summary = details["evaluation"].get(kind)
            if summary is None:
                continue
            track, clips = summary["original"]["track"], summary["original_full_clips_only"]
            name = f"**{engine}** (default)" if engine == report["default_engine"] else engine
            lines.append(f"| {name} | {title} | {track['n']} | {track['accuracy']:.3f} | "
                         f"{track['macro_recall']:.3f} | {clips['accuracy']:.3f} / {clips['macro_recall']:.3f} | "
                         f"{summary['modern']['track']['accuracy']:.3f} | "
                         f"{summary['modern_lossy']['track']['accuracy']:.3f} |")
    per_engine = {engine: summary["original"]["track"]["per_class"] for engine, details in engines.items()
                  if (summary := headline(details["evaluation"])) is not None}
    if per_engine:
        first = next(iter(per_engine.values()))
        lines += ["", "| genre | tracks | " + " | ".join(f"{e} precision / recall" for e in per_engine) + " |",
                  "|---|---|" + "---|" * len(per_engine)]
        lines += [f"| {genre} | {first[genre]['support']} | "
                  + " | ".join(f"{c[genre]['precision']:.2f} / {c[genre]['recall']:.2f}" for c in per_engine.values())
                  + " |" for genre in GENRES]
    ensemble = engines.get("ensemble")
    if ensemble is not None:
        lines += ["", f"Ensemble: {ensemble['musicnn_weight']:.1f} × musicnn + "
                      f"{1 - ensemble['musicnn_weight']:.1f} × CNN per segment. Default engine: "
                      f"{report['default_engine']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.report", description=__doc__.split("\n")[0])
    parser.add_argument("--metrics", type=Path, default=MODEL_DIR / METRICS_JSON)
    args = parser.parse_args(argv)
    if not args.metrics.is_file():
        print(f"error: no metrics file at {args.metrics}", file=sys.stderr)
        return 2
    print(render(json.loads(args.metrics.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
