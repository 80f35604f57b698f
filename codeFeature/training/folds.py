"""Cross-validation folds over tracks, one rule for every split the training command makes (its evaluation runs
and the genre head's inner selection): GTZAN tracks stratified by genre; real songs (and songs of none of the ten)
grouped by artist, so no artist is ever on both sides, and stratified by genre where there are enough. Also the
evaluation runs themselves (`evaluation_jobs`): which tracks each trains on and holds out, including one run per
source group that holds that whole source out (leave-one-source-out)."""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

from codeFeature.errors import DatasetError
from codeFeature.training.track_data import TrackData


SOURCE_RUN = "source:"  # the name of a leave-one-source-out run: this, then the source group held out


class Job(NamedTuple):
    """One evaluation run: its name ("split", "cv1", ..., "source:GTZAN", ...), the tracks it trains on and those it
    holds out."""

    name: str
    train_idx: np.ndarray
    test_idx: np.ndarray


def family(name: str) -> str:
    """The kind of evaluation run a run's `name` is: "split", "cv" or "source"."""
    return "split" if name == "split" else "source" if name.startswith(SOURCE_RUN) else "cv"


def evaluation_jobs(data: TrackData, folds: int, use_split: bool, seed: int = 0, by_source: bool = True) -> list[Job]:
    """The evaluation runs: "split" (artist-filtered lists, if the data has them and `use_split`; it also trains on
    every real song), then "cv1".."cvK" (`track_folds` over every track, when `folds` >= 2), then (`by_source`, when
    the tracks come from two source groups or more) "source:<group>" per source group (data.sources): trained on
    every other source, judged on that one."""
    jobs = []
    gtzan, others = np.flatnonzero(data.gtzan), np.flatnonzero(~data.gtzan)
    if use_split:
        train = np.array([i for i in gtzan if data.tracks[i].split == "train"], dtype=int)
        valid = np.array([i for i in gtzan if data.tracks[i].split == "valid"], dtype=int)
        if len(train) and len(valid):
            jobs.append(Job("split", np.concatenate([train, others]), valid))
    if folds >= 2:
        splits = track_folds(np.arange(len(data.tracks)), data.labels, data.gtzan, data.artists, folds, seed)
        jobs += [Job(f"cv{k + 1}", train, test) for k, (train, test) in enumerate(splits)]
    groups = sorted(set(data.sources))
    if by_source and len(groups) > 1:
        jobs += [Job(f"{SOURCE_RUN}{group}", np.flatnonzero(data.sources != group),
                     np.flatnonzero(data.sources == group)) for group in groups]
    return jobs


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
