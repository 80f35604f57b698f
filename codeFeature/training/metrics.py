"""Evaluation: held-out predictions per audio variant, and their figures (track- and segment-level accuracy, top-3,
macro recall, per-class P/R/F1, confusion matrix)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from codeFeature.config import GENRES
from codeFeature.engine.card import GTZAN_HEADLINE
from codeFeature.models.runtime import InferenceModel
from codeFeature.models.song import judge_segments, top_k
from codeFeature.training.augment import VARIANTS


@dataclass(frozen=True)
class TrackPrediction:
    """One track as an engine judged it: `song` (genres,) probabilities, as the app reports the song,
    `segments` (segments, genres), the judged segments' own, and `outside`, the probability that the song is none
    of the ten genres (engines with the genre head; None for the CNN)."""

    song: np.ndarray
    segments: np.ndarray
    outside: float | None = None


@dataclass
class Run:
    """One evaluation run of one engine: its name ("split", "cv1", ...), the held-out track indices, and per audio
    variant (VARIANTS) the TrackPrediction of each of them, in `test_idx` order."""

    name: str
    test_idx: np.ndarray
    predictions: dict[str, list[TrackPrediction]]
    best_epoch: int | None = None
    seconds: float = 0.0
    history: list[float] = field(default_factory=list)
    selection: dict | None = None  # the genre head's design chosen inside the run's training tracks


def held_out_predictions(model: InferenceModel, features: Sequence,
                         idx: np.ndarray) -> dict[str, list[TrackPrediction]]:
    """Per variant (VARIANTS), the TrackPrediction of each track in `idx` by a per-segment model (the CNN, compiled
    as served), judged on its `eval` segments by `song.judge_segments`, as serving does. `features[i]` is a
    dataset.TrackFeatures ((variants, segments, ...) model inputs and silence flags)."""
    return {variant: [TrackPrediction(*judge_segments(model, features[i].eval[v], features[i].silent[v]))
                      for i in idx]
            for v, variant in enumerate(VARIANTS)}


def summarise(labels: Sequence[int], predictions: Sequence[int]) -> dict:
    """Accuracy, macro recall (mean recall over the genres present), per-class P/R/F1/support, confusion."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    every = list(range(len(GENRES)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=every, zero_division=0)
    present = support > 0
    return {
        "n": int(len(labels)),
        "accuracy": round(float(np.mean(labels == predictions)), 4) if len(labels) else 0.0,
        "macro_recall": round(float(np.mean(recall[present])), 4) if present.any() else 0.0,
        "macro_f1": round(float(np.mean(f1[present])), 4) if present.any() else 0.0,
        "per_class": {genre: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                              "f1": round(float(f), 4), "support": int(s)}
                      for genre, p, r, f, s in zip(GENRES, precision, recall, f1, support)},
        "confusion": confusion_matrix(labels, predictions, labels=every).tolist(),
    }


def evaluate_tracks(labels: Sequence[int], predictions: Sequence[TrackPrediction]) -> dict:
    """Figures for a set of held-out tracks, `predictions[i]` of track i with genre index `labels[i]`.

    Returns {"track": summarise(...) of the song probabilities plus "top3_accuracy", "segment": summarise(...) of
    every judged segment}.
    """
    track = summarise(labels, [int(top_k(p.song, 1)[0]) for p in predictions])
    hits = [label in top_k(p.song, 3) for label, p in zip(labels, predictions)]
    track["top3_accuracy"] = round(float(np.mean(hits)), 4) if hits else 0.0
    seg_labels = np.concatenate([[label] * len(p.segments) for label, p in zip(labels, predictions)])
    seg_pred = np.concatenate([np.argmax(p.segments, axis=1) for p in predictions])
    return {"track": track, "segment": summarise(seg_labels, seg_pred)}


def headline(evaluation: dict) -> dict | None:
    """The GTZAN summary that speaks for an engine: cross-validation if it ran, else the artist-filtered split (None
    if neither did). `evaluation` is metrics.json's {"cv": ..., "split": ..., "realsongs": ...} of one engine."""
    return next((evaluation[kind] for kind in GTZAN_HEADLINE if kind in evaluation), None)


def plot_confusion(confusion: Sequence[Sequence[int]], title: str, path: Path) -> None:
    """Write a confusion-matrix heatmap (rows: true genre, columns: predicted) to `path` as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(GENRES)), GENRES, rotation=45, ha="right")
    ax.set_yticks(range(len(GENRES)), GENRES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for (row, col), value in np.ndenumerate(matrix):
        if value:
            ax.text(col, row, str(value), ha="center", va="center",
                    color="white" if value > matrix.max() / 2 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
