"""Train the engines on GTZAN (and real songs), evaluate them by track, and write the model files and metrics.

    python -m codeFeature.train --data ../shared/gtzan --realsongs ../shared/realsongs   # what made class_xls/
    python -m codeFeature.train --data genres_original --folds 0  # just train, fixed number of epochs

Engines: the MFCC CNN (trained here), the genre head over musicnn's pretrained outputs (trained here, its design
chosen inside each run's training tracks, see train_head), and their ensemble (weight chosen here from held-out
predictions).

Evaluation never puts segments of one track on both sides: tracks are the unit of every split (folds.track_folds).
1. `cv`: k folds over GTZAN tracks (stratified) and, with --realsongs, over the real songs and the songs of none of
   the ten genres (outside.csv), grouped by artist; every track is held out once.
2. `split`: the artist-filtered train/valid lists (when the folder has them): no artist on both sides; it also
   trains on every real song.
3. `realsongs` (the cv runs' held-out real songs, also without the `doubt` rows) and `outside` (their held-out songs
   of none of the ten: how many the engine calls "not sure").
Each CNN run stops early on a track-level score (macro recall over the original and augmented versions of an inner
validation set of tracks, after at least `min_epochs`). The shipped CNN is then trained on every track for the
median of the runs' best epoch counts. The genre head is evaluated on the same runs. Every engine's "not sure"
thresholds for a cv run are chosen on the other cv runs' held-out songs (confidence.choose_thresholds), so the
figures of the rule are held out too; the shipped thresholds use all of them. Written next to the models:
`metrics.json` (every engine side by side), `engines.json` (what the models expect, the ensemble weight, the
default engine, each engine's "not sure" thresholds), `confusion.png`.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from typing import NamedTuple

import numpy as np
from sklearn.model_selection import train_test_split

from . import confidence, dataset, metrics, model_card, realsongs, train_head
from .confidence import Thresholds
from .folds import track_folds
from .augment import VARIANTS
from .config import (CONFUSION_PNG, ENGINES, ENGINES_JSON, GENRES, HEAD_INPUTS, HEAD_JSON, HEAD_WEIGHTS, METRICS_JSON,
                     MODEL_DIR, MODEL_JSON, MODEL_WEIGHTS, MUSICNN_JSON, MUSICNN_LICENSE, MUSICNN_WEIGHTS, N_MELS,
                     N_MFCC, PROJECT_DIR)
from .engines import EngineSettings, feature_settings
from .errors import DatasetError, GenreClassifierError, ModelFilesError
from .genre_head import head_inputs
from .metrics import Run
from . import musicnn
from .musicnn import files as musicnn_files


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


class Job(NamedTuple):
    """One evaluation run: its name ("split", "cv1", ...), the tracks it trains on and those it holds out."""

    name: str
    train_idx: np.ndarray
    test_idx: np.ndarray
    settings: TrainSettings


@dataclass
class _Data:
    tracks: list[dataset.Track]
    features: list[dataset.TrackFeatures]
    labels: np.ndarray  # per track: genre index; OUTSIDE_LABEL for a song of none of the ten genres
    pools: list[np.ndarray]  # per track: every cached segment of every variant, float16
    real: np.ndarray  # per track: a labelled real song (not GTZAN)
    outside: np.ndarray  # per track: a real song of none of the ten genres

    @property
    def gtzan(self) -> np.ndarray:
        return ~self.real & ~self.outside

    @property
    def artists(self) -> np.ndarray:
        return np.array([t.artist or t.track_id for t in self.tracks])


OUTSIDE_LABEL = len(GENRES)
_DATA: _Data | None = None  # this process's data: set by `train`, or by `_init_worker` in a worker process


def _set_data(tracks: list[dataset.Track], features: list[dataset.TrackFeatures]) -> _Data:
    global _DATA
    pools = [np.concatenate([f.crops.reshape(-1, *f.crops.shape[2:]), f.eval.reshape(-1, *f.eval.shape[2:])])
             for f in features]
    outside = np.array([realsongs.is_outside(t) for t in tracks], dtype=bool)
    labels = np.array([OUTSIDE_LABEL if o else t.label for t, o in zip(tracks, outside)], dtype=int)
    _DATA = _Data(tracks, features, labels, pools, np.array([realsongs.is_real(t) for t in tracks], dtype=bool),
                  outside)
    return _DATA


def _init_worker(tracks: list[dataset.Track], features: list[dataset.TrackFeatures]) -> None:
    from .model import one_tensorflow_thread

    _set_data(tracks, features)
    one_tensorflow_thread()


def _normalisation_stats(data: _Data, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames = np.concatenate([data.features[i].crops[0].astype(np.float32).reshape(-1, N_MFCC) for i in idx])
    return frames.mean(axis=0), frames.var(axis=0) + 1e-6


def _draws(track: dataset.Track, settings: TrainSettings) -> int:
    """Crops drawn from a track per epoch: more from a full clip than from a 2-3 s excerpt."""
    return settings.clip_draws if track.clip is not None else settings.excerpt_draws


def draw_epoch(data: _Data, idx: np.ndarray, rng: np.random.Generator, settings: TrainSettings,
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


def _validation_score(model, data: _Data, idx: np.ndarray) -> float:
    probs = metrics.held_out_probabilities(model, data.features, idx)
    labels = data.labels[idx]
    scores = [metrics.evaluate_tracks(labels, p)["track"]["macro_recall"] for p in probs.values()]
    return float(np.mean(scores))


def fit(data: _Data, train_idx: np.ndarray, settings: TrainSettings, val_idx: np.ndarray | None = None,
        epochs: int | None = None, log=print):
    """Train a fresh CNN on tracks `train_idx`. With `val_idx`, stop early and keep the best epoch's weights;
    without, train exactly `epochs` (default max_epochs). Returns (model, best_epoch, history of val scores)."""
    import keras

    from .model import build_cnn

    keras.backend.clear_session()  # restart layer numbering: the saved files then do not depend on earlier runs
    keras.utils.set_random_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    mean, variance = _normalisation_stats(data, train_idx)
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


def _inner_split(data: _Data, idx: np.ndarray, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    labels = data.labels[idx]
    counts = np.bincount(labels)
    n_val = max(1, int(np.ceil(settings.val_share * len(idx))))
    can_stratify = counts[counts > 0].min() >= 2 and n_val >= np.count_nonzero(counts)
    return train_test_split(idx, test_size=n_val, random_state=settings.seed,
                            stratify=labels if can_stratify else None)


def _run_job(job: Job) -> Run:
    """Worker: train on the genre tracks of `train_idx` (early-stopped on an inner split), predict held-out
    `test_idx` (songs of none of the ten too: how sure the CNN is of them)."""
    started = time.perf_counter()
    fit_idx, val_idx = _inner_split(_DATA, job.train_idx[~_DATA.outside[job.train_idx]], job.settings)
    model, best_epoch, history = fit(_DATA, fit_idx, job.settings, val_idx)
    return Run(job.name, job.test_idx, metrics.held_out_probabilities(model, _DATA.features, job.test_idx),
               best_epoch, round(time.perf_counter() - started, 1), history)


def evaluation_jobs(data: _Data, folds: int, use_split: bool, settings: TrainSettings) -> list[Job]:
    """The evaluation runs: "split" (artist-filtered lists, if the data has them and `use_split`; it also trains on
    every real song), then "cv1".."cvK": folds.track_folds over every track. `data` needs .tracks, .labels, .real,
    .outside."""
    jobs = []
    gtzan, others = np.flatnonzero(data.gtzan), np.flatnonzero(~data.gtzan)
    if use_split:
        train = np.array([i for i in gtzan if data.tracks[i].split == "train"], dtype=int)
        valid = np.array([i for i in gtzan if data.tracks[i].split == "valid"], dtype=int)
        if len(train) and len(valid):
            jobs.append(Job("split", np.concatenate([train, others]), valid, settings))
    if folds >= 2:
        splits = track_folds(np.arange(len(data.tracks)), data.labels, data.gtzan, data.artists, folds, settings.seed)
        jobs += [Job(f"cv{k + 1}", train, test, settings) for k, (train, test) in enumerate(splits)]
    return jobs


_HELD_OUT = {"cv": "GTZAN tracks of the cross-validation runs", "split": "the artist-filtered valid tracks",
             "realsongs": "real songs held out by artist-grouped cross-validation: every song judged by a model "
                          "fitted, and a design and 'not sure' rule chosen, without any song of its artist",
             "outside": "real songs of none of the ten genres (outside.csv), held out by artist the same way"}
KINDS = tuple(_HELD_OUT)


def _held_out(data: _Data, runs: list[Run], kind: str) -> list[tuple[Run, np.ndarray]]:
    """Each run of `kind` (the "split" run, or the cv runs for the other kinds) with a mask over its held-out
    tracks: the labelled real songs for "realsongs", the songs of none of the ten for "outside", GTZAN otherwise."""
    wanted = {"realsongs": data.real, "outside": data.outside}.get(kind, data.gtzan)
    return [(r, wanted[r.test_idx]) for r in runs if (r.name == "split") == (kind == "split")]


def choose_rules(data: _Data, runs: list[Run]) -> tuple[dict[str, Thresholds], Thresholds]:
    """An engine's "not sure" thresholds (confidence.choose_thresholds): for each cv run, chosen on the other cv
    runs' held-out songs (real songs, else GTZAN, and songs of none of the ten), so its verdicts are held out too;
    the shipped rule (also the split run's) on all of them."""
    cv = [r for r in runs if r.name != "split"]

    def chosen(use: list[Run]) -> Thresholds:
        labels, songs = _held_out_predictions(data, use, "realsongs" if data.real.any() else "cv")
        _, others = _held_out_predictions(data, use, "outside")
        return confidence.choose_thresholds(labels, [p.song for p in songs], [p.outside for p in songs],
                                            [p.song for p in others], [p.outside for p in others])

    final = chosen(cv)
    per_run = {r.name: chosen([o for o in cv if o is not r]) for r in cv}
    return {**per_run, **{r.name: final for r in runs if r.name == "split"}}, final


def _held_out_predictions(data: _Data, runs: list[Run], kind: str,
                          variant: str = "original") -> tuple[np.ndarray, list[metrics.TrackPrediction]]:
    """The labels and `variant` predictions of the held-out tracks of `kind` in `runs`."""
    keep = _held_out(data, runs, kind)
    labels = [data.labels[i] for r, mask in keep for i in r.test_idx[mask]]
    return np.asarray(labels, dtype=int), [p for r, mask in keep for p, k in zip(r.predictions[variant], mask) if k]


def _verdicts(keep: list[tuple[Run, np.ndarray]], rules: dict[str, Thresholds]) -> list[confidence.Verdict]:
    """The verdict of each held-out track in `keep` (original audio), under its run's rule."""
    return [confidence.judge(p.song, rules[r.name], p.outside) for r, mask in keep
            for p, k in zip(r.predictions["original"], mask) if k]


def summarise_runs(data: _Data, runs: list[Run], kind: str,
                   rules: dict[str, Thresholds] | None = None) -> dict | None:
    """The figures of `kind` (see _HELD_OUT) from an engine's runs; None if they hold out no such track. With
    `rules` (run name -> Thresholds), also how the "not sure" rule does (original audio)."""
    keep = _held_out(data, runs, kind)
    idx = np.concatenate([r.test_idx[mask] for r, mask in keep]) if keep else np.array([], dtype=int)
    if len(idx) == 0:
        return None
    summary: dict = {"held_out": _HELD_OUT[kind],
                     "runs": [{"name": r.name, "held_out_tracks": int(mask.sum()), "best_epoch": r.best_epoch,
                               "seconds": r.seconds} for r, mask in keep]}
    if kind == "outside":
        verdicts = _verdicts(keep, rules or {})
        summary.update(n=len(idx), not_sure=round(float(np.mean([not v.confident for v in verdicts])), 4),
                       reasons={reason: sum(v.reason == reason for v in verdicts) for reason in ("outside", "close")})
        return summary
    labels = data.labels[idx]
    predictions = {variant: _held_out_predictions(data, runs, kind, variant)[1] for variant in VARIANTS}
    for variant, predicted in predictions.items():
        summary[variant] = metrics.evaluate_tracks(labels, predicted)
    original = predictions["original"]
    if kind == "realsongs":  # realsongs.track / realsongs.segment are the original audio
        summary.update(summary.pop("original"))
        clear = np.array([not data.tracks[i].doubt for i in idx])
        summary["no_doubt"] = metrics.evaluate_tracks(labels[clear], [p for p, c in zip(original, clear) if c])["track"]
    else:
        full = np.array([data.tracks[i].clip is not None for i in idx])
        summary["original_full_clips_only"] = metrics.evaluate_tracks(
            labels[full], [p for p, f in zip(original, full) if f])["track"]
    if rules is not None:
        summary["confidence"] = confidence.selective(labels, [p.song for p in original], _verdicts(keep, rules))
    return summary


def _evaluation(data: _Data, runs: list[Run], rules: dict[str, Thresholds] | None = None) -> dict:
    """An engine's summaries of KINDS (those that exist; "outside" only with `rules`)."""
    return {kind: summary for kind in KINDS if (kind != "outside" or rules is not None)
            and (summary := summarise_runs(data, runs, kind, rules)) is not None}


def train(data_dir: Path, out_dir: Path, cache_dir: Path, folds: int = 5, use_split: bool = True,
          epochs: int | None = None, settings: TrainSettings = TrainSettings(), workers: int | None = None,
          command: str | None = None, musicnn: bool = True, realsongs_dir: Path | None = None, log=print) -> dict:
    """The whole pipeline: features -> evaluation runs of every engine -> final models -> files in `out_dir`.

    With `realsongs_dir`, its songs (and those of its outside.csv) are trained on and evaluated as described in the
    module doc. With `musicnn` (and musicnn_msd.* in class_xls/), the genre head is trained and evaluated on the
    same runs as the CNN, and the ensemble weight, the default engine and every engine's "not sure" rule are chosen
    from the held-out predictions. Returns the metrics (also written to metrics.json)."""
    from .model import one_tensorflow_thread

    started = time.perf_counter()
    one_tensorflow_thread()  # before any TensorFlow work here, so a rerun gives the same weights
    missing = [path for path in musicnn_files(MODEL_DIR) if not path.is_file()]
    if musicnn and missing:
        raise ModelFilesError(f"{missing[0]} is missing: convert musicnn with `python -m codeFeature.musicnn_convert`, "
                              f"or train the CNN alone with --no-musicnn.")
    tracks = dataset.discover(data_dir)
    real_tracks = realsongs.discover(realsongs_dir) if realsongs_dir is not None else []
    outside_tracks = realsongs.discover_outside(realsongs_dir) if realsongs_dir is not None else []
    log(f"{len(tracks)} GTZAN tracks: " + ", ".join(f"{g} {sum(t.genre == g for t in tracks)}" for g in GENRES))
    if real_tracks:
        log(f"{len(real_tracks)} real songs by {len({t.artist for t in real_tracks})} artists, "
            f"{len(outside_tracks)} of none of the ten genres")
    tracks, features = dataset.load_features(tracks + real_tracks + outside_tracks, cache_dir, settings.seed,
                                             workers, log)
    data = _set_data(tracks, features)
    head_data = None
    if musicnn:
        head_data = train_head.HeadData(musicnn_inputs(tracks, cache_dir, settings.seed, workers, log), data.labels,
                                        data.gtzan, data.artists)
    jobs = evaluation_jobs(data, folds, use_split, settings)
    runs = {"cnn": _evaluate_cnn(jobs, tracks, features, workers, log)}
    if head_data is not None:
        log(f"genre head: {len(jobs)} runs, each choosing among {len(train_head.DESIGNS)} designs by inner CV")
        runs["musicnn"] = [train_head.run(job.name, head_data, job.train_idx, job.test_idx, settings.seed)
                           for job in jobs]

    genre_tracks = np.flatnonzero(~data.outside)
    final_epochs = epochs or (int(np.median([r.best_epoch for r in runs["cnn"]])) if runs["cnn"]
                              else settings.max_epochs)
    log(f"training the final CNN on all {len(genre_tracks)} tracks for {final_epochs} epochs")
    final_started = time.perf_counter()
    model, _, _ = fit(data, genre_tracks, settings, epochs=final_epochs, log=log)
    from .model import save_model
    save_model(model, out_dir)
    engines: dict = {"cnn": {
        "files": [MODEL_JSON, MODEL_WEIGHTS],
        "parameters": int(model.count_params()),
        "features": feature_settings()["cnn"],
        "epochs": final_epochs,
        "settings": asdict(settings),
        "final_fit_seconds": round(time.perf_counter() - final_started, 1),
    }}
    weight = 0.5
    if head_data is not None:
        log(f"choosing and fitting the final genre head on all {len(tracks)} tracks")
        chosen = train_head.select(head_data, np.arange(len(tracks)), settings.seed)
        head = train_head.fit_linear(head_data, np.arange(len(tracks)), chosen.settings).keras()
        from .genre_head import files as head_files
        from .model import save_keras
        save_keras(head, *head_files(out_dir))
        _copy_musicnn(out_dir)
        engines["musicnn"] = {"files": [MUSICNN_JSON, MUSICNN_WEIGHTS, HEAD_JSON, HEAD_WEIGHTS],
                              "head_parameters": int(head.count_params()), "head_inputs": list(HEAD_INPUTS),
                              "settings": asdict(chosen.settings),
                              "designs": [asdict(d) for d in train_head.DESIGNS],
                              "selection": {"final": chosen.record(),
                                            **{r.name: r.selection for r in runs["musicnn"]}}}
        weight, scores = choose_weight(data, runs)
        runs["ensemble"] = metrics.mixed_runs(runs["musicnn"], runs["cnn"], weight)
        engines["ensemble"] = {"files": [ENGINES_JSON], "musicnn_weight": weight, "weight_scores": scores}
    rules = {}
    for engine, engine_runs in runs.items():
        per_run, rules[engine] = choose_rules(data, engine_runs)
        engines[engine]["not_sure"] = {**asdict(rules[engine]), "per_run": {k: asdict(v) for k, v in per_run.items()}}
        engines[engine]["evaluation"] = _evaluation(data, engine_runs, per_run)
    default = choose_default({engine: details["evaluation"] for engine, details in engines.items()})
    EngineSettings(default, weight, {engine: asdict(rule) for engine, rule in rules.items()}).write(out_dir)
    report = {
        "data": {"path": _display_path(data_dir), "tracks": int(data.gtzan.sum()),
                 "full_clips": sum(t.clip is not None for t, g in zip(tracks, data.gtzan) if g),
                 "per_genre": {g: sum(t.genre == g for t, r in zip(tracks, data.gtzan) if r) for g in GENRES},
                 "realsongs": None if not data.real.any() else {
                     "path": _display_path(realsongs_dir), "songs": int(data.real.sum()),
                     "artists": len({t.artist for t, r in zip(tracks, data.real) if r}),
                     "no_doubt": sum(not t.doubt for t, r in zip(tracks, data.real) if r),
                     "outside": int(data.outside.sum()),
                     "per_genre": {g: sum(t.genre == g for t, r in zip(tracks, data.real) if r) for g in GENRES}}},
        "genres": list(GENRES),
        "default_engine": default,
        "engines": engines,
        "command": command,
    }
    headline = metrics.headline(engines[default]["evaluation"])
    if headline is not None:
        title = (f"{default}: " + ("5-fold" if "cv" in engines[default]["evaluation"] else "artist-filtered split")
                 + " track-level confusion (GTZAN)")
        metrics.plot_confusion(headline["original"]["track"]["confusion"], title, out_dir / CONFUSION_PNG)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / METRICS_JSON).write_text(json.dumps(report, indent=1) + "\n")
    return report


