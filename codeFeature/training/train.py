"""Train the engines on GTZAN (and real songs), evaluate them by track, and write the model files and metrics.

    python -m codeFeature.train --data ../shared/gtzan --realsongs ../shared/realsongs   # what made class_xls/
    python -m codeFeature.train --data genres_original --folds 0  # just train, fixed number of epochs

Engines: the MFCC CNN (trained here), the genre head over musicnn's pretrained outputs (trained here, its design
chosen inside each run's training tracks, see fit_head), and their ensemble (weight chosen here from held-out
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

The steps, each a function of its inputs: `load_data` (tracks and cached features) -> folds.evaluation_jobs ->
fit_cnn.evaluate / fit_head.run (every run, judged by the serving code) -> `fit_final` (the shipped models) ->
`judge` (ensemble weight, "not sure" rules, figures, default engine) -> `write` (model files, engines.json,
metrics.json, confusion.png).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from codeFeature.config import (
    CONFUSION_PNG,
    ENGINES_JSON,
    GENRES,
    HEAD_INPUTS,
    HEAD_JSON,
    HEAD_WEIGHTS,
    METRICS_JSON,
    MODEL_DIR,
    MODEL_JSON,
    MODEL_WEIGHTS,
    MUSICNN_JSON,
    MUSICNN_LICENSE,
    MUSICNN_WEIGHTS,
    PROJECT_DIR,
)
from codeFeature.engine.card import SCHEMA, read_card
from codeFeature.engine.confidence import Thresholds
from codeFeature.engine.settings import EngineSettings, feature_settings
from codeFeature.errors import DatasetError, GenreClassifierError, ModelFilesError
from codeFeature.models import musicnn
from codeFeature.models.cnn import save_model
from codeFeature.models.genre_head import files as head_files
from codeFeature.models.genre_head import head_inputs
from codeFeature.models.keras_files import save_keras
from codeFeature.models.musicnn import files as musicnn_files
from codeFeature.training import (
    dataset,
    evaluate,
    fit_cnn,
    fit_head,
    metrics,
    realsongs,
)
from codeFeature.training.fit_cnn import TrainSettings, one_tensorflow_thread
from codeFeature.training.folds import evaluation_jobs
from codeFeature.training.metrics import Run
from codeFeature.training.track_data import TrackData


def train(data_dir: Path, out_dir: Path, cache_dir: Path, folds: int = 5, use_split: bool = True,
          epochs: int | None = None, settings: TrainSettings = TrainSettings(), workers: int | None = None,
          command: str | None = None, musicnn: bool = True, realsongs_dir: Path | None = None, log=print) -> dict:
    """The whole pipeline (see the module doc) into `out_dir`; returns metrics.json's content.

    With `realsongs_dir`, its songs (and those of its outside.csv) are trained on and evaluated as described in the
    module doc. With `musicnn` (and musicnn_msd.* in class_xls/), the genre head is trained and evaluated on the
    same runs as the CNN, and the ensemble weight, the default engine and every engine's "not sure" rule are chosen
    from the held-out predictions."""
    started = time.perf_counter()
    one_tensorflow_thread()  # before any TensorFlow work here, so a rerun gives the same weights
    missing = [path for path in musicnn_files(MODEL_DIR) if not path.is_file()]
    if musicnn and missing:
        raise ModelFilesError(f"{missing[0]} is missing: convert musicnn with `python -m "
                              f"codeFeature.training.musicnn_convert`, or train the CNN alone with --no-musicnn.")
    data, head_data = load_data(data_dir, realsongs_dir, cache_dir, settings.seed, workers, musicnn, log)
    jobs = evaluation_jobs(data, folds, use_split, settings.seed)
    runs = {"cnn": fit_cnn.evaluate(jobs, data, settings, workers, log)}
    if head_data is not None:
        log(f"genre head: {len(jobs)} runs, each choosing among {len(fit_head.DESIGNS)} designs by inner CV")
        runs["musicnn"] = [fit_head.run(job.name, head_data, job.train_idx, job.test_idx, settings.seed)
                           for job in jobs]
    engines = fit_final(data, head_data, runs, settings, epochs, out_dir, log)
    default, weight, rules = judge(data, runs, engines)
    report = write(out_dir, data, engines, default, weight, rules, {"data": data_dir, "realsongs": realsongs_dir},
                   command)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / METRICS_JSON).write_text(json.dumps(report, indent=1) + "\n")
    return report


def load_data(data_dir: Path, realsongs_dir: Path | None, cache_dir: Path, seed: int, workers: int | None,
              with_musicnn: bool, log) -> tuple[TrackData, fit_head.HeadData | None]:
    """Step 1: every track of the GTZAN-layout `data_dir` and the real-song folder, with its cached features: the
    CNN's TrackData, and (with musicnn) the genre head's HeadData over the same tracks."""
    tracks = dataset.discover(data_dir)
    real_tracks = realsongs.discover(realsongs_dir) if realsongs_dir is not None else []
    outside_tracks = realsongs.discover_outside(realsongs_dir) if realsongs_dir is not None else []
    log(f"{len(tracks)} GTZAN tracks: " + ", ".join(f"{g} {sum(t.genre == g for t in tracks)}" for g in GENRES))
    if real_tracks:
        log(f"{len(real_tracks)} real songs by {len({t.artist for t in real_tracks})} artists, "
            f"{len(outside_tracks)} of none of the ten genres")
    tracks, features = dataset.load_features(tracks + real_tracks + outside_tracks, cache_dir, seed, workers, log)
    data = TrackData.build(tracks, features)
    if not with_musicnn:
        return data, None
    return data, fit_head.HeadData(musicnn_inputs(tracks, cache_dir, seed, workers, log), data.labels, data.gtzan,
                                   data.artists)


def fit_final(data: TrackData, head_data: fit_head.HeadData | None, runs: dict[str, list[Run]],
              settings: TrainSettings, epochs: int | None, out_dir: Path, log) -> dict:
    """Step 4: the shipped models, fitted on every track and saved into `out_dir`: the CNN for `epochs` (default:
    the median of the runs' best epochs), the genre head of the design chosen by inner CV on every track. Returns
    metrics.json's "engines" records of them (files, sizes, settings)."""
    genre_tracks = np.flatnonzero(~data.outside)
    final_epochs = epochs or (int(np.median([r.best_epoch for r in runs["cnn"]])) if runs["cnn"]
                              else settings.max_epochs)
    log(f"training the final CNN on all {len(genre_tracks)} tracks for {final_epochs} epochs")
    final_started = time.perf_counter()
    model, _, _ = fit_cnn.fit(data, genre_tracks, settings, epochs=final_epochs, log=log)
    save_model(model, out_dir)
    engines: dict = {"cnn": {
        "files": [MODEL_JSON, MODEL_WEIGHTS],
        "parameters": int(model.count_params()),
        "features": feature_settings()["cnn"],
        "epochs": final_epochs,
        "settings": asdict(settings),
        "final_fit_seconds": round(time.perf_counter() - final_started, 1),
    }}
    if head_data is not None:
        everything = np.arange(len(data.tracks))
        log(f"choosing and fitting the final genre head on all {len(everything)} tracks")
        chosen = fit_head.select(head_data, everything, settings.seed)
        head = fit_head.fit_linear(head_data, everything, chosen.settings).keras()
        save_keras(head, *head_files(out_dir))
        _copy_musicnn(out_dir)
        engines["musicnn"] = {"files": [MUSICNN_JSON, MUSICNN_WEIGHTS, HEAD_JSON, HEAD_WEIGHTS],
                              "head_parameters": int(head.count_params()), "head_inputs": list(HEAD_INPUTS),
                              "settings": asdict(chosen.settings),
                              "designs": [asdict(d) for d in fit_head.DESIGNS],
                              "selection": {"final": chosen.record(),
                                            **{r.name: r.selection for r in runs["musicnn"]}}}
    return engines


def judge(data: TrackData, runs: dict[str, list[Run]], engines: dict) -> tuple[str, float, dict[str, Thresholds]]:
    """Step 5: from the held-out predictions, the ensemble's musicnn weight (and its runs, added to `runs`), every
    engine's "not sure" rule and figures (added to `engines`), and the default engine. Returns (default engine,
    weight, each engine's shipped rule)."""
    weight = 0.5
    if "musicnn" in runs:
        weight, scores = evaluate.choose_weight(data, runs)
        runs["ensemble"] = metrics.mixed_runs(runs["musicnn"], runs["cnn"], weight)
        engines["ensemble"] = {"files": [ENGINES_JSON], "musicnn_weight": weight, "weight_scores": scores}
    rules = {}
    for engine, engine_runs in runs.items():
        per_run, rules[engine] = evaluate.choose_rules(data, engine_runs)
        engines[engine]["not_sure"] = {**asdict(rules[engine]), "per_run": {k: asdict(v) for k, v in per_run.items()}}
        engines[engine]["evaluation"] = evaluate.evaluate_runs(data, engine_runs, per_run)
    default = evaluate.choose_default({engine: details["evaluation"] for engine, details in engines.items()})
    return default, weight, rules


def write(out_dir: Path, data: TrackData, engines: dict, default: str, weight: float, rules: dict[str, Thresholds],
          sources: dict[str, Path | None], command: str | None) -> dict:
    """Step 6: engines.json and confusion.png into `out_dir` (beside the model files); returns metrics.json's content
    (of schema card.SCHEMA; the caller adds the total time and writes it)."""
    EngineSettings(default, weight, {engine: asdict(rule) for engine, rule in rules.items()}).write(out_dir)
    tracks = data.tracks
    report = {
        "schema": SCHEMA,
        "data": {"path": _display_path(sources["data"]), "tracks": int(data.gtzan.sum()),
                 "full_clips": sum(t.clip is not None for t, g in zip(tracks, data.gtzan) if g),
                 "per_genre": {g: sum(t.genre == g for t, r in zip(tracks, data.gtzan) if r) for g in GENRES},
                 "realsongs": None if not data.real.any() else {
                     "path": _display_path(sources["realsongs"]), "songs": int(data.real.sum()),
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
        card = read_card(args.out)  # what was written, read back as every surface reads it
    except GenreClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for engine, details in card.engines.items():
        for kind, f in details.measured.items():
            print(f"{engine} {kind}: track accuracy {f.accuracy:.3f} (top-3 {f.top3_accuracy:.3f}), macro recall "
                  f"{f.macro_recall:.3f} ({f.tracks} tracks); confident {f.confident_share:.0%} of them, "
                  f"{f.confident_accuracy:.3f} right")
        if details.outside is not None:
            print(f"{engine} outside: not sure of {details.outside.not_sure:.0%} of {details.outside.tracks} songs "
                  f"of none of the ten genres")
    print(f"default engine: {card.default_engine}; wrote the model files and {args.out / METRICS_JSON} "
          f"in {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
