"""Train the engines on GTZAN (and real songs), evaluate them by track, and write the model files and metrics.

    python -m codeFeature.train --data ../shared/gtzan --realsongs ../shared/realsongs   # what made class_xls/
    python -m codeFeature.train --data genres_original --folds 0  # just train, fixed number of epochs
    python -m codeFeature.train --data ../shared/gtzan --realsongs ../shared/realsongs --add-student  # student only

Engines: the MFCC CNN (trained here), the genre head over the pretrained networks' outputs (models/ears.py;
trained here, which networks it reads and its design chosen inside each run's training tracks, see fit_head),
the musicnn student (distilled here from musicnn, with a genre head of its own fitted by the same runs; distil.py),
and the ensemble of the CNN and musicnn (weight chosen here from held-out predictions). `--add-student` runs the
student's steps alone into a folder the full command filled (`add_student`).

Evaluation never puts segments of one track on both sides: tracks are the unit of every split (folds.track_folds).
1. `cv`: k folds over GTZAN tracks (stratified) and, with --realsongs, over the real songs and the songs of none of
   the ten genres (outside.csv), grouped by artist; every track is held out once.
2. `split`: the artist-filtered train/valid lists (when the folder has them): no artist on both sides; it also
   trains on every real song.
3. `realsongs` (the cv runs' held-out real songs, also without the `doubt` rows) and `outside` (their held-out songs
   of none of the ten: how many the engine calls "not sure").
4. `sources`: leave-one-source-out, one run per source group (sources.source_groups: GTZAN, each real-song
   repository with 30 songs or more, the smaller ones together), trained on every other source and judged on it.
The genre head's runs also give the ablation: the same runs for every set of networks, each with its own best
design (metrics.json: engines.musicnn.ablation).
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
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from codeFeature.config import (
    CONFUSION_PNG,
    EAR_OUTPUTS,
    EARS,
    ENGINES,
    ENGINES_JSON,
    GENRES,
    METRICS_JSON,
    MODEL_DIR,
    MODEL_JSON,
    MODEL_WEIGHTS,
    MUSICNN_LICENSE,
    PROJECT_DIR,
    STUDENT_ENGINE,
)
from codeFeature.engine.card import SCHEMA, read_card
from codeFeature.engine.confidence import Thresholds
from codeFeature.engine.settings import CHOSEN_BY, EngineSettings, feature_settings
from codeFeature.errors import DatasetError, GenreClassifierError, ModelFilesError
from codeFeature.models.cnn import save_model
from codeFeature.models.ears import ear
from codeFeature.models.genre_head import files as head_files
from codeFeature.models.genre_head import head_layout
from codeFeature.models.keras_files import save_keras
from codeFeature.models.student import STUDENT_NAME
from codeFeature.training import (
    dataset,
    distil,
    evaluate,
    fit_cnn,
    fit_head,
    metrics,
    realsongs,
)
from codeFeature.training.distil import StudentSettings
from codeFeature.training.fit_cnn import TrainSettings, one_tensorflow_thread
from codeFeature.training.folds import evaluation_jobs
from codeFeature.training.metrics import Run
from codeFeature.training.sources import source_of
from codeFeature.training.track_data import TrackData

STUDENT_EARS = ((STUDENT_NAME,),)  # the student engine's head reads the student alone


def train(data_dir: Path, out_dir: Path, cache_dir: Path, folds: int = 5, use_split: bool = True,
          epochs: int | None = None, settings: TrainSettings = TrainSettings(), workers: int | None = None,
          command: str | None = None, musicnn: bool = True, realsongs_dir: Path | None = None,
          ears: tuple[str, ...] = EARS, log=print) -> dict:
    """The whole pipeline (see the module doc) into `out_dir`; returns metrics.json's content.

    With `realsongs_dir`, its songs (and those of its outside.csv) are trained on and evaluated as described in the
    module doc. With `musicnn` (and the networks `ears` in class_xls/), the genre head is trained and evaluated on
    the same runs as the CNN, reading the subset of `ears` its nested selection chooses, and the ensemble weight,
    the default engine and every engine's "not sure" rule are chosen from the held-out predictions."""
    started = time.perf_counter()
    one_tensorflow_thread()  # before any TensorFlow work here, so a rerun gives the same weights
    missing = [path for name in ears for path in ear(name).files(MODEL_DIR) if not path.is_file()]
    if musicnn and missing:
        raise ModelFilesError(f"{missing[0]} is missing: convert musicnn with `python -m "
                              f"codeFeature.training.musicnn_convert`, or train the CNN alone with --no-musicnn.")
    data, head_data = load_data(data_dir, realsongs_dir, cache_dir, settings.seed, workers, ears if musicnn else (),
                                log)
    jobs = evaluation_jobs(data, folds, use_split, settings.seed)
    runs = {"cnn": fit_cnn.evaluate(jobs, data, settings, workers, log)}
    ablation: dict[tuple[str, ...], list[Run]] = {}
    student = None
    if head_data is not None:
        runs["musicnn"], ablation = fit_head.evaluate(jobs, head_data, settings.seed, workers, log)
        if distil.TEACHER in head_data.ears:
            student = distil.distil(data.tracks, head_data, cache_dir, out_dir, StudentSettings(seed=settings.seed),
                                    workers, log)
            runs[STUDENT_ENGINE], _ = fit_head.evaluate(jobs, student.head_data, settings.seed, workers, log,
                                                        ear_sets=STUDENT_EARS)
    engines = fit_final(data, head_data, runs, settings, epochs, out_dir, log, student)
    default, weight, rules = judge(data, runs, engines, ablation)
    report = write(out_dir, data, engines, default, weight, rules, {"data": data_dir, "realsongs": realsongs_dir},
                   command)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / METRICS_JSON).write_text(json.dumps(report, indent=1) + "\n")
    return report


