"""Train the genre head on cached musicnn embeddings, and judge held-out tracks with it.

Examples are single 3-s segments (the ten judged segments and the random crops, of every augmentation variant),
weighted so that every genre, and within it every track, counts the same however many segments it has. A track's
probabilities are the mean over its segments, exactly as for the CNN.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import metrics
from .config import GENRES
from .dataset import TrackFeatures


@dataclass(frozen=True)
class HeadSettings:
    """Hyper-parameters of the genre head (recorded in metrics.json)."""

    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 1e-3
    hidden: int = 128
    dropout: float = 0.5
    l2: float = 1e-3
    label_smoothing: float = 0.1
    seed: int = 0


def examples(embeddings: list[TrackFeatures], labels: np.ndarray,
             idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cached segment of tracks `idx`: (x (n, dims) float32, labels (n,), weights (n,), mean 1)."""
    xs, ys, ws = [], [], []
    tracks_per_genre = np.bincount(labels[idx], minlength=len(GENRES))
    for i in idx:
        segments = np.concatenate([embeddings[i].eval.reshape(-1, embeddings[i].eval.shape[-1]),
                                   embeddings[i].crops.reshape(-1, embeddings[i].crops.shape[-1])])
        xs.append(segments.astype(np.float32))
        ys.append(np.full(len(segments), labels[i]))
        ws.append(np.full(len(segments), 1.0 / (len(segments) * tracks_per_genre[labels[i]])))
    weights = np.concatenate(ws)
    return np.concatenate(xs), np.concatenate(ys), (weights / weights.mean()).astype(np.float32)


def fit_head(embeddings: list[TrackFeatures], labels: np.ndarray, idx: np.ndarray,
             settings: HeadSettings = HeadSettings()):
    """A genre head trained on tracks `idx` for settings.epochs epochs; returns the keras model."""
    import keras

    from .genre_head import build_head

    keras.backend.clear_session()  # restart layer numbering: the saved files then do not depend on earlier runs
    keras.utils.set_random_seed(settings.seed)
    x, y, w = examples(embeddings, labels, idx)
    model = build_head(x.mean(axis=0), x.var(axis=0) + 1e-6, settings.hidden, settings.dropout, settings.l2)
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=settings.label_smoothing))
    model.fit(x, np.eye(len(GENRES), dtype=np.float32)[y], sample_weight=w, batch_size=settings.batch_size,
              epochs=settings.epochs, shuffle=True, verbose=0)
    return model


def run(name: str, embeddings: list[TrackFeatures], labels: np.ndarray, train_idx: np.ndarray,
        test_idx: np.ndarray, settings: HeadSettings = HeadSettings()) -> dict:
    """One evaluation run: train on `train_idx`, judge `test_idx`; the same result layout as the CNN's runs."""
    started = time.perf_counter()
    model = fit_head(embeddings, labels, train_idx, settings)
    return {"name": name, "test_idx": test_idx, "probs": metrics.held_out_probabilities(model, embeddings, test_idx),
            "best_epoch": settings.epochs, "seconds": round(time.perf_counter() - started, 1)}
