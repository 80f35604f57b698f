"""Fit the genre head on cached outputs of the pretrained networks, choose its design (which networks it reads
included) inside the training tracks, and judge held-out tracks with it.

One example per track and audio variant: the song's row (`genre_head.song_rows`: the mean of its judged segments'
head inputs), exactly what serving feeds the head. Classes: the ten genres and "outside" (real songs of none of
them). Every design is a multinomial logistic regression over the standardised tag logits of its networks and,
optionally, their embeddings (scaled by `embedding_scale`, so more strongly penalised); with `prior`, it starts from
the tag-to-genre map: its logits are `strength * genre_map + z W + b` with a learned strength, so it follows what
the tags say and corrects them where the songs disagree (a smaller C holds the correction back: a stronger prior).
Weights: each source group (sources.source_groups) weighs its number of tracks to the power 1 - `source_balance`
(1: every source the same, 0: as many as it has); within that, each class's total weight is its count to the power
1 - `balance`. A design may leave GTZAN's tracks out of the head's training set (`gtzan`).

`select` picks the design (DESIGNS) by inner artist-grouped cross-validation over the training tracks only, by the
mean of the mean and the worst of its per-source scores, so a held-out figure is what the whole procedure gets on
songs it never saw. A network costs as much again as musicnn, so a design that reads more networks is chosen over
a cheaper one only if its inner score is higher by EAR_MARGIN.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from codeFeature.config import GENRES, HEAD_CLASSES
from codeFeature.cpu_claim import claim_for_life
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
from codeFeature.training.track_data import TrackData

_ABSENT_LOGIT = -30.0  # bias of a class with no training track (tiny data sets): never predicted
INNER_FOLDS = 2  # with 3, the head step took ~23 min on a 2-core AVX2 machine (15 designs, 10 runs)
EAR_MARGIN = 0.01  # how much better (inner score) a design that reads costlier networks must be to be chosen
MSD, MSD_MTT = ("musicnn",), ("musicnn", "mtt_musicnn")


@dataclass(frozen=True, kw_only=True)
class HeadDesign:
    """One design of the genre head (recorded in metrics.json): the networks it reads, whether it starts from the
    tag-to-genre map (`prior`), its inverse L2 strength `c`, how much of the embeddings it reads (`embedding_scale`;
    0: tags only), whether GTZAN's tracks are in its training set, and its source and class weighting."""

    ears: tuple[str, ...] = MSD
    prior: bool = True
    c: float = 0.1
    embedding_scale: float = 0.3
    gtzan: bool = True
    source_balance: float = 0.5
    balance: float = 0.5
    max_iter: int = 500

    @property
    def label(self) -> str:
        """The design in a few words, as tables and metrics.json name it."""
        return (f"{'+'.join(self.ears)}, {'tag prior' if self.prior else 'plain LR'} C={self.c:g}, "
                f"{'tags+embedding' if self.embedding_scale else 'tags'}, "
                f"{'with' if self.gtzan else 'without'} GTZAN, sources^{1 - self.source_balance:g}")

    def record(self) -> dict:
        return {**asdict(self), "ears": list(self.ears), "label": self.label}


def _designs() -> tuple[HeadDesign, ...]:
    """The designs `select` chooses among: MSD tags, or MSD and MTT tags, x tag prior or plain logistic regression x
    tags with or without the embeddings; then, with the prior, other prior strengths (C), without GTZAN, and other
    source weightings."""
    grid = [HeadDesign(ears=ears, prior=prior, embedding_scale=scale)
            for ears in (MSD, MSD_MTT) for prior in (True, False) for scale in (0.3, 0.0)]
    grid += [HeadDesign(c=0.03), HeadDesign(c=0.3), HeadDesign(gtzan=False), HeadDesign(source_balance=1.0),
             HeadDesign(source_balance=0.0), HeadDesign(ears=MSD_MTT, c=0.03, embedding_scale=0.0),
             HeadDesign(ears=MSD_MTT, gtzan=False)]
    return tuple(grid)


DESIGNS: tuple[HeadDesign, ...] = _designs()
DESIGN_EARS: tuple[str, ...] = tuple(dict.fromkeys(name for d in DESIGNS for name in d.ears))  # what training caches
_BY_LABEL = {d.label: d for d in DESIGNS}


def design(label: str) -> HeadDesign:
    """The design of DESIGNS named `label`."""
    return _BY_LABEL[label]


