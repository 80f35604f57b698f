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
from .model_card import original_track

_EVALUATIONS = {"realsongs": "real songs, artist-grouped 5-fold CV", "cv": "GTZAN, grouped 5-fold CV over tracks",
                "split": "GTZAN, artist-filtered split (valid part)"}


def render(report: dict) -> str:
    """Markdown: a summary table (one row per engine and evaluation, real songs first, with the rows without
    `doubt`, the "not sure" rule, the songs of none of the ten genres and the audio variants) and a per-genre table
    (real-song recall, GTZAN cross-validated precision / recall)."""
    engines = report["engines"]
    lines = ["| engine | evaluation | held-out tracks | top-1 accuracy | top-3 accuracy | macro recall | "
             "top-1 without `doubt` | confident: share / right | full clips only: accuracy / macro recall | "
             "loud master | loud + lossy |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, title in _EVALUATIONS.items():
        for engine, details in engines.items():
            summary = details["evaluation"].get(kind)
            if summary is None:
                continue
            track = original_track(summary)
            clips = summary.get("original_full_clips_only")
            clear = summary.get("no_doubt")
            sure = summary["confidence"]
            lines.append(f"| {_name(engine, report)} | {title} | {track['n']} | {track['accuracy']:.3f} | "
                         f"{track['top3_accuracy']:.3f} | {track['macro_recall']:.3f} | "
                         + (f"{clear['accuracy']:.3f} ({clear['n']})" if clear else "–") + " | "
                         f"{sure['coverage']:.2f} / {sure['accuracy']:.3f} | "
                         + (f"{clips['accuracy']:.3f} / {clips['macro_recall']:.3f}" if clips else "–") + " | "
                         f"{summary['modern']['track']['accuracy']:.3f} | "
                         f"{summary['modern_lossy']['track']['accuracy']:.3f} |")
    outside = {engine: d["evaluation"]["outside"] for engine, d in engines.items() if "outside" in d["evaluation"]}
    if outside:
        lines += ["", "| engine | songs of none of the ten genres, held out by artist | called \"not sure\" | "
                      "by \"none of the ten\" / \"close call\" |", "|---|---|---|---|"]
        lines += [f"| {_name(engine, report)} | {summary['n']} | {summary['not_sure']:.2f} | "
                  f"{summary['reasons']['outside']} / {summary['reasons']['close']} |"
                  for engine, summary in outside.items()]
    real = {e: d["evaluation"]["realsongs"]["track"]["per_class"] for e, d in engines.items()
            if "realsongs" in d["evaluation"]}
    gtzan = {e: summary["original"]["track"]["per_class"] for e, d in engines.items()
             if (summary := headline(d["evaluation"])) is not None}
    if real or gtzan:
        header = ["genre"]
        header += ["real songs", *(f"{e} real recall" for e in real)] if real else []
        header += ["GTZAN tracks", *(f"{e} GTZAN precision / recall" for e in gtzan)] if gtzan else []
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for genre in GENRES:
            cells = [genre]
            if real:
                cells += [str(next(iter(real.values()))[genre]["support"])]
                cells += [f"{c[genre]['recall']:.2f}" if c[genre]["support"] else "–" for c in real.values()]
            if gtzan:
                cells += [str(next(iter(gtzan.values()))[genre]["support"])]
                cells += [f"{c[genre]['precision']:.2f} / {c[genre]['recall']:.2f}" for c in gtzan.values()]
            lines.append("| " + " | ".join(cells) + " |")
    ensemble = engines.get("ensemble")
    if ensemble is not None:
        lines += ["", f"Ensemble: {ensemble['musicnn_weight']:.1f} × musicnn + "
                      f"{1 - ensemble['musicnn_weight']:.1f} × CNN. Default engine: {report['default_engine']}. "
                      "Not sure below a margin between the top two genres of "
                      + ", ".join(f"{d['not_sure']['min_margin']:.2f} ({e})" for e, d in engines.items())
                      + "; \"none of the ten\" from a probability of "
                      + ", ".join(f"{d['not_sure']['max_outside']:.2f} ({e})" for e, d in engines.items()
                                  if d["not_sure"]["max_outside"] < 1) + "."]
    return "\n".join(lines)


def _name(engine: str, report: dict) -> str:
    return f"**{engine}** (default)" if engine == report["default_engine"] else engine


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
