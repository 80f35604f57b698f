"""Fit the genre head on cached musicnn outputs, choose its design inside the training tracks, and judge held-out
tracks with it.

One example per track and audio variant: the song's row (`genre_head.song_rows`: the mean of its judged segments'
head inputs), exactly what serving feeds the head. Classes: the ten genres and "outside" (real songs of none of
them). The fit is a multinomial logistic regression that starts from the tag-to-genre map: its logits are
`prior * genre_map + z W + b`, where `genre_map` is config.GENRE_TAG_MAP read off the song's MSD tags, `prior` a
learned scale and `W` an L2-penalised correction over the standardised tag logits and (scaled by
`embedding_scale`, a stronger penalty) the embedding. So the head follows what MSD's real-world tags say and
corrects them where GTZAN and the real songs disagree. Weights: a GTZAN track counts `gtzan_weight` times a real
song, and each class's total weight is its count to the power 1 - `balance` (1: every class weighs the same, 0: as
many as it has songs).

`select` picks the design (DESIGNS) by inner artist-grouped cross-validation over the training tracks only, so a
held-out figure is what the whole procedure gets on songs it never saw.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from codeFeature.config import GENRES, HEAD_CLASSES, HEAD_INPUTS
from codeFeature.errors import DatasetError
from codeFeature.models.genre_head import (
    build_head,
    input_parts,
    judge_rows,
    song_rows,
    split_outside,
)
from codeFeature.models.runtime import InferenceModel
from codeFeature.training.augment import VARIANTS
from codeFeature.training.dataset import TrackFeatures
from codeFeature.training.folds import track_folds
from codeFeature.training.metrics import Run, TrackPrediction, summarise

_ABSENT_LOGIT = -30.0  # bias of a class with no training track (tiny data sets): never predicted
INNER_FOLDS = 5


@dataclass(frozen=True)
class HeadSettings:
    """Hyper-parameters of the genre head (recorded in metrics.json)."""

    c: float = 0.03               # inverse L2 strength of the correction to the tag-to-genre map
    embedding_scale: float = 0.3  # the embedding's standardised inputs are multiplied by this
    gtzan_weight: float = 0.3     # a GTZAN track's weight relative to a real song
    balance: float = 0.5          # 1: every class weighs the same; 0: each as many songs as it has
    max_iter: int = 500


# The designs `select` chooses among (a fixed grid, searched on inner folds).
DESIGNS: tuple[HeadSettings, ...] = tuple(HeadSettings(c=c, gtzan_weight=gtzan) for c in (0.03, 0.1)
                                          for gtzan in (0.3, 1.0))


@dataclass(frozen=True)
class HeadData:
    """What the head learns from, per track: head inputs (`inputs[i].eval`: (variants, segments, dims)), class
    (`labels`: a genre index, len(GENRES) for a song of none of them), whether it is GTZAN, and its artist."""

    inputs: list[TrackFeatures]
    labels: np.ndarray
    gtzan: np.ndarray
    artists: np.ndarray


@dataclass(frozen=True)
class LinearHead:
    """A fitted head as arrays: standardisation `mean`/`variance` (dims,), softmax `kernel` (dims, classes) and
    `bias` (classes,); `keras()` makes the saved model, `probabilities` the same numbers in NumPy."""

    mean: np.ndarray
    variance: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray

    def keras(self):
        return build_head(self.mean, self.variance, self.kernel, self.bias)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        logits = (rows - self.mean) / np.sqrt(self.variance) @ self.kernel + self.bias
        return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def song_examples(data: HeadData, idx: np.ndarray,
                  settings: HeadSettings = HeadSettings()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One example per track in `idx` and variant: (x (n, dims) float32, classes (n,), weights (n,), mean 1)."""
    rows, ys, ws = [], [], []
    for i in idx:
        for variant in range(data.inputs[i].eval.shape[0]):
            rows.append(song_rows(data.inputs[i].eval[variant], data.inputs[i].silent[variant])[0])
            ys.append(data.labels[i])
            ws.append(settings.gtzan_weight if data.gtzan[i] else 1.0)
    y, w = np.asarray(ys), np.asarray(ws, dtype=np.float64)
    for label in np.unique(y):
        w[y == label] /= w[y == label].sum() ** settings.balance
    return np.asarray(rows, np.float32), y, (w / w.mean()).astype(np.float32)


def fit_linear(data: HeadData, idx: np.ndarray, settings: HeadSettings = HeadSettings()) -> LinearHead:
    """The head fitted on tracks `idx` (see module doc); deterministic."""
    x, y, w = song_examples(data, idx, settings)
    mean, variance = x.mean(axis=0, dtype=np.float64), x.var(axis=0, dtype=np.float64) + 1e-6
    sd = np.sqrt(variance)
    parts = input_parts(x.shape[1])
    scale = np.ones(x.shape[1])
    scale[parts["genre_map"]] = 0.0  # the map enters through the prior, not the penalised correction
    scale[parts[HEAD_INPUTS[-1]]] = settings.embedding_scale
    z = (x - mean) / sd * scale
    prior = np.zeros((len(x), len(HEAD_CLASSES)))
    prior[:, :len(GENRES)] = x[:, parts["genre_map"]]
    present = np.unique(y)
    weights, bias, strength = _fit_with_prior(z, np.searchsorted(present, y), w, len(present), settings.c,
                                              prior[:, present], settings.max_iter)
    kernel = np.zeros((x.shape[1], len(HEAD_CLASSES)))
    full_bias = np.full(len(HEAD_CLASSES), _ABSENT_LOGIT)
    kernel[:, present] = weights * scale[:, None]
    full_bias[present] = bias
    for genre in range(len(GENRES)):  # strength * genre_map, in the standardised inputs the saved head reads
        if genre in present:
            column = parts["genre_map"].start + genre
            kernel[column, genre] += strength * sd[column]
            full_bias[genre] += strength * mean[column]
    return LinearHead(mean, variance, kernel, full_bias)


