"""Train the engines on GTZAN and real songs, evaluate them by track and by source, and write the model files and
metrics.

    python -m codeFeature.train --data ../shared/gtzan --realsongs ../shared/realsongs   # what made class_xls/
    python -m codeFeature.train --data genres_original --folds 0  # just train, fixed number of epochs
    python -m codeFeature.train --data ../shared/gtzan --realsongs ../shared/realsongs --steps features head

Engines (engine/engines.py): the MFCC CNN and the genre head over the pretrained networks' outputs (models/ears.py;
which networks it reads and its design chosen inside each run's training tracks, see fit_head).

Steps (`--steps`, all by default): "features" fills the feature cache, decoding and augmenting each track once for
every cache kind (dataset.fill_cache); "cnn" and "head" evaluate and fit one engine each. A run without one of the
engine steps keeps that engine's files and figures from the --out folder, which must have been trained on the same
tracks; one with "features" alone only fills the cache.

Evaluation never puts segments of one track on both sides: tracks are the unit of every split (folds.track_folds).
1. `cv`: k folds over GTZAN tracks (stratified) and, with --realsongs, over the real songs and the songs of none of
   the ten genres (outside.csv), grouped by artist; every track is held out once, with every other song training.
   Reported over all real songs (`realsongs`), per source (`cv_sources`) and on GTZAN (`cv`).
2. `split`: the artist-filtered train/valid lists (when the folder has them): no artist on both sides; it also
   trains on every real song.
3. `outside`: the cv runs' held-out songs of none of the ten: how many the engine calls "not sure".
4. `sources`: leave-one-source-out, one run per source group (sources.source_groups: GTZAN, each real-song
   repository with 30 songs or more, the smaller ones together), trained on every other source and judged on it.
The genre head's runs also give the ablation: the same runs for every design, each fitted on the run's training
tracks (metrics.json: engines.musicnn.ablation).
Each CNN run stops early on a track-level score (macro recall over the original and augmented versions of an inner
validation set of tracks, after at least `min_epochs`). The shipped CNN is then trained on every track for the
median of the runs' best epoch counts. Every engine's "not sure" thresholds for a run are chosen on the other runs'
held-out songs (confidence.choose_thresholds), so the figures of the rule are held out too; the shipped thresholds
use all of them. Written next to the models: `metrics.json` (every engine side by side), `engines.json` (what the
models expect, the default engine, each engine's "not sure" thresholds), `confusion.png`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from codeFeature.config import (
    CONFUSION_PNG,
    EAR_OUTPUTS,
    EARS,
    GENRES,
    METRICS_JSON,
    MODEL_DIR,
    MUSICNN_LICENSE,
    PROJECT_DIR,
)
from codeFeature.engine import engines as engine_table
from codeFeature.engine.card import GTZAN_HEADLINE, SCHEMA, read_card
from codeFeature.engine.confidence import Thresholds
from codeFeature.engine.settings import EngineSettings, feature_settings
from codeFeature.errors import DatasetError, GenreClassifierError, ModelFilesError
from codeFeature.models.cnn import save_model
from codeFeature.models.ears import ear
from codeFeature.models.genre_head import files as head_files
from codeFeature.models.genre_head import head_layout
from codeFeature.models.keras_files import save_keras
from codeFeature.training import dataset, evaluate, fit_cnn, fit_head, metrics, realsongs
from codeFeature.training.fit_cnn import TrainSettings, one_tensorflow_thread
from codeFeature.training.folds import evaluation_jobs
from codeFeature.training.metrics import Run
from codeFeature.training.sources import source_of
from codeFeature.training.track_data import CnnData, TrackData

STEPS: tuple[str, ...] = ("features", "cnn", "head")  # what `train` can run; an engine step per model kind
ENGINE_STEPS = {"cnn": "cnn", "head": "musicnn"}  # the engine each engine step trains (engines.py names)


def train(data_dir: Path, out_dir: Path, cache_dir: Path, folds: int = 5, use_split: bool = True,
          epochs: int | None = None, settings: TrainSettings = TrainSettings(), workers: int | None = None,
          command: str | None = None, realsongs_dir: Path | None = None,
          ears: tuple[str, ...] = fit_head.DESIGN_EARS,
          steps: tuple[str, ...] = STEPS, log=print) -> dict | None:
    """The steps `steps` of the pipeline (see the module doc) into `out_dir`; returns metrics.json's content (None
    when only "features" ran).

    With `realsongs_dir`, its songs (and those of its outside.csv) are trained on and evaluated as described in the
    module doc. The "head" step needs the networks `ears` in class_xls/; its genre head reads the subset of them
    its nested selection chooses. The default engine and every engine's "not sure" rule are chosen from the
    held-out predictions."""
    started = time.perf_counter()
    unknown = set(steps) - set(STEPS)
    if unknown or not steps:
        raise ValueError(f"steps must be some of {', '.join(STEPS)}, not {sorted(unknown) or 'none'}")
    one_tensorflow_thread()  # before any TensorFlow work here, so a rerun gives the same weights
    missing = [path for name in ears for path in ear(name).files(MODEL_DIR) if not path.is_file()]
    if "head" in steps and missing:
        raise ModelFilesError(f"{missing[0]} is missing: convert musicnn with `python -m "
                              f"codeFeature.training.musicnn_convert`, or train the CNN alone with --steps cnn.")
    kinds = tuple(kind for kind, wanted in (("mfcc", "cnn"), *((name, "head") for name in ears))
                  if wanted in steps or steps == ("features",))
    data = load_tracks(data_dir, realsongs_dir, cache_dir, settings.seed, workers, kinds, log)
    if not set(steps) & set(ENGINE_STEPS):
        log(f"features cached for {len(data.tracks)} tracks in {time.perf_counter() - started:.0f} s")
        return None
    kept = kept_engines(out_dir, data, steps)
    jobs = evaluation_jobs(data, folds, use_split, settings.seed)
    runs: dict[str, list[Run]] = {}
    engines: dict = {}
    ablation: dict[str, list[Run]] = {}
    if "head" in steps:
        head_data = fit_head.HeadData.of(data, ear_outputs(data, ears, cache_dir, settings.seed))
        runs["musicnn"], ablation = fit_head.evaluate(jobs, head_data, settings.seed, workers, log)
        engines["musicnn"] = fit_final_head(head_data, runs["musicnn"], settings.seed, out_dir, log)
        del head_data  # the CNN's MFCCs take the memory next
    if "cnn" in steps:
        cnn_data = CnnData.of(data, load_kind(data, cache_dir, settings.seed, "mfcc"))
        runs["cnn"] = fit_cnn.evaluate(jobs, cnn_data, settings, workers, log)
        engines["cnn"] = fit_final_cnn(cnn_data, runs["cnn"], settings, epochs, out_dir, log)
    rules = judge(data, runs, engines, ablation)
    engines = {**kept.engines, **engines}
    rules = {**kept.rules, **rules}
    default = evaluate.choose_default({engine: details["evaluation"] for engine, details in engines.items()})
    report = write(out_dir, data, engines, default, rules, {"data": data_dir, "realsongs": realsongs_dir}, command)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / METRICS_JSON).write_text(json.dumps(report, indent=1) + "\n")
    return report


def load_tracks(data_dir: Path, realsongs_dir: Path | None, cache_dir: Path, seed: int, workers: int | None,
                kinds: tuple[str, ...], log) -> TrackData:
    """Step "features": every track of the GTZAN-layout `data_dir` and the real-song folder, with the cache of
    `kinds` filled in one pass (dataset.fill_cache); returns the TrackData of the tracks that could be read."""
    tracks = dataset.discover(data_dir)
    real_tracks = realsongs.discover(realsongs_dir) if realsongs_dir is not None else []
    outside_tracks = realsongs.discover_outside(realsongs_dir) if realsongs_dir is not None else []
    log(f"{len(tracks)} GTZAN tracks: " + ", ".join(f"{g} {sum(t.genre == g for t in tracks)}" for g in GENRES))
    if real_tracks:
        log(f"{len(real_tracks)} real songs by {len({t.artist for t in real_tracks})} artists, "
            f"{len(outside_tracks)} of none of the ten genres")
    kept, _ = dataset.fill_cache(tracks + real_tracks + outside_tracks, cache_dir, seed, workers, log, kinds)
    return TrackData.build(kept)


def load_kind(data: TrackData, cache_dir: Path, seed: int, kind: str,
              output: str = "penultimate") -> list[dataset.TrackFeatures]:
    """The cached features of `kind` (and the network's `output`) of every track of `data`, which "features"
    cached."""
    kept, features = dataset.load_features(data.tracks, cache_dir, seed, 1, print, kind=kind, output=output)
    if len(kept) != len(data.tracks):  # defensive: the features step read the same files
        raise DatasetError("The feature cache changed while training; clear it and retry.")
    return features


def ear_outputs(data: TrackData, ears: tuple[str, ...], cache_dir: Path,
                seed: int) -> tuple[list[dict[str, dict[str, np.ndarray]]], list[np.ndarray]]:
    """The cached outputs (config.EAR_OUTPUTS) of the networks `ears` for every track's judged segments: per track
    {ear: {output: (variants, segments, dims)}}, and per track the (variants, segments) silence flags."""
    outputs: list[dict[str, dict[str, np.ndarray]]] = [{name: {} for name in ears} for _ in data.tracks]
    silent: list[np.ndarray] = []
    for name in ears:
        for output in EAR_OUTPUTS:
            for track, feature in zip(outputs, load_kind(data, cache_dir, seed, name, output)):
                track[name][output] = feature.eval
                silent.append(feature.silent)
    return outputs, silent[:len(data.tracks)]


@dataclass(frozen=True, kw_only=True)
class KeptEngines:
    """The engines a partial run keeps from its --out folder: their metrics.json records and "not sure" rules."""

    engines: dict = field(default_factory=dict)
    rules: dict[str, Thresholds] = field(default_factory=dict)


def kept_engines(out_dir: Path, data: TrackData, steps: tuple[str, ...]) -> KeptEngines:
    """The records and rules of the engines whose step is not in `steps`, from `out_dir` (trained by this command
    on the same tracks). Raises ModelFilesError or DatasetError if it holds no such engine or other tracks."""
    keep = [engine for step, engine in ENGINE_STEPS.items() if step not in steps]
    if not keep:
        return KeptEngines()
    path = Path(out_dir) / METRICS_JSON
    report = json.loads(path.read_text()) if path.is_file() else {}
    missing = [engine for engine in keep if engine not in report.get("engines", {})]
    if missing:
        raise ModelFilesError(f"{out_dir} holds no {missing[0]} engine trained by `python -m codeFeature.train`: "
                              f"train it first (add its step to --steps).")
    trained_on = (report["data"]["tracks"], (report["data"]["realsongs"] or {}).get("songs", 0),
                  (report["data"]["realsongs"] or {}).get("outside", 0))
    have = (int(data.gtzan.sum()), int(data.real.sum()), int(data.outside.sum()))
    if tuple(trained_on) != have:
        raise DatasetError(f"{out_dir} was trained on {trained_on[0]} GTZAN tracks, {trained_on[1]} real songs and "
                           f"{trained_on[2]} outside songs, not {have[0]}, {have[1]} and {have[2]}: train every "
                           f"engine on these (all --steps).")
    settings = EngineSettings.read(out_dir)
    return KeptEngines(engines={engine: report["engines"][engine] for engine in keep},
                       rules={engine: settings.thresholds(engine) for engine in keep})


def fit_final_cnn(data: CnnData, runs: list[Run], settings: TrainSettings, epochs: int | None, out_dir: Path,
                  log) -> dict:
    """The shipped CNN, fitted on every track for `epochs` (default: the median of the runs' best epochs) and saved
    into `out_dir`; returns its metrics.json record (files, size, settings)."""
    genre_tracks = np.flatnonzero(~data.outside)
    final_epochs = epochs or (int(np.median([r.best_epoch for r in runs])) if runs else settings.max_epochs)
    log(f"training the final CNN on all {len(genre_tracks)} tracks for {final_epochs} epochs")
    final_started = time.perf_counter()
    model, _, _ = fit_cnn.fit(data, genre_tracks, settings, epochs=final_epochs, log=log)
    save_model(model, out_dir)
    return {"files": list(engine_table.engine("cnn").files), "parameters": int(model.count_params()),
            "features": feature_settings()["cnn"], "epochs": final_epochs, "settings": asdict(settings),
            "final_fit_seconds": round(time.perf_counter() - final_started, 1)}


def fit_final_head(head_data: fit_head.HeadData, runs: list[Run], seed: int, out_dir: Path, log) -> dict:
    """The genre head of the design (networks included) chosen by inner CV on every track, saved into `out_dir`
    with the networks it reads; returns its metrics.json record."""
    everything = np.arange(len(head_data.labels))
    log(f"choosing and fitting the final genre head on all {len(everything)} tracks")
    chosen = fit_head.select(head_data, everything, seed)
    design = chosen.chosen.design
    log(f"  chose {design.label}")
    head = fit_head.fit_linear(head_data, everything, design).keras()
    save_keras(head, *head_files(out_dir))
    _copy_ears(out_dir)
    return {"files": [name for e in design.ears for name in (ear(e).json_name, ear(e).weights_name)]
            + [path.name for path in head_files(out_dir)],
            "ears": list(design.ears), "macs_per_segment": fit_head.ear_cost(design.ears),
            "head_parameters": int(head.count_params()), "head_inputs": list(head_layout(design.ears)),
            "design": design.record(), "designs": [d.label for d in fit_head.DESIGNS],
            "selection": {"final": chosen.record(), **{r.name: r.selection for r in runs}}}


def judge(data: TrackData, runs: dict[str, list[Run]], engines: dict,
          ablation: dict[str, list[Run]] | None = None) -> dict[str, Thresholds]:
    """From the held-out predictions, every engine's "not sure" rule and figures (added to `engines`) and the genre
    head's ablation (every design's figures on the same runs, added to engines["musicnn"]). Returns each engine's
    shipped rule."""
    rules = {engine: judge_engine(data, engine_runs, engines[engine]) for engine, engine_runs in runs.items()}
    if ablation:
        engines["musicnn"]["ablation"] = {
            label: evaluate.ablation_row(data, design_runs, fit_head.design(label).ears,
                                         fit_head.ear_cost(fit_head.design(label).ears))
            for label, design_runs in ablation.items()}
    return rules


def judge_engine(data: TrackData, engine_runs: list[Run], record: dict) -> Thresholds:
    """One engine's "not sure" rule (per run and shipped) and held-out figures, added to its metrics.json `record`;
    returns the shipped rule."""
    per_run, rule = evaluate.choose_rules(data, engine_runs)
    record["not_sure"] = {**asdict(rule), "per_run": {k: asdict(v) for k, v in per_run.items()}}
    record["evaluation"] = evaluate.evaluate_runs(data, engine_runs, per_run)
    return rule


def in_engine_order(engines: dict) -> dict:
    """metrics.json's engine records in the engine table's order (cheapest first), as every table shows them."""
    return {name: engines[name] for name in engine_table.ENGINES if name in engines}


def plot_headline(out_dir: Path, default: str, engines: dict) -> None:
    """confusion.png in `out_dir`: the `default` engine's held-out GTZAN confusion (when measured)."""
    evaluation = engines[default]["evaluation"]
    kind = next((kind for kind in GTZAN_HEADLINE if kind in evaluation), None)
    if kind is not None:
        held_out = "5-fold" if kind == "cv" else "artist-filtered split"
        title = f"{default}: {held_out} track-level confusion (GTZAN)"
        metrics.plot_confusion(evaluation[kind]["original"]["track"]["confusion"], title, out_dir / CONFUSION_PNG)


def write(out_dir: Path, data: TrackData, engines: dict, default: str, rules: dict[str, Thresholds],
          sources: dict[str, Path | None], command: str | None) -> dict:
    """engines.json and confusion.png into `out_dir` (beside the model files); returns metrics.json's content
    (of schema card.SCHEMA; the caller adds the total time and writes it)."""
    ears = tuple(engines["musicnn"]["ears"]) if "musicnn" in engines else ("musicnn",)
    EngineSettings(default_engine=default, not_sure={engine: asdict(rule) for engine, rule in rules.items()},
                   ears=ears, head_inputs=head_layout(ears)).write(out_dir)
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


def build_parser() -> argparse.ArgumentParser:
    """The command's options (its --help; docs/ lists the same, checked by tests/test_docs.py)."""
    parser = argparse.ArgumentParser(prog="python -m codeFeature.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="GTZAN-layout folder (see genres_original/README.md)")
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
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS),
                        help="what to run (default: all): 'features' fills the cache; 'cnn' and 'head' train those "
                             "engines, keeping the other's files and figures from --out")
    parser.add_argument("--ears", nargs="+", choices=EARS, default=list(fit_head.DESIGN_EARS),
                        help="the pretrained networks whose outputs the genre head's designs may read (default: "
                             "those the designs name; training chooses the design)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = TrainSettings(max_epochs=args.max_epochs, min_epochs=min(args.min_epochs, args.max_epochs),
                             seed=args.seed)
    command = " ".join(["python -m codeFeature.train", *(argv if argv is not None else sys.argv[1:])])
    started = time.perf_counter()
    try:
        report = train(args.data, args.out, args.cache, args.folds, not args.no_split, args.epochs, settings,
                       args.workers, command=command, realsongs_dir=args.realsongs,
                       ears=tuple(name for name in EARS if name in args.ears),
                       steps=tuple(step for step in STEPS if step in args.steps))
        if report is None:
            return 0
        card = read_card(args.out)  # what was written, read back as every surface reads it
    except GenreClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for engine, details in card.engines.items():
        for kind, f in details.measured.items():
            print(f"{engine} {kind}: track accuracy {f.accuracy:.3f} (top-3 {f.top3_accuracy:.3f}), macro recall "
                  f"{f.macro_recall:.3f} ({f.tracks} tracks); confident {f.confident_share:.0%} of them, "
                  f"{f.confident_accuracy:.3f} right")
        for group, f in details.cv_sources.items():
            print(f"{engine} {group} held out by artist: {f.accuracy:.3f} of its {f.tracks} songs")
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