def load_data(data_dir: Path, realsongs_dir: Path | None, cache_dir: Path, seed: int, workers: int | None,
              ears: tuple[str, ...], log) -> tuple[TrackData, fit_head.HeadData | None]:
    """Step 1: every track of the GTZAN-layout `data_dir` and the real-song folder, with its cached features: the
    CNN's TrackData, and (with `ears`) the genre head's HeadData of those networks' outputs over the same tracks."""
    tracks = dataset.discover(data_dir)
    real_tracks = realsongs.discover(realsongs_dir) if realsongs_dir is not None else []
    outside_tracks = realsongs.discover_outside(realsongs_dir) if realsongs_dir is not None else []
    log(f"{len(tracks)} GTZAN tracks: " + ", ".join(f"{g} {sum(t.genre == g for t in tracks)}" for g in GENRES))
    if real_tracks:
        log(f"{len(real_tracks)} real songs by {len({t.artist for t in real_tracks})} artists, "
            f"{len(outside_tracks)} of none of the ten genres")
    tracks, features = dataset.load_features(tracks + real_tracks + outside_tracks, cache_dir, seed, workers, log)
    data = TrackData.build(tracks, features)
    if not ears:
        return data, None
    outputs, silent = ear_outputs(tracks, ears, cache_dir, seed, workers, log)
    return data, fit_head.HeadData(outputs, silent, data.labels, data.gtzan, data.artists, data.sources)


def fit_final(data: TrackData, head_data: fit_head.HeadData | None, runs: dict[str, list[Run]],
              settings: TrainSettings, epochs: int | None, out_dir: Path, log,
              student: distil.Distilled | None = None) -> dict:
    """Step 4: the shipped models, fitted on every track and saved into `out_dir`: the CNN for `epochs` (default:
    the median of the runs' best epochs), the genre head over the networks and of the design chosen by inner CV on
    every track, and (with `student`, whose network distil already saved there) the student engine's head over its
    cross-fitted outputs. Returns metrics.json's "engines" records of them (files, sizes, settings)."""
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
        engines["musicnn"] = _final_head(head_data, runs["musicnn"], "musicnn", None, settings.seed,
                                         out_dir, log)
        _copy_ears(out_dir)
    if student is not None:
        engines[STUDENT_ENGINE] = {**_final_head(student.head_data, runs[STUDENT_ENGINE], STUDENT_ENGINE, STUDENT_EARS,
                                                 settings.seed, out_dir, log), "distillation": student.record}
    return engines


