"""Print the model's measured accuracy from class_xls/metrics.json as the Markdown tables the README shows.

    python -m codeFeature.report [--metrics class_xls/metrics.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import GENRES, METRICS_JSON, MODEL_DIR

_EVALUATIONS = {"cv": "grouped 5-fold CV over tracks", "split": "artist-filtered split (valid part)"}


def render(report: dict) -> str:
    """Markdown: a summary table (one row per evaluation and audio variant) and a per-genre table."""
    lines = ["| evaluation | held-out tracks | track accuracy | macro recall | full clips only: accuracy / macro "
             "recall | loud master | loud + lossy |",
             "|---|---|---|---|---|---|---|"]
    for kind, title in _EVALUATIONS.items():
        summary = report["evaluation"].get(kind)
        if summary is None:
            continue
        track, clips = summary["original"]["track"], summary["original_full_clips_only"]
        lines.append(f"| {title} | {track['n']} | {track['accuracy']:.3f} | {track['macro_recall']:.3f} | "
                     f"{clips['accuracy']:.3f} / {clips['macro_recall']:.3f} | "
                     f"{summary['modern']['track']['accuracy']:.3f} | "
                     f"{summary['modern_lossy']['track']['accuracy']:.3f} |")
    cv = report["evaluation"].get("cv") or report["evaluation"].get("split")
    if cv is not None:
        per_class = cv["original"]["track"]["per_class"]
        lines += ["", "| genre | tracks | precision | recall | F1 |", "|---|---|---|---|---|"]
        lines += [f"| {genre} | {per_class[genre]['support']} | {per_class[genre]['precision']:.2f} | "
                  f"{per_class[genre]['recall']:.2f} | {per_class[genre]['f1']:.2f} |" for genre in GENRES]
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
