"""Fit the MFCC CNN: one epoch's augmented crops, a fit with early stopping on held-out tracks, the evaluation runs
(in parallel processes) and their held-out predictions, judged by the serving code."""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from codeFeature.config import GENRES, N_MELS, N_MFCC
from codeFeature.cpu_claim import claim_for_life
from codeFeature.models.runtime import InferenceModel
from codeFeature.models.song import audible_mean
from codeFeature.training import metrics
from codeFeature.training.augment import VARIANTS
from codeFeature.training.dataset import Track
from codeFeature.training.folds import Job
from codeFeature.training.metrics import Run, TrackPrediction
from codeFeature.training.track_data import CnnData


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one training run (all recorded in metrics.json)."""

    max_epochs: int = 60
    min_epochs: int = 20
    patience: int = 15
    batch_size: int = 32
    learning_rate: float = 1e-3
    label_smoothing: float = 0.1
    cosine_decay: bool = True  # decay the learning rate to 5 % along a cosine over the run's epochs
    clip_draws: int = 10      # random crops drawn per full-clip track per epoch
    excerpt_draws: int = 3    # ... per track that only has a short excerpt
    gain_db: float = 6.0      # random level change, +- dB (an exact shift of MFCC c0)
    time_mask: int = 12       # frames masked at most (p = 0.5)
    val_share: float = 0.15   # tracks held out of a run's training set to pick its epoch
    seed: int = 0


def normalisation_stats(data: CnnData, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames = np.concatenate([data.features[i].crops[0].astype(np.float32).reshape(-1, N_MFCC) for i in idx])
    return frames.mean(axis=0), frames.var(axis=0) + 1e-6


def _draws(track: Track, settings: TrainSettings) -> int:
    """Crops drawn from a track per epoch: more from a full clip than from a 2-3 s excerpt."""
    return settings.clip_draws if track.clip is not None else settings.excerpt_draws


def draw_epoch(data: CnnData, idx: np.ndarray, rng: np.random.Generator, settings: TrainSettings,
               mean: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch of training examples from tracks `idx`: (x, one-hot y, class-balancing sample weights)."""
    xs, ys = [], []
    for i in idx:
        draws = _draws(data.tracks[i], settings)
        pool = data.pools[i]
        xs.append(pool[rng.integers(0, len(pool), draws)])
        ys += [data.labels[i]] * draws
    x = np.concatenate(xs).astype(np.float32)
    y = np.asarray(ys)
    n = len(x)
    x[:, :, 0, 0] += (rng.uniform(-settings.gain_db, settings.gain_db, n) * np.sqrt(N_MELS))[:, None]
    for row in np.flatnonzero(rng.random(n) < 0.5):  # time masking, filled with the mean (0 after normalising)
        width = rng.integers(1, settings.time_mask + 1)
        start = rng.integers(0, x.shape[1] - width)
        x[row, start:start + width, :, 0] = mean
    counts = np.bincount(y, minlength=len(GENRES))
    weights = (n / (np.count_nonzero(counts) * counts[y])).astype(np.float32)
    return x, np.eye(len(GENRES), dtype=np.float32)[y], weights


def _validation_score(model, data: CnnData, idx: np.ndarray) -> float:
    """Early stopping's score (not a reported figure): macro recall of the inner validation tracks over the audio
    variants, from a fast eager call of the model being fitted (its songs by `song.audible_mean`, as served)."""
    labels, scores = data.labels[idx], []
    for v in range(len(VARIANTS)):
        rows = np.concatenate([data.features[i].eval[v] for i in idx]).astype(np.float32)
        probs = np.split(np.asarray(model(rows, training=False), np.float64),
                         np.cumsum([len(data.features[i].eval[v]) for i in idx])[:-1])
        songs = [TrackPrediction(audible_mean(p, data.features[i].silent[v]), p) for i, p in zip(idx, probs)]
        scores.append(metrics.evaluate_tracks(labels, songs)["track"]["macro_recall"])
    return float(np.mean(scores))