def _final_head(head_data: fit_head.HeadData, engine_runs: list[Run], engine: str,
                ear_sets: tuple[tuple[str, ...], ...] | None, seed: int, out_dir: Path, log) -> dict:
    """`engine`'s genre head over the networks and of the design chosen by inner CV on every track (among
    `ear_sets`, default every set of the data's networks), saved into `out_dir`; returns its metrics.json record."""
    everything = np.arange(len(head_data.labels))
    log(f"choosing and fitting the final genre head of {engine} on all {len(everything)} tracks")
    chosen = fit_head.select(head_data, everything, seed, ear_sets=ear_sets)
    ears = chosen.chosen.ears
    log(f"  chose {'+'.join(ears)}: {chosen.chosen.settings}")
    head = fit_head.fit_linear(head_data, everything, ears, chosen.chosen.settings).keras()
    save_keras(head, *head_files(out_dir, engine))
    return {"files": [name for e in ears for name in (ear(e).json_name, ear(e).weights_name)]
            + [path.name for path in head_files(out_dir, engine)],
            "ears": list(ears), "macs_per_segment": fit_head.ear_cost(ears),
            "head_parameters": int(head.count_params()), "head_inputs": list(head_layout(ears)),
            "settings": asdict(chosen.chosen.settings),
            "designs": [asdict(d) for d in fit_head.DESIGNS],
            "ear_sets": [list(e) for e in fit_head.candidate_sets(head_data, ear_sets)],
            "selection": {"final": chosen.record(), **{r.name: r.selection for r in engine_runs}}}


def judge(data: TrackData, runs: dict[str, list[Run]], engines: dict,
          ablation: dict[tuple[str, ...], list[Run]] | None = None) -> tuple[str, float, dict[str, Thresholds]]:
    """Step 5: from the held-out predictions, the ensemble's musicnn weight (and its runs, added to `runs`), every
    engine's "not sure" rule and figures (added to `engines`), the genre head's ablation (every set of networks'
    figures on the same runs, added to engines["musicnn"]), and the default engine. Returns (default engine,
    weight, each engine's shipped rule)."""
    weight = 0.5
    if "musicnn" in runs:
        weight, scores = evaluate.choose_weight(data, runs)
        runs["ensemble"] = metrics.mixed_runs(runs["musicnn"], runs["cnn"], weight)
        engines["ensemble"] = {"files": [ENGINES_JSON], "musicnn_weight": weight, "weight_scores": scores}
    rules = {engine: judge_engine(data, engine_runs, engines[engine]) for engine, engine_runs in runs.items()}
    if ablation:
        engines["musicnn"]["ablation"] = {"+".join(ears): evaluate.ablation_row(data, ear_runs, fit_head.ear_cost(ears))
                                          for ears, ear_runs in ablation.items()}
    default = evaluate.choose_default({engine: details["evaluation"] for engine, details in engines.items()})
    return default, weight, rules


def judge_engine(data: TrackData, engine_runs: list[Run], record: dict) -> Thresholds:
    """One engine's "not sure" rule (per run and shipped) and held-out figures, added to its metrics.json `record`;
    returns the shipped rule."""
    per_run, rule = evaluate.choose_rules(data, engine_runs)
    record["not_sure"] = {**asdict(rule), "per_run": {k: asdict(v) for k, v in per_run.items()}}
    record["evaluation"] = evaluate.evaluate_runs(data, engine_runs, per_run)
    return rule


