"""Train the engines on a GTZAN-layout folder, evaluate them by track, and write the model files and metrics.

    python -m codeFeature.train --data ../shared/gtzan            # evaluate (CV + split), then train the shipped models
    python -m codeFeature.train --data genres_original --folds 0  # just train, fixed number of epochs

Engines: the MFCC CNN (trained here), the genre head over musicnn's pretrained embedding (trained here, see
train_head), and their ensemble (weight chosen here from held-out predictions).

Evaluation never puts segments of one track on both sides: tracks are the unit of every split.
1. `cv`: stratified k-fold over tracks; every track is held out once; figures pool the held-out predictions.
2. `split`: the artist-filtered train/valid lists (when the folder has them): no artist on both sides.
Each run stops early on a track-level score (macro recall over the original and augmented versions of an inner
validation set of tracks, after at least `min_epochs`). The shipped model is then trained on every track for the
median of the runs' best epoch counts. The genre head is evaluated on the same runs. Written next to the models:
`metrics.json` (every engine side by side), `ensemble.json` (weight and default engine), `confusion.png`.
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

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from . import dataset, metrics, train_head
from .augment import VARIANTS
from .config import (CONFUSION_PNG, ENGINES, ENSEMBLE_JSON, GENRES, HEAD_INPUT, HEAD_JSON, HEAD_WEIGHTS,
                     HOP_LENGTH, METRICS_JSON, MODEL_DIR, MODEL_JSON, MODEL_WEIGHTS, MUSICNN_JSON, MUSICNN_LICENSE,
                     MUSICNN_WEIGHTS, N_FFT, N_MELS, N_MFCC, PROJECT_DIR, SAMPLE_RATE, SEGMENT_SECONDS)
from .errors import DatasetError, GenreClassifierError, ModelFilesError
from .musicnn import files as musicnn_files
from .train_head import HeadSettings


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


@dataclass
class _Data:
    tracks: list[dataset.Track]
    features: list[dataset.TrackFeatures]
    labels: np.ndarray
    pools: list[np.ndarray]  # per track: every cached segment of every variant, float16


_DATA: _Data | None = None  # this process's data: set by `train`, or by `_init_worker` in a worker process


def _set_data(tracks: list[dataset.Track], features: list[dataset.TrackFeatures]) -> _Data:
    global _DATA
    pools = [np.concatenate([f.crops.reshape(-1, *f.crops.shape[2:]), f.eval.reshape(-1, *f.eval.shape[2:])])
             for f in features]
    _DATA = _Data(tracks, features, np.array([t.label for t in tracks]), pools)
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


def _run_job(job: tuple[str, np.ndarray, np.ndarray, TrainSettings]) -> dict:
    """Worker: train on `train_idx` (early-stopped on an inner split), predict held-out `test_idx`."""
    name, train_idx, test_idx, settings = job
    started = time.perf_counter()
    fit_idx, val_idx = _inner_split(_DATA, train_idx, settings)
    model, best_epoch, history = fit(_DATA, fit_idx, settings, val_idx)
    probs = metrics.held_out_probabilities(model, _DATA.features, test_idx)
    return {"name": name, "test_idx": test_idx, "probs": probs, "best_epoch": best_epoch, "history": history,
            "seconds": round(time.perf_counter() - started, 1)}


def evaluation_jobs(data: _Data, folds: int, use_split: bool, settings: TrainSettings) -> list[tuple]:
    """The evaluation runs as (name, train_idx, test_idx, settings): "split" (artist-filtered lists, if the data has
    them and `use_split`), then "cv1".."cvK" (stratified K-fold over tracks). `data` needs .tracks and .labels."""
    jobs = []
    everything = np.arange(len(data.tracks))
    if use_split:
        train = np.array([i for i, t in enumerate(data.tracks) if t.split == "train"])
        valid = np.array([i for i, t in enumerate(data.tracks) if t.split == "valid"])
        if len(train) and len(valid):
            jobs.append(("split", train, valid, settings))
    if folds >= 2:
        counts = np.bincount(data.labels)
        if counts[counts > 0].min() < folds:
            raise DatasetError(f"Every genre needs at least {folds} tracks for {folds}-fold cross-validation; "
                               f"use --folds with a smaller number or 0.")
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=settings.seed)
        for k, (train, test) in enumerate(splitter.split(everything, data.labels)):
            jobs.append((f"cv{k + 1}", train, test, settings))
    return jobs


def _summarise_runs(data: _Data, results: list[dict], kind: str) -> dict | None:
    runs = [r for r in results if (r["name"] == "split") == (kind == "split")]
    if not runs:
        return None
    idx = np.concatenate([r["test_idx"] for r in runs])
    labels = data.labels[idx]
    summary: dict = {"runs": [{"name": r["name"], "held_out_tracks": int(len(r["test_idx"])),
                               "best_epoch": r["best_epoch"], "seconds": r["seconds"]} for r in runs]}
    for variant in VARIANTS:
        probs = [p for r in runs for p in r["probs"][variant]]
        summary[variant] = metrics.evaluate_tracks(labels, probs)
    full = np.array([data.tracks[i].clip is not None for i in idx])
    probs = [p for r in runs for p in r["probs"]["original"]]
    summary["original_full_clips_only"] = metrics.evaluate_tracks(
        labels[full], [p for p, keep in zip(probs, full) if keep])["track"]
    return summary


def train(data_dir: Path, out_dir: Path, cache_dir: Path, folds: int = 5, use_split: bool = True,
          epochs: int | None = None, settings: TrainSettings = TrainSettings(), workers: int | None = None,
          command: str | None = None, musicnn: bool = True, head_settings: HeadSettings = HeadSettings(),
          log=print) -> dict:
    """The whole pipeline: features -> evaluation runs of every engine -> final models -> files in `out_dir`.

    With `musicnn` (and musicnn_msd.* in class_xls/), the genre head is trained and evaluated on the same folds
    as the CNN, and the ensemble weight and the default engine are chosen from the held-out predictions.
    Returns the metrics (also written to metrics.json)."""
    from .model import one_tensorflow_thread

    started = time.perf_counter()
    one_tensorflow_thread()  # before any TensorFlow work here, so a rerun gives the same weights
    missing = [path for path in musicnn_files(MODEL_DIR) if not path.is_file()]
    if musicnn and missing:
        raise ModelFilesError(f"{missing[0]} is missing: convert musicnn with `python -m codeFeature.musicnn_convert`, "
                              f"or train the CNN alone with --no-musicnn.")
    tracks = dataset.discover(data_dir)
    log(f"{len(tracks)} tracks: " + ", ".join(f"{g} {sum(t.genre == g for t in tracks)}" for g in GENRES))
    tracks, features = dataset.load_features(tracks, cache_dir, settings.seed, workers, log)
    embeddings = None
    if musicnn:
        kept, embeddings = dataset.load_features(tracks, cache_dir, settings.seed, workers, log, kind="musicnn",
                                                 output=HEAD_INPUT)
        if len(kept) != len(tracks):  # defensive: both read the same files, so both skip the same ones
            raise DatasetError("The MFCC and musicnn features cover different tracks; clear the cache and retry.")
    data = _set_data(tracks, features)
    jobs = evaluation_jobs(data, folds, use_split, settings)
    results = {"cnn": _evaluate_cnn(jobs, tracks, features, workers, log)}
    if embeddings is not None:
        log(f"genre head: {len(jobs)} runs")
        results["musicnn"] = [train_head.run(name, embeddings, data.labels, train_idx, test_idx, head_settings)
                              for name, train_idx, test_idx, _ in jobs]

    final_epochs = epochs or (int(np.median([r["best_epoch"] for r in results["cnn"]])) if results["cnn"]
                              else settings.max_epochs)
    log(f"training the final CNN on all {len(tracks)} tracks for {final_epochs} epochs")
    final_started = time.perf_counter()
    model, _, _ = fit(data, np.arange(len(tracks)), settings, epochs=final_epochs, log=log)
    from .model import save_model
    save_model(model, out_dir)
    engines: dict = {"cnn": {
        "files": [MODEL_JSON, MODEL_WEIGHTS],
        "parameters": int(model.count_params()),
        "features": {"sample_rate": SAMPLE_RATE, "segment_seconds": SEGMENT_SECONDS, "n_mfcc": N_MFCC,
                     "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS},
        "epochs": final_epochs,
        "settings": asdict(settings),
        "final_fit_seconds": round(time.perf_counter() - final_started, 1),
    }}
    if embeddings is not None:
        log(f"training the final genre head on all {len(tracks)} tracks")
        head = train_head.fit_head(embeddings, data.labels, np.arange(len(tracks)), head_settings)
        from .genre_head import files as head_files
        from .model import save_keras
        save_keras(head, *head_files(out_dir))
        _copy_musicnn(out_dir)
        engines["musicnn"] = {"files": [MUSICNN_JSON, MUSICNN_WEIGHTS, HEAD_JSON, HEAD_WEIGHTS],
                              "head_parameters": int(head.count_params()), "head_input": HEAD_INPUT,
                              "settings": asdict(head_settings)}
        weight, scores = choose_weight(data, results)
        results["ensemble"] = ensemble_results(results, weight)
        engines["ensemble"] = {"files": [ENSEMBLE_JSON], "musicnn_weight": weight, "weight_scores": scores}
    for engine, runs in results.items():
        engines[engine]["evaluation"] = {kind: summary for kind in ("cv", "split")
                                         if (summary := _summarise_runs(data, runs, kind)) is not None}
    # The best robust score; on a tie, the cheaper engine (the ensemble runs both networks).
    default = max(engines, key=lambda e: (_robust_score(engines[e]["evaluation"]), -ENGINES.index(e)))
    (out_dir / ENSEMBLE_JSON).write_text(json.dumps({
        "default_engine": default, "musicnn_weight": engines.get("ensemble", {}).get("musicnn_weight", 0.5),
        "chosen_by": "python -m codeFeature.train: the weight and the engine with the best held-out macro recall "
                     "averaged over original, loud and loud+lossy copies (see metrics.json)"}, indent=1) + "\n")
    report = {
        "data": {"path": _display_path(data_dir), "tracks": len(tracks),
                 "full_clips": sum(t.clip is not None for t in tracks),
                 "per_genre": {g: sum(t.genre == g for t in tracks) for g in GENRES}},
        "genres": list(GENRES),
        "default_engine": default,
        "engines": engines,
        "command": command,
    }
    headline = metrics.headline(engines[default]["evaluation"])
    if headline is not None:
        title = (f"{default}: " + ("5-fold" if "cv" in engines[default]["evaluation"] else "artist-filtered split")
                 + " track-level confusion")
        metrics.plot_confusion(headline["original"]["track"]["confusion"], title, out_dir / CONFUSION_PNG)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / METRICS_JSON).write_text(json.dumps(report, indent=1) + "\n")
    return report


def _copy_musicnn(out_dir: Path) -> None:
    """Put the converted musicnn next to a head trained into another folder, so that folder is complete."""
    if Path(out_dir).resolve() != MODEL_DIR.resolve():
        for name in (MUSICNN_JSON, MUSICNN_WEIGHTS, MUSICNN_LICENSE):
            shutil.copyfile(MODEL_DIR / name, Path(out_dir) / name)


def _evaluate_cnn(jobs: list[tuple], tracks: list[dataset.Track], features: list[dataset.TrackFeatures],
                  workers: int | None, log) -> list[dict]:
    """Run the CNN's evaluation `jobs` in parallel processes; their results in job order."""
    if not jobs:
        return []
    log(f"CNN evaluation: {len(jobs)} runs ({', '.join(j[0] for j in jobs)})")
    results = []
    # Spawned, not forked: a fork of a process where TensorFlow already runs can hang.
    with ProcessPoolExecutor(max_workers=min(len(jobs), workers or os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(tracks, features)) as pool:
        for result in pool.map(_run_job, jobs):
            log(f"  {result['name']}: best epoch {result['best_epoch']}, {result['seconds']} s")
            results.append(result)
    return results


def _robust_score(evaluation: dict) -> float:
    """Macro recall of held-out tracks averaged over the audio variants (CV if there is one, else the split)."""
    summary = metrics.headline(evaluation)
    return float(np.mean([summary[v]["track"]["macro_recall"] for v in VARIANTS])) if summary else 0.0


def ensemble_results(results: dict[str, list[dict]], weight: float) -> list[dict]:
    """Runs of the ensemble: per run and held-out track, weight * musicnn + (1 - weight) * cnn probabilities."""
    runs = []
    for cnn, head in zip(results["cnn"], results["musicnn"]):
        assert cnn["name"] == head["name"] and np.array_equal(cnn["test_idx"], head["test_idx"])
        probs = {v: [weight * m + (1 - weight) * c for m, c in zip(head["probs"][v], cnn["probs"][v])]
                 for v in VARIANTS}
        runs.append({"name": cnn["name"], "test_idx": cnn["test_idx"], "probs": probs, "best_epoch": None,
                     "seconds": 0.0})
    return runs


def choose_weight(data: _Data, results: dict[str, list[dict]]) -> tuple[float, dict[str, float]]:
    """The musicnn weight in 0, 0.1 ... 1 with the best robust score on the CV runs' held-out tracks (the split's
    if there is no CV); ties go to the larger weight (the pretrained engine holds up better on real songs).
    Returns (weight, score of every candidate)."""
    scores = {}
    for weight in np.round(np.linspace(0, 1, 11), 2):
        runs = ensemble_results(results, float(weight))
        summary = _summarise_runs(data, runs, "cv") or _summarise_runs(data, runs, "split")
        scores[f"{weight:.1f}"] = round(_robust_score({"cv": summary}), 4) if summary else 0.0
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
    parser.add_argument("--head-epochs", type=int, default=HeadSettings.epochs, help="epochs of the genre head")
    args = parser.parse_args(argv)
    settings = TrainSettings(max_epochs=args.max_epochs, min_epochs=min(args.min_epochs, args.max_epochs),
                             seed=args.seed)
    try:
        report = train(args.data, args.out, args.cache, args.folds, not args.no_split, args.epochs, settings,
                       args.workers, command=" ".join(["python -m codeFeature.train", *(argv or sys.argv[1:])]),
                       musicnn=not args.no_musicnn,
                       head_settings=HeadSettings(epochs=args.head_epochs, seed=args.seed))
    except GenreClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for engine, details in report["engines"].items():
        for kind, summary in details["evaluation"].items():
            track = summary["original"]["track"]
            print(f"{engine} {kind}: track accuracy {track['accuracy']:.3f}, macro recall "
                  f"{track['macro_recall']:.3f} ({track['n']} tracks); loud+lossy copies "
                  f"{summary['modern_lossy']['track']['accuracy']:.3f}")
    print(f"default engine: {report['default_engine']}; wrote the model files and {args.out / METRICS_JSON} "
          f"in {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
