"""Fit the genre head on cached outputs of the pretrained networks, choose which networks it reads and its design
inside the training tracks, and judge held-out tracks with it.

One example per track and audio variant: the song's row (`genre_head.song_rows`: the mean of its judged segments'
head inputs), exactly what serving feeds the head. Classes: the ten genres and "outside" (real songs of none of
them). The fit is a multinomial logistic regression that starts from the tag-to-genre map: its logits are
`prior * genre_map + z W + b`, where `genre_map` is config's tag-to-genre map read off the song's tags, `prior` a
learned scale and `W` an L2-penalised correction over the standardised tag logits and (scaled by
`embedding_scale`, a stronger penalty) the embeddings. So the head follows what the networks' real-world tags say
and corrects them where GTZAN and the real songs disagree. Weights: each source group (sources.source_groups)
weighs its number of tracks to the power 1 - `source_balance` (1: every source the same, 0: as many as it has), so
no single source dominates; within that, each class's total weight is its count to the power 1 - `balance`.

`select` picks the networks (any non-empty subset of config.EARS) and the design (DESIGNS) by inner artist-grouped
cross-validation over the training tracks only, by the mean over source groups of each group's score, so a held-out
figure is what the whole procedure gets on songs it never saw. A network costs as much again as musicnn, so a set of
networks is chosen over a cheaper one only if its inner score is higher by EAR_MARGIN.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from codeFeature.config import EARS, GENRES, HEAD_CLASSES
from codeFeature.errors import DatasetError
from codeFeature.models.ears import EAR_SPECS, ear
from codeFeature.models.genre_head import (
    GENRE_MAP,
    build_head,
    head_inputs,
    input_parts,
    judge_rows,
    song_rows,
    split_outside,
)
from codeFeature.models.runtime import InferenceModel, keras_module
from codeFeature.training.augment import VARIANTS
from codeFeature.training.folds import Job, track_folds
from codeFeature.training.metrics import Run, TrackPrediction, summarise

_ABSENT_LOGIT = -30.0  # bias of a class with no training track (tiny data sets): never predicted
INNER_FOLDS = 3  # 7 sets of networks x 2 designs x 3 folds = 42 inner fits per run (~8 s each on 2 cores)
EAR_MARGIN = 0.01  # how much better (inner score) a costlier set of networks must be to be chosen


@dataclass(frozen=True)
class HeadSettings:
    """Hyper-parameters of the genre head (recorded in metrics.json)."""

    c: float = 0.1                # inverse L2 strength of the correction to the tag-to-genre map
    embedding_scale: float = 0.3  # the embeddings' standardised inputs are multiplied by this
    source_balance: float = 0.5   # 1: every source group weighs the same; 0: each as many tracks as it has
    balance: float = 0.5          # 1: every class weighs the same; 0: each as many songs as it has
    max_iter: int = 500


# The designs `select` chooses among (a fixed grid, searched on inner folds: how much each source weighs; C = 0.1
# is what the previous release's selection chose in 5 of its 7 runs), and the sets of networks.
DESIGNS: tuple[HeadSettings, ...] = tuple(HeadSettings(c=0.1, source_balance=b) for b in (0.0, 0.5))
EAR_SETS: tuple[tuple[str, ...], ...] = tuple(combo for k in range(1, len(EARS) + 1)
                                              for combo in itertools.combinations(EARS, k))


def ear_cost(ears: tuple[str, ...]) -> int:
    """Multiply-adds per 3-s segment of running the networks `ears`."""
    return sum(ear(name).macs for name in ears)


@dataclass(frozen=True)
class HeadData:
    """What the head learns from, per track: each network's outputs (`outputs[i][ear][output]`: (variants,
    segments, dims) of config.EAR_OUTPUTS), the judged segments' silence flags (`silent[i]`: (variants, segments)),
    class (`labels`: a genre index, len(GENRES) for a song of none of them), whether it is GTZAN, its artist and its
    source group. `inputs(ears)` gives the head inputs for a set of networks."""

    outputs: list[dict[str, dict[str, np.ndarray]]]
    silent: list[np.ndarray]
    labels: np.ndarray
    gtzan: np.ndarray
    artists: np.ndarray
    sources: np.ndarray
    _inputs: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def ears(self) -> tuple[str, ...]:
        """The networks whose outputs the data holds, in models/ears.EAR_SPECS order."""
        return tuple(name for name in EAR_SPECS if name in self.outputs[0]) if self.outputs else ()

    def inputs(self, ears: tuple[str, ...]) -> list[np.ndarray]:
        """Per track, the (variants, segments, dims) head inputs for the networks `ears` (genre_head.head_inputs,
        as serving computes them); computed once per set."""
        if ears not in self._inputs:
            self._inputs[ears] = [head_inputs(track, ears) for track in self.outputs]
        return self._inputs[ears]

    def song_row(self, i: int, ears: tuple[str, ...], variant: int = 0) -> np.ndarray:
        """Track `i`'s song row (genre_head.song_rows) for `ears` and audio variant `variant`."""
        return song_rows(self.inputs(ears)[i][variant], self.silent[i][variant])[0]


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