def _fit_with_prior(z: np.ndarray, y: np.ndarray, w: np.ndarray, classes: int, c: float, prior: np.ndarray,
                    max_iter: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted multinomial logistic regression with logits `strength * prior + z W + b` and the penalty
    ||W||^2 / (2 c n) (scikit-learn's scaling of C). Returns (W, b, strength)."""
    n, dims = z.shape
    targets = np.eye(classes)[y]
    w = w / w.sum()

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta[:dims * classes].reshape(dims, classes)
        bias, strength = theta[dims * classes:-1], theta[-1]
        logits = z @ weights + bias + strength * prior
        norm = logsumexp(logits, axis=1)
        residual = (np.exp(logits - norm[:, None]) - targets) * w[:, None]
        loss = float(np.sum(w * (norm - np.sum(targets * logits, axis=1))) + np.sum(weights ** 2) / (2 * c * n))
        gradient = np.concatenate([(z.T @ residual + weights / (c * n)).ravel(), residual.sum(axis=0),
                                   [np.sum(residual * prior)]])
        return loss, gradient

    start = np.zeros(dims * classes + classes + 1)
    start[-1] = 1.0
    theta = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter}).x
    return theta[:dims * classes].reshape(dims, classes), theta[dims * classes:-1], float(theta[-1])


def selection_score(labels: np.ndarray, predicted: np.ndarray, gtzan: np.ndarray) -> float:
    """What picks a design on inner held-out songs of the ten genres: the mean of real-song accuracy, real-song
    macro recall and GTZAN accuracy (of those present)."""
    parts = []
    real = ~gtzan
    if real.any():
        figures = summarise(labels[real], predicted[real])
        parts += [figures["accuracy"], figures["macro_recall"]]
    if gtzan.any():
        parts.append(float(np.mean(labels[gtzan] == predicted[gtzan])))
    return float(np.mean(parts)) if parts else 0.0


@dataclass(frozen=True)
class Selection:
    """The design `select` chose, every design's inner score, and the inner held-out predictions of the chosen one
    (per track of the training set: (genres,) song probabilities and the "outside" probability)."""

    settings: HeadSettings
    scores: dict[str, float]
    held_out: dict[int, tuple[np.ndarray, float]]

    def record(self) -> dict:
        return {"chosen": asdict(self.settings), "inner_scores": self.scores}


def select(data: HeadData, idx: np.ndarray, seed: int, designs: tuple[HeadSettings, ...] = DESIGNS) -> Selection:
    """The design with the best `selection_score` on inner folds (folds.track_folds) of the tracks `idx` only:
    INNER_FOLDS of them, fewer where the tracks are too few, and the first design where even two are too many."""
    inner = _inner_folds(data, idx, seed)
    if not inner:
        return Selection(designs[0], {}, {})
    scores: dict[str, float] = {}
    best: tuple[float, HeadSettings, dict[int, tuple[np.ndarray, float]]] | None = None
    for settings in designs:
        held_out = {}
        for train, test in inner:
            head = fit_linear(data, train, settings)
            rows = np.stack([song_rows(data.inputs[i].eval[0], data.inputs[i].silent[0])[0] for i in test])
            songs, outside = split_outside(head.probabilities(rows))
            held_out.update({int(i): (s, float(o)) for i, s, o in zip(test, songs, outside)})
        known = np.array([i for i in held_out if data.labels[i] < len(GENRES)])
        predicted = np.array([int(np.argmax(held_out[i][0])) for i in known])
        score = selection_score(data.labels[known], predicted, data.gtzan[known])
        scores[", ".join(f"{k}={v:g}" for k, v in asdict(settings).items() if k != "max_iter")] = round(score, 4)
        if best is None or score > best[0]:
            best = (score, settings, held_out)
    return Selection(best[1], scores, best[2])


def _inner_folds(data: HeadData, idx: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    for k in range(INNER_FOLDS, 1, -1):
        try:
            return track_folds(idx, data.labels, data.gtzan, data.artists, k, seed + 1)
        except DatasetError:
            continue
    return []


def predict(head: InferenceModel, data: HeadData, idx: np.ndarray) -> dict[str, list[TrackPrediction]]:
    """Per variant (VARIANTS), the TrackPrediction of each track in `idx` by the saved head compiled as served,
    judged by `genre_head.judge_rows`, as serving judges a song."""
    return {variant: [TrackPrediction(*judge_rows(head, data.inputs[i].eval[v], data.inputs[i].silent[v]))
                      for i in idx]
            for v, variant in enumerate(VARIANTS)}


def run(name: str, data: HeadData, train_idx: np.ndarray, test_idx: np.ndarray, seed: int = 0) -> Run:
    """One evaluation run: choose the design on `train_idx` (inner CV), fit it on all of `train_idx`, judge
    `test_idx`. The Run's `selection` records the choice."""
    started = time.perf_counter()
    chosen = select(data, train_idx, seed)
    head = InferenceModel(fit_linear(data, train_idx, chosen.settings).keras())
    return Run(name, test_idx, predict(head, data, test_idx), seconds=round(time.perf_counter() - started, 1),
               selection=chosen.record())