def add_student(data_dir: Path, out_dir: Path, cache_dir: Path, folds: int = 5, use_split: bool = True,
                settings: TrainSettings = TrainSettings(), workers: int | None = None, command: str | None = None,
                realsongs_dir: Path | None = None, log=print) -> dict:
    """The student engine's steps of `train` alone (distil, the head's runs, its final head, its rule and figures,
    the default engine) into `out_dir`, which `train` filled from the same data, folds and seed: its other models
    and figures are kept, as the same runs would give them again. Returns metrics.json's new content."""
    started = time.perf_counter()
    one_tensorflow_thread()
    report = json.loads((out_dir / METRICS_JSON).read_text()) if (out_dir / METRICS_JSON).is_file() else None
    if report is None or "musicnn" not in report.get("engines", {}):
        raise ModelFilesError(f"{out_dir} holds no genre head trained by `python -m codeFeature.train`: "
                              f"train every engine first (without --add-student).")
    previous = EngineSettings.read(out_dir)
    data, head_data = load_data(data_dir, realsongs_dir, cache_dir, settings.seed, workers, (distil.TEACHER,), log)
    trained_on = (report["data"]["tracks"], (report["data"]["realsongs"] or {}).get("songs", 0))
    if trained_on != (int(data.gtzan.sum()), int(data.real.sum())):
        raise DatasetError(f"{out_dir} was trained on {trained_on[0]} GTZAN tracks and {trained_on[1]} real songs, "
                           f"not {int(data.gtzan.sum())} and {int(data.real.sum())}: train every engine on these "
                           f"first (without --add-student).")
    jobs = evaluation_jobs(data, folds, use_split, settings.seed)
    student = distil.distil(data.tracks, head_data, cache_dir, out_dir, StudentSettings(seed=settings.seed),
                            workers, log)
    runs, _ = fit_head.evaluate(jobs, student.head_data, settings.seed, workers, log, ear_sets=STUDENT_EARS)
    engines = report["engines"]
    engines[STUDENT_ENGINE] = {**_final_head(student.head_data, runs, STUDENT_ENGINE, STUDENT_EARS, settings.seed,
                                             out_dir, log), "distillation": student.record}
    rule = judge_engine(data, runs, engines[STUDENT_ENGINE])
    default = evaluate.choose_default({engine: details["evaluation"] for engine, details in engines.items()})
    replace(previous, default_engine=default, not_sure={**previous.not_sure, STUDENT_ENGINE: asdict(rule)},
            chosen_by=CHOSEN_BY).write(out_dir)
    report.update(default_engine=default, engines=in_engine_order(engines), student_command=command)
    plot_headline(out_dir, default, engines)
    report["student_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / METRICS_JSON).write_text(json.dumps(report, indent=1) + "\n")
    return report


def in_engine_order(engines: dict) -> dict:
    """metrics.json's engine records in config.ENGINES order (cheapest first), as every table shows them."""
    return {engine: engines[engine] for engine in ENGINES if engine in engines}


def plot_headline(out_dir: Path, default: str, engines: dict) -> None:
    """confusion.png in `out_dir`: the `default` engine's held-out GTZAN confusion (when measured)."""
    headline = metrics.headline(engines[default]["evaluation"])
    if headline is not None:
        title = (f"{default}: " + ("5-fold" if "cv" in engines[default]["evaluation"] else "artist-filtered split")
                 + " track-level confusion (GTZAN)")
        metrics.plot_confusion(headline["original"]["track"]["confusion"], title, out_dir / CONFUSION_PNG)


def write(out_dir: Path, data: TrackData, engines: dict, default: str, weight: float, rules: dict[str, Thresholds],
          sources: dict[str, Path | None], command: str | None) -> dict:
    """Step 6: engines.json and confusion.png into `out_dir` (beside the model files); returns metrics.json's content
    (of schema card.SCHEMA; the caller adds the total time and writes it)."""
    ears = tuple(engines["musicnn"]["ears"]) if "musicnn" in engines else ("musicnn",)
    EngineSettings(default, weight, {engine: asdict(rule) for engine, rule in rules.items()}, ears=ears,
                   head_inputs=head_layout(ears)).write(out_dir)
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
                     "per_genre": {g: sum(t.genre == g for t, r in zip(tracks, data.real) if r) for g in GENRES}},
                 "sources": {group: {"tracks": int(np.sum((data.sources == group) & ~data.outside)),
                                     "outside": int(np.sum((data.sources == group) & data.outside)),
                                     "of": sorted({source_of(t) for t, g in zip(tracks, data.sources) if g == group})}
                             for group in sorted(set(data.sources))}},
        "genres": list(GENRES),
        "default_engine": default,
        "engines": in_engine_order(engines),
        "command": command,
    }
    plot_headline(out_dir, default, engines)
    return report