def song_examples(data: HeadData, idx: np.ndarray, ears: tuple[str, ...],
                  settings: HeadSettings = HeadSettings()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One example per track in `idx` and variant: (x (n, dims) float32, classes (n,), weights (n,), mean 1)."""
    rows, ys, groups = [], [], []
    for i in idx:
        for variant in range(data.silent[i].shape[0]):
            rows.append(data.song_row(i, ears, variant))
            ys.append(data.labels[i])
            groups.append(data.sources[i])
    y, g = np.asarray(ys), np.asarray(groups, dtype=object)
    w = np.ones(len(y))
    for group in set(g):
        w[g == group] /= np.sum(g == group) ** settings.source_balance
    for label in np.unique(y):
        w[y == label] /= w[y == label].sum() ** settings.balance
    return np.asarray(rows, np.float32), y, (w / w.mean()).astype(np.float32)


def fit_linear(data: HeadData, idx: np.ndarray, ears: tuple[str, ...],
               settings: HeadSettings = HeadSettings()) -> LinearHead:
    """The head over the networks `ears` fitted on tracks `idx` (see module doc); deterministic."""
    x, y, w = song_examples(data, idx, ears, settings)
    mean, variance = x.mean(axis=0, dtype=np.float64), x.var(axis=0, dtype=np.float64) + 1e-6
    sd = np.sqrt(variance)
    parts = input_parts(ears)
    scale = np.ones(x.shape[1])
    scale[parts[GENRE_MAP]] = 0.0  # the map enters through the prior, not the penalised correction
    for name in ears:
        scale[parts[f"{name}:penultimate"]] = settings.embedding_scale
    z = (x - mean) / sd * scale
    prior = np.zeros((len(x), len(HEAD_CLASSES)))
    prior[:, :len(GENRES)] = x[:, parts[GENRE_MAP]]
    present = np.unique(y)
    weights, bias, strength = _fit_with_prior(z, np.searchsorted(present, y), w, len(present), settings.c,
                                              prior[:, present], settings.max_iter)
    kernel = np.zeros((x.shape[1], len(HEAD_CLASSES)))
    full_bias = np.full(len(HEAD_CLASSES), _ABSENT_LOGIT)
    kernel[:, present] = weights * scale[:, None]
    full_bias[present] = bias
    for genre in range(len(GENRES)):  # strength * genre_map, in the standardised inputs the saved head reads
        if genre in present:
            column = parts[GENRE_MAP].start + genre
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
    theta = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                     options={"maxiter": max_iter, "ftol": 1e-7, "gtol": 1e-5}).x
    return theta[:dims * classes].reshape(dims, classes), theta[dims * classes:-1], float(theta[-1])


def selection_score(labels: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> float:
    """What picks the networks and the design on inner held-out songs of the ten genres: the mean over their source
    groups of each group's mean of accuracy and macro recall."""
    parts = []
    for group in sorted(set(groups)):
        mine = groups == group
        figures = summarise(labels[mine], predicted[mine])
        parts.append((figures["accuracy"] + figures["macro_recall"]) / 2)
    return float(np.mean(parts)) if parts else 0.0


@dataclass(frozen=True)
class Choice:
    """One set of networks with its best design on the inner folds and that design's inner score."""

    ears: tuple[str, ...]
    settings: HeadSettings
    score: float


@dataclass(frozen=True)
class Selection:
    """What `select` chose (`chosen`), the best design of every set of networks (`per_ears`), and every inner
    score."""

    chosen: Choice
    per_ears: dict[tuple[str, ...], Choice]
    scores: dict[str, float]

    def record(self) -> dict:
        return {"ears": list(self.chosen.ears), "chosen": asdict(self.chosen.settings),
                "inner_score": self.chosen.score, "inner_scores": self.scores}


def _label(ears: tuple[str, ...], settings: HeadSettings | None = None) -> str:
    words = "+".join(ears)
    if settings is not None:
        words += ": " + ", ".join(f"{k}={v:g}" for k, v in asdict(settings).items() if k != "max_iter")
    return words


def select(data: HeadData, idx: np.ndarray, seed: int, designs: tuple[HeadSettings, ...] = DESIGNS,
           ear_sets: tuple[tuple[str, ...], ...] | None = None) -> Selection:
    """The networks and design with the best `selection_score` on inner folds (folds.track_folds) of the tracks `idx`
    only: INNER_FOLDS of them, fewer where the tracks are too few, and the first design where even two are too many.
    Of the sets of networks (`ear_sets`, default: every non-empty subset of the data's), cheapest first, a costlier
    one replaces the choice only if it scores EAR_MARGIN more."""
    ear_sets = candidate_sets(data, ear_sets)
    inner = _inner_folds(data, idx, seed)
    if not inner:
        per_ears = {ears: Choice(ears, designs[0], 0.0) for ears in ear_sets}
        return Selection(per_ears[ear_sets[0]], per_ears, {})
    scores: dict[str, float] = {}
    per_ears: dict[tuple[str, ...], Choice] = {}
    for ears in ear_sets:
        for settings in designs:
            predicted = {}
            for train, test in inner:
                head = fit_linear(data, train, ears, settings)
                rows = np.stack([data.song_row(i, ears) for i in test])
                songs, _ = split_outside(head.probabilities(rows))
                predicted.update({int(i): int(np.argmax(p)) for i, p in zip(test, songs)})
            known = np.array([i for i in predicted if data.labels[i] < len(GENRES)])
            score = round(selection_score(data.labels[known], np.array([predicted[i] for i in known]),
                                          data.sources[known]), 4)
            scores[_label(ears, settings)] = score
            if ears not in per_ears or score > per_ears[ears].score:
                per_ears[ears] = Choice(ears, settings, score)
    return Selection(choose_ears(per_ears), per_ears, scores)


def candidate_sets(data: HeadData,
                   ear_sets: tuple[tuple[str, ...], ...] | None = None) -> tuple[tuple[str, ...], ...]:
    """The sets of networks `select` chooses among: `ear_sets`, by default every set (EAR_SETS) of the data's."""
    return ear_sets or tuple(s for s in EAR_SETS if set(s) <= set(data.ears))


def choose_ears(per_ears: dict[tuple[str, ...], Choice]) -> Choice:
    """Of the sets of networks with their best designs, cheapest first: the first, replaced by a costlier one only
    where it scores more than EAR_MARGIN above the choice so far (a network must pay for itself)."""
    chosen = None
    for ears in sorted(per_ears, key=ear_cost):
        candidate = per_ears[ears]
        if chosen is None or candidate.score > chosen.score + (EAR_MARGIN if ear_cost(ears) > ear_cost(chosen.ears)
                                                                else 0.0):
            chosen = candidate
    return chosen


def _inner_folds(data: HeadData, idx: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    for k in range(INNER_FOLDS, 1, -1):
        try:
            return track_folds(idx, data.labels, data.gtzan, data.artists, k, seed + 1)
        except DatasetError:
            continue
    return []


def predict(head: InferenceModel, data: HeadData, idx: np.ndarray,
            ears: tuple[str, ...]) -> dict[str, list[TrackPrediction]]:
    """Per variant (VARIANTS), the TrackPrediction of each track in `idx` by the saved head over `ears` compiled as
    served, judged by `genre_head.judge_rows`, as serving judges a song."""
    inputs = data.inputs(ears)
    return {variant: [TrackPrediction(*judge_rows(head, inputs[i][v], data.silent[i][v])) for i in idx]
            for v, variant in enumerate(VARIANTS)}


def run(name: str, data: HeadData, train_idx: np.ndarray, test_idx: np.ndarray, seed: int = 0,
        ear_sets: tuple[tuple[str, ...], ...] | None = None) -> tuple[Run, dict[tuple[str, ...], Run]]:
    """One evaluation run: choose the networks and design on `train_idx` (inner CV), fit the choice on all of
    `train_idx`, judge `test_idx`. Returns that Run (its `selection` records the choice) and, for the ablation, the
    same run of every set of networks with its own best design (the chosen set's is the same Run)."""
    started = time.perf_counter()
    chosen = select(data, train_idx, seed, ear_sets=ear_sets)
    runs = {}
    for ears, choice in chosen.per_ears.items():
        head = InferenceModel(fit_linear(data, train_idx, ears, choice.settings).keras())
        runs[ears] = Run(name, test_idx, predict(head, data, test_idx, ears), selection={"ears": list(ears)})
    main = runs[chosen.chosen.ears]
    main.seconds, main.selection = round(time.perf_counter() - started, 1), chosen.record()
    return main, runs


def evaluate(jobs: list[Job], data: HeadData, seed: int, workers: int | None, log,
             ear_sets: tuple[tuple[str, ...], ...] | None = None) -> tuple[list[Run], dict[tuple[str, ...], list[Run]]]:
    """`run` for every evaluation job, in parallel processes (each gets `data` once), choosing among `ear_sets`
    (default: every set of the data's pretrained networks). Returns the Runs in job order and, per set of networks,
    its Runs (the ablation)."""
    if not jobs:
        return [], {}
    log(f"genre head over {'+'.join(data.ears)}: {len(jobs)} runs, each choosing among "
        f"{len(candidate_sets(data, ear_sets))} sets of networks x {len(DESIGNS)} designs by inner CV")
    runs, ablation = [], {}
    with ProcessPoolExecutor(max_workers=min(len(jobs), workers or os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(data,)) as pool:
        for main, per_ears in pool.map(_worker_run, jobs, [seed] * len(jobs), [ear_sets] * len(jobs)):
            log(f"  {main.name}: {'+'.join(main.selection['ears'])}, {main.seconds} s")
            runs.append(main)
            for ears, ear_run in per_ears.items():
                ablation.setdefault(ears, []).append(ear_run)
    return runs, ablation


_WORKER_DATA: list[HeadData] = []  # in an evaluation worker process only: the data its initializer received


def _init_worker(data: HeadData) -> None:
    keras_module()  # Keras on its OpenVINO backend: this process needs no TensorFlow
    _WORKER_DATA[:] = [data]


def _worker_run(job: Job, seed: int,
                ear_sets: tuple[tuple[str, ...], ...] | None) -> tuple[Run, dict[tuple[str, ...], Run]]:
    return run(job.name, _WORKER_DATA[0], job.train_idx, job.test_idx, seed, ear_sets)
