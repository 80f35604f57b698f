"""Print the engines' measured accuracy from class_xls/metrics.json as the Markdown tables the README shows.

    python -m codeFeature.report [--model-dir class_xls]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codeFeature.config import GENRES, MODEL_DIR
from codeFeature.engine.card import EngineCard, Figures, ModelCard
from codeFeature.engine.model_folder import ModelFolder
from codeFeature.errors import ModelFilesError

TITLES = {"realsongs": "real songs, artist-grouped 5-fold CV", "cv": "GTZAN, grouped 5-fold CV over tracks",
          "split": "GTZAN, artist-filtered split (valid part)"}  # one per card.EVALUATIONS


def render(card: ModelCard) -> str:
    """Markdown: the leave-one-source-out table (one row per engine and held-out source), the genre head's ablation
    (every set of pretrained networks on the same runs), a summary table (one row per engine and evaluation, real
    songs first, with the rows without `doubt`, the "not sure" rule, the songs of none of the ten genres and the
    audio variants) and a per-genre table (real-song recall, GTZAN cross-validated precision / recall)."""
    engines = card.engines
    lines = [*_sources_table(engines, card), *_ablation_table(engines)]
    lines += ["| engine | evaluation | held-out tracks | top-1 accuracy | top-3 accuracy | macro recall | "
             "top-1 without `doubt` | confident: share / right | full clips only: accuracy / macro recall | "
             "loud master | loud + lossy |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, title in TITLES.items():
        for engine, details in engines.items():
            figures = details.measured.get(kind)
            if figures is not None:
                lines.append(f"| {_name(engine, card)} | {title} | {_row(figures)} |")
    outside = {engine: d.outside for engine, d in engines.items() if d.outside is not None}
    if outside:
        lines += ["", "| engine | songs of none of the ten genres, held out by artist | called \"not sure\" | "
                      "by \"none of the ten\" / \"close call\" |", "|---|---|---|---|"]
        lines += [f"| {_name(engine, card)} | {o.tracks} | {o.not_sure:.2f} | {o.called_outside} / {o.called_close} |"
                  for engine, o in outside.items()]
    real = {e: d.measured["realsongs"] for e, d in engines.items() if "realsongs" in d.measured}
    gtzan = {e: d.gtzan for e, d in engines.items() if d.gtzan is not None}
    if real or gtzan:
        header = ["genre"]
        header += ["real songs", *(f"{e} real recall" for e in real)] if real else []
        header += ["GTZAN tracks", *(f"{e} GTZAN precision / recall" for e in gtzan)] if gtzan else []
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for genre in GENRES:
            cells = [genre]
            if real:
                cells += [str(next(iter(real.values())).support[genre])]
                cells += [f"{f.recall[genre]:.2f}" if f.recall[genre] is not None else "–" for f in real.values()]
            if gtzan:
                cells += [str(next(iter(gtzan.values())).support[genre])]
                cells += [f"{f.precision[genre]:.2f} / {f.recall[genre] or 0:.2f}" for f in gtzan.values()]
            lines.append("| " + " | ".join(cells) + " |")
    ensemble = engines.get("ensemble")
    if ensemble is not None and ensemble.musicnn_weight is not None:
        lines += ["", f"Ensemble: {ensemble.musicnn_weight:.1f} × musicnn + "
                      f"{1 - ensemble.musicnn_weight:.1f} × CNN. Default engine: {card.default_engine}. "
                      "Not sure below a margin between the top two genres of "
                      + ", ".join(f"{d.not_sure['min_margin']:.2f} ({e})" for e, d in engines.items())
                      + "; \"none of the ten\" from a probability of "
                      + ", ".join(f"{d.not_sure['max_outside']:.2f} ({e})" for e, d in engines.items()
                                  if d.not_sure["max_outside"] < 1) + "."]
    return "\n".join(lines)


def _sources_table(engines: dict[str, EngineCard], card: ModelCard) -> list[str]:
    """Leave-one-source-out: per engine and held-out source, its figures and its songs of none of the ten."""
    rows = []
    for engine, details in engines.items():
        for group, f in details.sources.items():
            outside = details.sources_outside.get(group)
            clear = f"{f.no_doubt_accuracy:.3f} ({f.no_doubt_tracks})" if f.no_doubt_accuracy is not None else "–"
            sure = f"{f.confident_share:.2f} / {f.confident_accuracy:.3f}" if f.confident_share is not None else "–"
            rows.append(f"| {_name(engine, card)} | {group} | {f.tracks} | {f.accuracy:.3f} | {f.top3_accuracy:.3f} | "
                        f"{f.macro_recall:.3f} | {clear} | {sure} | "
                        + (f"{outside.not_sure:.2f} of {outside.tracks}" if outside is not None else "–") + " |")
    if not rows:
        return []
    return ["| engine | held-out source (trained on the others) | songs | top-1 accuracy | top-3 accuracy | "
            "macro recall | top-1 without `doubt` | confident: share / right | none of the ten called not sure |",
            "|---|---|---|---|---|---|---|---|---|", *rows, ""]


def _ablation_table(engines: dict[str, EngineCard]) -> list[str]:
    """The genre head over each set of pretrained networks, on the same runs (each with its own best design)."""
    rows = [row for details in engines.values() for row in details.ablation]
    if not rows:
        return []
    groups = list(dict.fromkeys(group for row in rows for group in row.source_accuracy))
    kinds = [kind for kind in TITLES if any(kind in row.accuracy for row in rows)]
    header = ["networks the genre head reads", "multiply-adds per song",
              *(f"{group} top-1 (held out)" for group in groups),
              *(f"{TITLES[kind]}: top-1" for kind in kinds), "real songs: macro recall"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in sorted(rows, key=lambda r: (len(r.ears), r.macs_per_song)):
        cells = [" + ".join(row.ears) + (" (shipped)" if row.shipped else ""), f"{row.macs_per_song / 1e9:.1f} G"]
        cells += [f"{row.source_accuracy[g]:.3f}" if g in row.source_accuracy else "–" for g in groups]
        cells += [f"{row.accuracy[k]:.3f}" if k in row.accuracy else "–" for k in kinds]
        cells.append(f"{row.real_macro_recall:.3f}" if row.real_macro_recall is not None else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _row(f: Figures) -> str:
    """The summary table's cells after the evaluation's title."""
    clear = f"{f.no_doubt_accuracy:.3f} ({f.no_doubt_tracks})" if f.no_doubt_accuracy is not None else "–"
    sure = f"{f.confident_share:.2f} / {f.confident_accuracy:.3f}" if f.confident_share is not None else "–"
    clips = (f"{f.full_clips_accuracy:.3f} / {f.full_clips_macro_recall:.3f}" if f.full_clips_accuracy is not None
             else "–")
    return (f"{f.tracks} | {f.accuracy:.3f} | {f.top3_accuracy:.3f} | {f.macro_recall:.3f} | {clear} | {sure} | "
            f"{clips} | {f.loud_accuracy:.3f} | {f.loud_lossy_accuracy:.3f}")


def _name(engine: str, card: ModelCard) -> str:
    return f"**{engine}** (default)" if engine == card.default_engine else engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.report", description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="folder with the model files")
    args = parser.parse_args(argv)
    try:
        card = ModelFolder.open(args.model_dir).card
    except ModelFilesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(card))
    return 0


if __name__ == "__main__":
    sys.exit(main())