def musicnn_inputs(tracks: list[dataset.Track], cache_dir: Path, seed: int, workers: int | None,
                   log) -> list[dataset.TrackFeatures]:
    """The genre head's inputs of every track's judged segments (genre_head.head_inputs; `crops` stay empty)."""
    outputs = {}
    for name in [name for name in musicnn.OUTPUTS if name == "tags" or name in HEAD_INPUTS]:
        kept, outputs[name] = dataset.load_features(tracks, cache_dir, seed, workers, log, kind="musicnn",
                                                    output=name)
        if len(kept) != len(tracks):  # defensive: both read the same files, so both skip the same ones
            raise DatasetError("The MFCC and musicnn features cover different tracks; clear the cache and retry.")
    return [dataset.TrackFeatures(head_inputs({n: outputs[n][i].eval for n in outputs}),
                                  head_inputs({n: outputs[n][i].crops for n in outputs}),
                                  outputs["tags"][i].silent) for i in range(len(tracks))]


def _copy_musicnn(out_dir: Path) -> None:
    """Put the converted musicnn next to a head trained into another folder, so that folder is complete."""
    if Path(out_dir).resolve() != MODEL_DIR.resolve():
        for name in (MUSICNN_JSON, MUSICNN_WEIGHTS, MUSICNN_LICENSE):
            shutil.copyfile(MODEL_DIR / name, Path(out_dir) / name)


