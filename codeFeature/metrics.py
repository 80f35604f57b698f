"""Evaluation: held-out predictions per audio variant, and their figures (track- and segment-level accuracy, macro
recall, per-class P/R/F1, confusion matrix)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from .augment import VARIANTS
from .config import GENRES


def predict_probabilities(model, x: np.ndarray, batch: int = 2048) -> np.ndarray:
    """A genre model's softmax outputs (float64) for (n, ...) inputs, in inference mode, `batch` rows per eager
    call (eager: no retracing for each new number of rows)."""
    outputs = [np.asarray(model(x[i:i + batch].astype(np.float32), training=False), dtype=np.float64)
               for i in range(0, len(x), batch)]
    return np.concatenate(outputs) if outputs else np.zeros((0, len(GENRES)))


def held_out_probabilities(model, features: Sequence, idx: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Per variant (VARIANTS), the (segments, genres) probabilities of each track in `idx`, judged on its `eval`
    segments; `features[i].eval` is (variants, segments, ...) model input (dataset.TrackFeatures)."""
    result = {}
    for v, variant in enumerate(VARIANTS):
        stacked = np.concatenate([features[i].eval[v] for i in idx])
        probs = predict_probabilities(model, stacked)
        result[variant] = np.split(probs, np.cumsum([len(features[i].eval[v]) for i in idx])[:-1])
    return result


def track_probabilities(segment_probs: np.ndarray) -> np.ndarray:
    """(segments, genres) probabilities of one track -> (genres,): the mean, as the app reports a song."""
    return np.asarray(segment_probs, dtype=np.float64).mean(axis=0)


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


def evaluate_tracks(labels: Sequence[int], segment_probs: Sequence[np.ndarray]) -> dict:
    """Figures for a set of held-out tracks: `segment_probs[i]` is (segments, genres) for track i.

    Returns {"track": summarise(...) on mean probabilities, "segment": summarise(...) on every segment}.
    """
    track_pred = [int(np.argmax(track_probabilities(p))) for p in segment_probs]
    seg_labels = np.concatenate([[label] * len(p) for label, p in zip(labels, segment_probs)])
    seg_pred = np.concatenate([np.argmax(p, axis=1) for p in segment_probs])
    return {"track": summarise(labels, track_pred), "segment": summarise(seg_labels, seg_pred)}


def headline(evaluation: dict) -> dict | None:
    """The summary that speaks for an engine: cross-validation if it ran, else the artist-filtered split (None if
    neither did). `evaluation` is metrics.json's {"cv": ..., "split": ...} of one engine."""
    return evaluation.get("cv") or evaluation.get("split")


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
