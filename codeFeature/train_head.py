"""Fit the genre head on cached musicnn outputs, and judge held-out tracks with it.

One example per track and audio variant: the song's row (`genre_head.song_rows`: the mean of its judged segments'
head inputs), exactly what serving feeds the head. Inputs are standardised; the embedding's numbers are then scaled
by `embedding_scale` (a stronger L2 penalty on them than on the tags, whose genre boundaries come from real songs).
Weights: every genre carries the same total, and within a genre a real song counts `real_weight` times a GTZAN
track. The fit is scikit-learn's multinomial logistic regression (deterministic), copied into the Keras head.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .augment import VARIANTS
from .config import GENRES, HEAD_INPUTS, MSD_TAGS
from .dataset import TrackFeatures
from .genre_head import build_head, song_rows
from .metrics import Run, TrackPrediction

_ABSENT_LOGIT = -30.0  # bias of a genre with no training track (tiny data sets): never predicted


@dataclass(frozen=True)
class HeadSettings:
    """Hyper-parameters of the genre head (recorded in metrics.json); chosen with `python -m codeFeature.probe`."""

    c: float = 0.03               # inverse L2 strength of the logistic regression
    real_weight: float = 3.0      # a real song's weight relative to a GTZAN track of the same genre
    embedding_scale: float = 0.15  # the embedding's standardised inputs are multiplied by this
    max_iter: int = 5000


def song_examples(inputs: list[TrackFeatures], labels: np.ndarray, real: np.ndarray, idx: np.ndarray,
                  settings: HeadSettings = HeadSettings()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One example per track in `idx` and variant: (x (n, dims) float32, labels (n,), weights (n,), mean 1).
    `inputs[i]` holds head inputs (`genre_head.head_inputs`); `real[i]` says whether track i is a real song."""
    rows, ys, ws = [], [], []
    for i in idx:
        for variant in range(inputs[i].eval.shape[0]):
            rows.append(song_rows(inputs[i].eval[variant], inputs[i].silent[variant])[0])
            ys.append(labels[i])
            ws.append(settings.real_weight if real[i] else 1.0)
    y, w = np.asarray(ys), np.asarray(ws, dtype=np.float64)
    for genre in np.unique(y):
        w[y == genre] /= w[y == genre].sum()
    return np.asarray(rows, np.float32), y, (w / w.mean()).astype(np.float32)


def input_scale(dims: int, settings: HeadSettings) -> np.ndarray:
    """Per input number: 1 for the tag logits, `embedding_scale` for the embedding (see module doc)."""
    scale = np.full(dims, settings.embedding_scale, dtype=np.float64)
    if HEAD_INPUTS[0] == "tags":
        scale[:len(MSD_TAGS)] = 1.0
    return scale


def fit_head(inputs: list[TrackFeatures], labels: np.ndarray, real: np.ndarray, idx: np.ndarray,
             settings: HeadSettings = HeadSettings()):
    """A genre head fitted on tracks `idx`; returns the keras model (see module doc)."""
    from sklearn.linear_model import LogisticRegression

    x, y, w = song_examples(inputs, labels, real, idx, settings)
    mean, variance = x.mean(axis=0, dtype=np.float64), x.var(axis=0, dtype=np.float64) + 1e-6
    scale = input_scale(x.shape[1], settings)
    z = (x - mean) / np.sqrt(variance) * scale
    fitted = LogisticRegression(C=settings.c, max_iter=settings.max_iter).fit(z, y, sample_weight=w)
    kernel = np.zeros((x.shape[1], len(GENRES)))
    bias = np.full(len(GENRES), _ABSENT_LOGIT)
    coef = fitted.coef_ if len(fitted.classes_) > 2 else np.vstack([-fitted.coef_, fitted.coef_]) / 2
    intercept = (fitted.intercept_ if len(fitted.classes_) > 2
                 else np.concatenate([-fitted.intercept_, fitted.intercept_]) / 2)
    kernel[:, fitted.classes_] = (coef * scale).T
    bias[fitted.classes_] = intercept
    return build_head(mean, variance, kernel, bias)


def predict(head, inputs: list[TrackFeatures], idx: np.ndarray) -> dict[str, list[TrackPrediction]]:
    """Per variant (VARIANTS), the TrackPrediction of each track in `idx` from its `song_rows`."""
    result = {}
    for v, variant in enumerate(VARIANTS):
        rows = [song_rows(inputs[i].eval[v], inputs[i].silent[v]) for i in idx]
        probs = np.asarray(head(np.concatenate(rows), training=False), dtype=np.float64)
        parts = np.split(probs, np.cumsum([len(r) for r in rows])[:-1])
        result[variant] = [TrackPrediction(p[0], p[1:]) for p in parts]
    return result


def run(name: str, inputs: list[TrackFeatures], labels: np.ndarray, real: np.ndarray, train_idx: np.ndarray,
        test_idx: np.ndarray, settings: HeadSettings = HeadSettings()) -> Run:
    """One evaluation run: fit on `train_idx`, judge `test_idx`."""
    started = time.perf_counter()
    head = fit_head(inputs, labels, real, train_idx, settings)
    return Run(name, test_idx, predict(head, inputs, test_idx), seconds=round(time.perf_counter() - started, 1))