def _evaluate_cnn(jobs: list[Job], tracks: list[dataset.Track], features: list[dataset.TrackFeatures],
                  workers: int | None, log) -> list[Run]:
    """Run the CNN's evaluation `jobs` in parallel processes; their results in job order."""
    if not jobs:
        return []
    log(f"CNN evaluation: {len(jobs)} runs ({', '.join(j.name for j in jobs)})")
    results = []
    # Spawned, not forked: a fork of a process where TensorFlow already runs can hang.
    with ProcessPoolExecutor(max_workers=min(len(jobs), workers or os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(tracks, features)) as pool:
        for result in pool.map(_run_job, jobs):
            log(f"  {result.name}: best epoch {result.best_epoch}, {result.seconds} s")
            results.append(result)
    return results


def robust_score(evaluation: dict) -> float:
    """What picks the ensemble weight and the default engine: the mean of (a) GTZAN held-out macro recall averaged
    over the audio variants (CV if there is one, else the split) and (b) held-out real-song accuracy, of those
    measured. Real songs are what people upload; the GTZAN variants keep loud and lossy audio in the score."""
    parts = []
    summary = metrics.headline(evaluation)
    if summary:
        parts.append(float(np.mean([summary[v]["track"]["macro_recall"] for v in VARIANTS])))
    if "realsongs" in evaluation:
        parts.append(evaluation["realsongs"]["track"]["accuracy"])
    return float(np.mean(parts)) if parts else 0.0


GTZAN_FLOOR = 0.78  # the default engine keeps at least this accuracy on GTZAN's artist-filtered split


def choose_default(evaluations: dict[str, dict]) -> str:
    """The default engine: among the engines whose artist-filtered GTZAN accuracy (when measured) is at least
    GTZAN_FLOOR (all of them if none is), the best held-out real-song accuracy (what people upload), then the best
    `robust_score`, then the cheaper engine (the ensemble runs both networks)."""
    def split_ok(engine: str) -> bool:
        split = evaluations[engine].get("split")
        return split is None or split["original"]["track"]["accuracy"] >= GTZAN_FLOOR

    def key(engine: str) -> tuple[float, float, int]:
        real = evaluations[engine].get("realsongs")
        return (real["track"]["accuracy"] if real else 0.0, robust_score(evaluations[engine]), -ENGINES.index(engine))
    return max([e for e in evaluations if split_ok(e)] or list(evaluations), key=key)


def choose_weight(data: _Data, runs: dict[str, list[Run]]) -> tuple[float, dict[str, float]]:
    """The musicnn weight in 0, 0.1 ... 1 with the best `robust_score` on the runs' held-out tracks; ties go to
    the larger weight (the pretrained engine holds up better on real songs). Returns (weight, every score)."""
    scores = {}
    for weight in np.round(np.linspace(0, 1, 11), 2):
        mixed = metrics.mixed_runs(runs["musicnn"], runs["cnn"], float(weight))
        scores[f"{weight:.1f}"] = round(robust_score(_evaluation(data, mixed)), 4)
    best = max(scores, key=lambda w: (scores[w], float(w)))
    return float(best), scores


def _display_path(path: Path) -> str:
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(PROJECT_DIR.parent))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="genres_original-layout folder (see README)")
    parser.add_argument("--realsongs", type=Path,
                        help="real songs to train on and evaluate by artist-grouped CV (labels.csv layout)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="where the model and metrics go (class_xls/)")
    parser.add_argument("--cache", type=Path, default=PROJECT_DIR / ".cache" / "features",
                        help="feature cache folder")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds over tracks (0: none)")
    parser.add_argument("--no-split", action="store_true", help="skip the artist-filtered split evaluation")
    parser.add_argument("--epochs", type=int, help="epochs of the final model (default: median best of the runs)")
    parser.add_argument("--max-epochs", type=int, default=TrainSettings.max_epochs)
    parser.add_argument("--min-epochs", type=int, default=TrainSettings.min_epochs)
    parser.add_argument("--seed", type=int, default=TrainSettings.seed)
    parser.add_argument("--workers", type=int, help="parallel processes (default: all cores)")
    parser.add_argument("--no-musicnn", action="store_true",
                        help="train and evaluate the CNN only (no genre head, no ensemble)")
    args = parser.parse_args(argv)
    settings = TrainSettings(max_epochs=args.max_epochs, min_epochs=min(args.min_epochs, args.max_epochs),
                             seed=args.seed)
    try:
        report = train(args.data, args.out, args.cache, args.folds, not args.no_split, args.epochs, settings,
                       args.workers, command=" ".join(["python -m codeFeature.train", *(argv or sys.argv[1:])]),
                       musicnn=not args.no_musicnn, realsongs_dir=args.realsongs)
    except GenreClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for engine, details in report["engines"].items():
        for kind, summary in details["evaluation"].items():
            if kind == "outside":
                print(f"{engine} outside: not sure of {summary['not_sure']:.0%} of {summary['n']} songs of none of "
                      f"the ten genres")
                continue
            track = model_card.original_track(summary)
            print(f"{engine} {kind}: track accuracy {track['accuracy']:.3f} (top-3 {track['top3_accuracy']:.3f}), "
                  f"macro recall {track['macro_recall']:.3f} ({track['n']} tracks); confident "
                  f"{summary['confidence']['coverage']:.0%} of them, {summary['confidence']['accuracy']:.3f} right")
    print(f"default engine: {report['default_engine']}; wrote the model files and {args.out / METRICS_JSON} "
          f"in {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
