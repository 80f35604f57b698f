"""Song-level rules, one function each, called by serving (engine/classifier) and by every evaluation
(training/metrics, training/fit_head).

- `audible_mean`: a song's value is the mean over its segments that are not silent;
- `judge_segments`: a per-segment model's (the CNN's) segments and song;
- `top_k`: the indices of the k largest values, largest first (top-1 / top-3 genres, top tags).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def audible_mean(values: np.ndarray, silent: Sequence[bool] | np.ndarray) -> np.ndarray:
    """(segments, d) per-segment values and (segments,) silence flags -> (d,) float64 mean over the audible
    segments. Serving refuses a song whose every segment is silent; should evaluation meet one, all count."""
    values = np.asarray(values, dtype=np.float64)
    audible = ~np.asarray(silent, dtype=bool)
    return values[audible].mean(axis=0) if audible.any() else values.mean(axis=0)


def judge_segments(model: Callable[[np.ndarray], np.ndarray], rows: np.ndarray,
                   silent: Sequence[bool] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-segment model (a runtime.InferenceModel) on a song's (segments, ...) inputs -> (song (genres,),
    segments (segments, genres)) probabilities, the song the `audible_mean` of its segments."""
    segments = model(rows)
    return audible_mean(segments, silent), segments


def top_k(values: np.ndarray, k: int = 3) -> np.ndarray:
    """Indices of the `k` largest of (n,) values (genre probabilities, tag likelihoods), largest first."""
    return np.argsort(-np.asarray(values), kind="stable")[:k]