def fit(data: CnnData, train_idx: np.ndarray, settings: TrainSettings, val_idx: np.ndarray | None = None,
        epochs: int | None = None, log=print):
    """Train a fresh CNN on tracks `train_idx`. With `val_idx`, stop early and keep the best epoch's weights;
    without, train exactly `epochs` (default max_epochs). Returns (model, best_epoch, history of val scores)."""
    import keras

    from codeFeature.models.cnn import build_cnn

    keras.backend.clear_session()  # restart layer numbering: the saved files then do not depend on earlier runs
    keras.utils.set_random_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    mean, variance = normalisation_stats(data, train_idx)
    model = build_cnn(mean, variance)
    total = epochs if (val_idx is None and epochs) else settings.max_epochs
    learning_rate = settings.learning_rate
    if settings.cosine_decay:
        examples = sum(_draws(data.tracks[i], settings) for i in train_idx)
        steps = total * int(np.ceil(examples / settings.batch_size))
        learning_rate = keras.optimizers.schedules.CosineDecay(settings.learning_rate, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=settings.label_smoothing))
    best_score, best_epoch, best_weights, history = -1.0, total, None, []
    for epoch in range(1, total + 1):
        x, y, w = draw_epoch(data, train_idx, rng, settings, mean)
        loss = model.fit(x, y, sample_weight=w, batch_size=settings.batch_size, epochs=1, verbose=0,
                         shuffle=True).history["loss"][-1]
        if val_idx is None:
            if epoch % 10 == 0 or epoch == total:
                log(f"  epoch {epoch}/{total} loss {loss:.3f}")
            continue
        score = _validation_score(model, data, val_idx)
        history.append(round(score, 4))
        if score > best_score and epoch >= min(settings.min_epochs, total):
            best_score, best_epoch, best_weights = score, epoch, model.get_weights()
        if epoch >= settings.min_epochs and epoch - best_epoch >= settings.patience:
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    return model, best_epoch, history


def inner_split(data: CnnData, idx: np.ndarray, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    labels = data.labels[idx]
    counts = np.bincount(labels)
    n_val = max(1, int(np.ceil(settings.val_share * len(idx))))
    can_stratify = counts[counts > 0].min() >= 2 and n_val >= np.count_nonzero(counts)
    return train_test_split(idx, test_size=n_val, random_state=settings.seed,
                            stratify=labels if can_stratify else None)


def run_job(job: Job, data: CnnData, settings: TrainSettings) -> Run:
    """One evaluation run of the CNN: train on the genre tracks of `job.train_idx` (early-stopped on an inner split),
    then judge the held-out `job.test_idx` (songs of none of the ten too: how sure the CNN is of them) with the
    serving code (models.runtime)."""
    started = time.perf_counter()
    fit_idx, val_idx = inner_split(data, job.train_idx[~data.outside[job.train_idx]], settings)
    model, best_epoch, history = fit(data, fit_idx, settings, val_idx)
    return Run(job.name, job.test_idx, metrics.held_out_predictions(InferenceModel(model), data.features,
                                                                     job.test_idx),
               best_epoch, round(time.perf_counter() - started, 1), history)


def evaluate(jobs: list[Job], data: CnnData, settings: TrainSettings, workers: int | None, log) -> list[Run]:
    """Run the CNN's evaluation `jobs` in parallel processes (each gets `data` once); their Runs in job order."""
    if not jobs:
        return []
    log(f"CNN evaluation: {len(jobs)} runs ({', '.join(j.name for j in jobs)})")
    results = []
    # Spawned, not forked: a fork of a process where TensorFlow already runs can hang.
    with ProcessPoolExecutor(max_workers=min(len(jobs), workers or os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(data,)) as pool:
        for result in pool.map(_worker_run, jobs, [settings] * len(jobs)):
            log(f"  {result.name}: best epoch {result.best_epoch}, {result.seconds} s")
            results.append(result)
    return results


_WORKER_DATA: list[CnnData] = []  # in an evaluation worker process only: the data its initializer received


def _init_worker(data: CnnData) -> None:
    claim_for_life()  # one core per worker: OpenVINO's threads (the held-out predictions) do not fight either
    one_tensorflow_thread()
    _WORKER_DATA[:] = [data]


def _worker_run(job: Job, settings: TrainSettings) -> Run:
    return run_job(job, _WORKER_DATA[0], settings)


def one_tensorflow_thread() -> None:
    """Run TensorFlow on one thread in this process (processes work side by side instead, and a single thread
    makes training reproducible), unless TensorFlow is already running here: then its settings stay. Training
    only: importing TensorFlow also makes it Keras' backend in a process that has not imported Keras yet."""
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # initialised earlier in this process (e.g. a test session)
        pass
