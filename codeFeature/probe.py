"""Which genre head should read musicnn? Compare designs on GTZAN and on real songs, judged by track.

    python -m codeFeature.probe --data ../shared/gtzan --realsongs ../shared/realsongs

Every design is a song-level logistic regression (train_head) that differs in what it reads (the MSD tag logits,
the 200-number embedding, or both with the embedding scaled down), whether real songs are trained on and how much
they weigh, and its L2 strength. Each is fitted and judged on exactly the training command's runs: GTZAN 5-fold CV
and the artist-filtered split, with the real songs held out by artist-grouped 5-fold CV. Prints a Markdown table of
held-out figures on the original audio. Needs the feature cache (the training command builds it if absent).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import dataset, realsongs, train, train_head
from .config import MSD_TAGS, PROJECT_DIR
from .model_card import original_track
from .train_head import HeadSettings

_TAGS = slice(0, len(MSD_TAGS))  # head inputs are the tag logits, then the embedding (config.HEAD_INPUTS)
_EMBEDDING = slice(len(MSD_TAGS), None)


@dataclass(frozen=True)
class Design:
    """One candidate head: its name, which inputs it reads ("tags", "embedding" or "both"), whether it trains on
    the real songs, and its settings (real_weight, c, embedding_scale)."""

    name: str
    reads: str
    real_songs: bool
    settings: HeadSettings


DESIGNS = (
    Design("embedding, GTZAN only", "embedding", False, HeadSettings(c=0.1, embedding_scale=1.0)),
    Design("embedding, + real songs x3", "embedding", True, HeadSettings(c=0.01, embedding_scale=1.0)),
    Design("tags, GTZAN only", "tags", False, HeadSettings(c=0.03)),
    Design("tags, + real songs x3", "tags", True, HeadSettings(c=0.03)),
    Design("tags + 0.15 x embedding, GTZAN only", "both", False, HeadSettings()),
    Design("tags + 0.15 x embedding, + real songs x3 (shipped)", "both", True, HeadSettings()),
    Design("tags + 0.3 x embedding, + real songs x3", "both", True, HeadSettings(embedding_scale=0.3)),
    Design("tags + 0.15 x embedding, + real songs x10", "both", True, HeadSettings(real_weight=10.0)),
)


def design_inputs(inputs: list[dataset.TrackFeatures], reads: str) -> list[dataset.TrackFeatures]:
    """The part of the head inputs a design reads."""
    if reads == "both":
        return inputs
    part = _TAGS if reads == "tags" else _EMBEDDING
    return [dataset.TrackFeatures(f.eval[..., part], f.crops[..., part], f.silent) for f in inputs]


def evaluate(design: Design, inputs: list[dataset.TrackFeatures], data, jobs: list[train.Job]) -> dict:
    """{"cv", "split", "realsongs"} held-out summaries of `design` on `jobs` (see train.summarise_runs)."""
    chosen = design_inputs(inputs, design.reads)
    runs = []
    for job in jobs:
        fit_idx = job.train_idx if design.real_songs else job.train_idx[~data.real[job.train_idx]]
        runs.append(train_head.run(job.name, chosen, data.labels, data.real, fit_idx, job.test_idx, design.settings))
    return {kind: summary for kind in ("cv", "split", "realsongs")
            if (summary := train.summarise_runs(data, runs, kind)) is not None}


def row(design: Design, evaluation: dict) -> str:
    """One Markdown row: GTZAN CV and split accuracy / macro recall, real songs top-1 / top-3 / macro recall."""
    cells = [design.name]
    for kind in ("cv", "split"):
        track = original_track(evaluation[kind]) if kind in evaluation else None
        cells.append(f"{track['accuracy']:.3f} / {track['macro_recall']:.3f}" if track else "–")
    real = evaluation.get("realsongs", {}).get("track")
    cells.append(f"{real['accuracy']:.3f} / {real['top3_accuracy']:.3f} / {real['macro_recall']:.3f}" if real
                 else "–")
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.probe", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--realsongs", type=Path)
    parser.add_argument("--cache", type=Path, default=PROJECT_DIR / ".cache" / "features")
    parser.add_argument("--workers", type=int)
    args = parser.parse_args(argv)
    tracks = dataset.discover(args.data) + (realsongs.discover(args.realsongs) if args.realsongs else [])
    quiet = lambda _: None  # noqa: E731
    tracks, _ = dataset.load_features(tracks, args.cache, workers=args.workers, log=quiet)
    inputs, _ = train.musicnn_inputs(tracks, args.cache, 0, args.workers, quiet)
    data = SimpleNamespace(tracks=tracks, labels=np.array([t.label for t in tracks]),
                           real=np.array([realsongs.is_real(t) for t in tracks], dtype=bool))
    jobs = train.evaluation_jobs(data, folds=5, use_split=True, settings=train.TrainSettings())
    print("| design | GTZAN CV: accuracy / macro recall | artist split: accuracy / macro recall | "
          "real songs: top-1 / top-3 / macro recall |")
    print("|---|---|---|---|")
    for design in DESIGNS:
        print(row(design, evaluate(design, inputs, data, jobs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
