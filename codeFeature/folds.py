"""Cross-validation folds over tracks, one rule for every split the training command makes (its evaluation runs
and the genre head's inner selection): GTZAN tracks stratified by genre; real songs (and songs of none of the ten)
grouped by artist, so no artist is ever on both sides, and stratified by genre where there are enough."""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

from .errors import DatasetError


def track_folds(idx: np.ndarray, labels: np.ndarray, gtzan: np.ndarray, groups: np.ndarray, k: int,
                seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`k` (train, test) splits of the tracks `idx` (indices into the per-track arrays `labels`, `gtzan` (bool) and
    `groups` (artist)). Raises DatasetError if the GTZAN tracks have a genre with fewer than `k` tracks or the
    other songs fewer than `k` artists."""
    idx = np.asarray(idx, dtype=int)
    gtzan_idx, other = idx[gtzan[idx]], idx[~gtzan[idx]]
    first, second = _gtzan_folds(gtzan_idx, labels, k, seed), _artist_folds(other, labels, groups, k, seed)
    return [(np.sort(np.concatenate([first[j][0], second[j][0]])), np.sort(np.concatenate([first[j][1], second[j][1]])))
            for j in range(k)]


def _gtzan_folds(idx: np.ndarray, labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(idx) == 0:
        return [(idx, idx)] * k
    counts = np.bincount(labels[idx])
    if counts[counts > 0].min() < k:
        raise DatasetError(f"Every genre needs at least {k} tracks for {k}-fold cross-validation; "
                           f"use --folds with a smaller number or 0.")
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(idx[a], idx[b]) for a, b in splitter.split(idx, labels[idx])]


def _artist_folds(idx: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int,
                  seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(idx) == 0:
        return [(idx, idx)] * k
    artists = groups[idx]
    if len(set(artists)) < k:
        raise DatasetError(f"The real songs need at least {k} artists for {k}-fold cross-validation.")
    if np.bincount(labels[idx]).max() < k:  # too few songs of every genre to stratify
        return [(idx[a], idx[b]) for a, b in GroupKFold(n_splits=k).split(idx, groups=artists)]
    with warnings.catch_warnings():  # a genre with fewer songs than folds is fine: it is held out where it falls
        warnings.simplefilter("ignore", UserWarning)
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        return [(idx[a], idx[b]) for a, b in splitter.split(idx, labels[idx], artists)]