def ear_outputs(tracks: list[dataset.Track], ears: tuple[str, ...], cache_dir: Path, seed: int, workers: int | None,
                log) -> tuple[list[dict[str, dict[str, np.ndarray]]], list[np.ndarray]]:
    """The cached outputs (config.EAR_OUTPUTS) of the networks `ears` for every track's judged segments: per track
    {ear: {output: (variants, segments, dims)}}, and per track the (variants, segments) silence flags."""
    outputs: list[dict[str, dict[str, np.ndarray]]] = [{name: {} for name in ears} for _ in tracks]
    silent: list[np.ndarray] = []
    for name in ears:
        for output in EAR_OUTPUTS:
            kept, features = dataset.load_features(tracks, cache_dir, seed, workers, log, kind=name, output=output)
            if len(kept) != len(tracks):  # defensive: all read the same files, so all skip the same ones
                raise DatasetError("The MFCC and network features cover different tracks; clear the cache and retry.")
            for track, feature in zip(outputs, features):
                track[name][output] = feature.eval
            silent = [feature.silent for feature in features]
    return outputs, silent


def _copy_ears(out_dir: Path) -> None:
    """Put the converted networks next to a head trained into another folder, so that folder is complete."""
    if Path(out_dir).resolve() != MODEL_DIR.resolve():
        for name in [*(n for e in EARS for n in (ear(e).json_name, ear(e).weights_name)), MUSICNN_LICENSE]:
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
    parser.add_argument("--ears", nargs="+", choices=EARS, default=list(EARS),
                        help="the pretrained networks the genre head may read (default: all; training chooses which)")
    parser.add_argument("--add-student", action="store_true",
                        help=f"only distil and judge the {STUDENT_ENGINE} engine, into an --out folder this command "
                             f"already trained on the same data, folds and seed (keeps its other models)")
    args = parser.parse_args(argv)
    settings = TrainSettings(max_epochs=args.max_epochs, min_epochs=min(args.min_epochs, args.max_epochs),
                             seed=args.seed)
    command = " ".join(["python -m codeFeature.train", *(argv if argv is not None else sys.argv[1:])])
    started = time.perf_counter()
    try:
        if args.add_student:
            add_student(args.data, args.out, args.cache, args.folds, not args.no_split, settings, args.workers,
                        command, args.realsongs)
        else:
            train(args.data, args.out, args.cache, args.folds, not args.no_split, args.epochs, settings,
                  args.workers, command=command, musicnn=not args.no_musicnn, realsongs_dir=args.realsongs,
                  ears=tuple(name for name in EARS if name in args.ears))
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
        for group, f in details.sources.items():
            print(f"{engine} without {group}: {f.accuracy:.3f} of its {f.tracks} songs (top-3 {f.top3_accuracy:.3f}), "
                  f"macro recall {f.macro_recall:.3f}")
    print(f"default engine: {card.default_engine}; wrote the model files and {args.out / METRICS_JSON} "
          f"in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