def usable(designs: tuple[HeadDesign, ...], data: HeadData, idx: np.ndarray) -> tuple[HeadDesign, ...]:
    """The `designs` that can be fitted on the tracks `idx`: their networks are in the data, and a design without
    GTZAN has songs of other sources to learn from."""
    others = bool((~data.gtzan[idx]).any())
    return tuple(d for d in designs if set(d.ears) <= set(data.ears) and (d.gtzan or others))


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

    @classmethod
    def of(cls, data: TrackData,
           outputs: tuple[list[dict[str, dict[str, np.ndarray]]], list[np.ndarray]]) -> HeadData:
        """The HeadData of `data`'s tracks and their networks' (outputs, silence flags), as train.ear_outputs
        gives them."""
        return cls(outputs=outputs[0], silent=outputs[1], labels=data.labels, gtzan=data.gtzan,
                   artists=data.artists, sources=data.sources)

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



def song_examples(data: HeadData, idx: np.ndarray,
                  design: HeadDesign = HeadDesign()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One example per track in `idx` (less GTZAN's where the design leaves them out) and variant: (x (n, dims)
    float32, classes (n,), weights (n,), mean 1)."""
    if not design.gtzan:
        idx = idx[~data.gtzan[idx]]
    rows, ys, groups = [], [], []
    for i in idx:
        for variant in range(data.silent[i].shape[0]):
            rows.append(data.song_row(i, design.ears, variant))
            ys.append(data.labels[i])
            groups.append(data.sources[i])
    y, g = np.asarray(ys), np.asarray(groups, dtype=object)
    w = np.ones(len(y))
    for group in set(g):
        w[g == group] /= np.sum(g == group) ** design.source_balance
    for label in np.unique(y):
        w[y == label] /= w[y == label].sum() ** design.balance
    return np.asarray(rows, np.float32), y, (w / w.mean()).astype(np.float32)


def fit_linear(data: HeadData, idx: np.ndarray, design: HeadDesign = HeadDesign()) -> LinearHead:
    """The head of `design` fitted on tracks `idx` (see module doc); deterministic. Columns the design does not
    read (the map without a prior, the embeddings at scale 0) get zero weights and are left out of the fit."""
    x, y, w = song_examples(data, idx, design)
    mean, variance = x.mean(axis=0, dtype=np.float64), x.var(axis=0, dtype=np.float64) + 1e-6
    sd = np.sqrt(variance)
    parts = input_parts(design.ears)
    scale = np.ones(x.shape[1])
    scale[parts[GENRE_MAP]] = 0.0  # the map enters through the prior, not the penalised correction
    for name in design.ears:
        scale[parts[f"{name}:penultimate"]] = design.embedding_scale
    read = np.flatnonzero(scale)
    z = (x[:, read] - mean[read]) / sd[read] * scale[read]
    prior = np.zeros((len(x), len(HEAD_CLASSES)))
    if design.prior:
        prior[:, :len(GENRES)] = x[:, parts[GENRE_MAP]]
    present = np.unique(y)
    weights, bias, strength = _fit_with_prior(z, np.searchsorted(present, y), w, len(present), design.c,
                                              prior[:, present], design.max_iter)
    kernel = np.zeros((x.shape[1], len(HEAD_CLASSES)))
    full_bias = np.full(len(HEAD_CLASSES), _ABSENT_LOGIT)
    kernel[np.ix_(read, present)] = weights * scale[read, None]
    full_bias[present] = bias
    for genre in range(len(GENRES) if design.prior else 0):  # strength * genre_map, in the standardised inputs
        if genre in present:
            column = parts[GENRE_MAP].start + genre
            kernel[column, genre] += strength * sd[column]
            full_bias[genre] += strength * mean[column]
    return LinearHead(mean, variance, kernel, full_bias)


def _fit_with_prior(z: np.ndarray, y: np.ndarray, w: np.ndarray, classes: int, c: float, prior: np.ndarray,
                    max_iter: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted multinomial logistic regression with logits `strength * prior + z W + b` and the penalty
    ||W||^2 / (2 c n) (scikit-learn's scaling of C); a zero `prior` makes it plain. Returns (W, b, strength)."""
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


def source_scores(labels: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Per source group of held-out songs of the ten genres: the mean of its accuracy and macro recall."""
    scores = {}
    for group in sorted(set(groups)):
        figures = summarise(labels[groups == group], predicted[groups == group])
        scores[group] = (figures["accuracy"] + figures["macro_recall"]) / 2
    return scores


def selection_score(labels: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> float:
    """What picks the design on inner held-out songs of the ten genres: the mean of the mean and the worst of their
    `source_scores` (a design must hold on every source, not just on the largest)."""
    scores = list(source_scores(labels, predicted, groups).values())
    return float((np.mean(scores) + np.min(scores)) / 2) if scores else 0.0


@dataclass(frozen=True)
class Choice:
    """One design and its inner score."""

    design: HeadDesign
    score: float


@dataclass(frozen=True)
class Selection:
    """What `select` chose (`chosen`) and every design's inner score (by label)."""

    chosen: Choice
    scores: dict[str, float]

    def record(self) -> dict:
        return {"design": self.chosen.design.label, "ears": list(self.chosen.design.ears),
                "inner_score": self.chosen.score, "inner_scores": self.scores}


def select(data: HeadData, idx: np.ndarray, seed: int, designs: tuple[HeadDesign, ...] = DESIGNS) -> Selection:
    """The design with the best `selection_score` on inner folds (folds.track_folds) of the tracks `idx` only:
    INNER_FOLDS of them, fewer where the tracks are too few, and the first design where even two are too many. A
    design reading costlier networks replaces the choice only if it scores EAR_MARGIN more (`choose_design`)."""
    designs = usable(designs, data, idx)
    inner = _inner_folds(data, idx, seed)
    if not inner:
        return Selection(Choice(designs[0], 0.0), {})
    scores: dict[str, float] = {}
    for candidate in designs:
        predicted = {}
        for train, test in inner:
            head = fit_linear(data, train, candidate)
            rows = np.stack([data.song_row(i, candidate.ears) for i in test])
            songs, _ = split_outside(head.probabilities(rows))
            predicted.update({int(i): int(np.argmax(p)) for i, p in zip(test, songs)})
        known = np.array([i for i in predicted if data.labels[i] < len(GENRES)])
        scores[candidate.label] = round(selection_score(data.labels[known], np.array([predicted[i] for i in known]),
                                                        data.sources[known]), 4)
    return Selection(choose_design([Choice(d, scores[d.label]) for d in designs]), scores)


def choose_design(choices: list[Choice]) -> Choice:
    """Of the scored designs, cheapest networks first: the best, replaced by one reading costlier networks only
    where it scores more than EAR_MARGIN above the choice so far (a network must pay for itself)."""
    chosen = None
    for candidate in sorted(choices, key=lambda c: ear_cost(c.design.ears)):  # stable: DESIGNS order within a cost
        margin = EAR_MARGIN if chosen and ear_cost(candidate.design.ears) > ear_cost(chosen.design.ears) else 0.0
        if chosen is None or candidate.score > chosen.score + margin:
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


def run(name: str, data: HeadData, train_idx: np.ndarray, test_idx: np.ndarray,
        seed: int = 0) -> tuple[Run, dict[str, Run]]:
    """One evaluation run: choose the design on `train_idx` (inner CV), fit it on all of `train_idx`, judge
    `test_idx`. Returns that Run (its `selection` records the choice) and, for the ablation, the same run of every
    design that can be fitted on `train_idx` (by label; the chosen design's is the same Run)."""
    started = time.perf_counter()
    chosen = select(data, train_idx, seed)
    runs = {}
    for candidate in usable(DESIGNS, data, train_idx):
        head = InferenceModel(fit_linear(data, train_idx, candidate).keras())
        runs[candidate.label] = Run(name, test_idx, predict(head, data, test_idx, candidate.ears),
                                    selection={"design": candidate.label})
    main = runs[chosen.chosen.design.label]
    main.seconds, main.selection = round(time.perf_counter() - started, 1), chosen.record()
    return main, runs


def evaluate(jobs: list[Job], data: HeadData, seed: int, workers: int | None,
             log) -> tuple[list[Run], dict[str, list[Run]]]:
    """`run` for every evaluation job, in parallel processes (each gets `data` once). Returns the Runs in job order
    and, per design (by label), its Runs (the ablation)."""
    if not jobs:
        return [], {}
    log(f"genre head over {'+'.join(data.ears)}: {len(jobs)} runs, each choosing among {len(DESIGNS)} designs by "
        f"inner CV")
    runs, ablation = [], {}
    with ProcessPoolExecutor(max_workers=min(len(jobs), workers or os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(data,)) as pool:
        for main, per_design in pool.map(_worker_run, jobs, [seed] * len(jobs)):
            log(f"  {main.name}: {main.selection['design']}, {main.seconds} s")
            runs.append(main)
            for label, design_run in per_design.items():
                ablation.setdefault(label, []).append(design_run)
    return runs, ablation


_WORKER_DATA: list[HeadData] = []  # in an evaluation worker process only: the data its initializer received


def _init_worker(data: HeadData) -> None:
    claim_for_life()  # one core per worker: NumPy's and OpenVINO's threads do not fight over the cores
    keras_module()  # Keras on its OpenVINO backend: this process needs no TensorFlow
    _WORKER_DATA[:] = [data]


def _worker_run(job: Job, seed: int) -> tuple[Run, dict[str, Run]]:
    return run(job.name, _WORKER_DATA[0], job.train_idx, job.test_idx, seed)
