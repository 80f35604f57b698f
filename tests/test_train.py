"""The training pipeline (training/): a tiny end-to-end run writes loadable model files of every engine and honest,
track-grouped metrics; its steps (data, folds, fit, evaluate) called directly on made-up tracks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset, make_realsongs

from codeFeature.config import (
    EARS,
    ENGINES_JSON,
    GENRES,
    HEAD_JSON,
    HEAD_WEIGHTS,
    METRICS_JSON,
    MODEL_JSON,
    MODEL_WEIGHTS,
    MUSICNN_LICENSE,
)
from codeFeature.apps.report import render as report_page
from codeFeature.engine.card import read_card
from codeFeature.engine.classifier import GenreClassifier
from codeFeature.engine.engines import ENGINES
from codeFeature.engine.settings import EngineSettings
from codeFeature.errors import DatasetError
from codeFeature.models.cnn import load_model
from codeFeature.models.ears import ear
from codeFeature.training import evaluate, fit_cnn, fit_head, train
from codeFeature.training.dataset import Track, TrackFeatures
from codeFeature.training.folds import evaluation_jobs
from codeFeature.training.metrics import Run, TrackPrediction
from codeFeature.training.track_data import CnnData, TrackData

RUNS = ("cv1", "cv2", "source:GTZAN", "source:small sources")  # the tiny run's evaluation runs
TINY_EARS = ("musicnn",)


def _train_args(root: Path, out: Path, *more: str) -> list[str]:
    return ["--data", str(root / "data"), "--realsongs", str(root / "real"), "--out", str(out), "--cache",
            str(root / "cache"), "--folds", "2", "--max-epochs", "3", "--min-epochs", "1", "--workers", "2",
            "--ears", *TINY_EARS, *more]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("train")
    make_dataset(root / "data", per_genre=3, seconds=5.0, excerpts=True)
    make_realsongs(root / "real", per_genre=2, seconds=5.0, outside=6)
    out = root / "model"
    assert train.main(_train_args(root, out)) == 0
    return out, json.loads((out / METRICS_JSON).read_text())


def test_writes_every_engine_metrics_and_confusion(run: tuple[Path, dict], song_wav: Path) -> None:
    out, report = run
    ear_files = [path.name for name in EARS for path in ear(name).files(out)]
    for name in (MODEL_JSON, MODEL_WEIGHTS, HEAD_JSON, HEAD_WEIGHTS, *ear_files, MUSICNN_LICENSE, ENGINES_JSON,
                 METRICS_JSON, "confusion.png"):
        assert (out / name).is_file(), name
    assert load_model(out).input_shape and report["engines"]["cnn"]["parameters"]
    assert report["data"]["tracks"] == 60 and report["genres"] == list(GENRES)
    assert report["data"]["realsongs"]["songs"] == 20 and report["data"]["realsongs"]["artists"] == 20
    assert report["command"].startswith("python -m codeFeature.train --data")
    assert list(report["engines"]) == list(ENGINES)  # in the engine table's order
    for engine in ENGINES:  # the folder is complete: every engine loads and classifies from it
        assert GenreClassifier(out, engine).classify(song_wav).engine == engine
    accuracy = report_page(read_card(out))  # and docs/accuracy.md can be written from it
    assert "## By source" in accuracy and "**(shipped)**" in accuracy


def test_real_songs_are_judged_held_out_by_every_engine(run: tuple[Path, dict]) -> None:
    _, report = run
    for engine in ENGINES:
        real = report["engines"][engine]["evaluation"]["realsongs"]
        assert "artist" in real["held_out"] and sum(r["held_out_tracks"] for r in real["runs"]) == 20
        track = real["original"]["track"]
        assert track["n"] == 20 and 0 <= track["accuracy"] <= track["top3_accuracy"] <= 1
        assert 0 <= track["macro_recall"] <= 1 and set(track["per_class"]) == set(GENRES)
        assert len(track["confusion"]) == 10 and sum(map(sum, track["confusion"])) == 20
        assert real["confidence"]["n"] == 20 and real["no_doubt"]["n"] == 10  # every other song is `doubt`
        outside = report["engines"][engine]["evaluation"]["outside"]
        assert outside["n"] == 6 and 0 <= outside["not_sure"] <= 1 and "artist" in outside["held_out"]
        assert sum(outside["reasons"].values()) == round(outside["not_sure"] * 6)
        rule = report["engines"][engine]["not_sure"]
        assert set(rule["per_run"]) == set(RUNS)  # the tiny data set has no artist-filtered split
        assert (rule["max_outside"] == 1.0) == (engine == "cnn")  # only engines with the head say "outside"
        # per source, the cv runs' held-out songs: GTZAN's 60 tracks, the 20 real songs of the small sources
        by_artist = report["engines"][engine]["evaluation"]["cv_sources"]
        assert {g: s["original"]["track"]["n"] for g, s in by_artist.items()} == {"GTZAN": 60, "small sources": 20}
        assert [r["name"] for r in by_artist["GTZAN"]["runs"]] == ["cv1", "cv2"]
    head = report["engines"]["musicnn"]
    assert set(head["selection"]) == {"final", *RUNS}
    assert head["selection"]["final"]["design"] == head["design"]["label"]


def test_every_source_is_judged_by_models_that_never_heard_it(run: tuple[Path, dict]) -> None:
    out, report = run
    # 20 real songs from two repositories, both under MIN_SOURCE_SONGS: held out together, apart from GTZAN
    assert report["data"]["sources"] == {"GTZAN": {"tracks": 60, "outside": 0, "of": ["GTZAN"]},
                                         "small sources": {"tracks": 20, "outside": 6,
                                                           "of": ["first/repo", "second/repo", "unnamed source"]}}
    for engine in ENGINES:
        sources = report["engines"][engine]["evaluation"]["sources"]
        assert set(sources) == {"GTZAN", "small sources"}
        assert [r["name"] for r in sources["GTZAN"]["runs"]] == ["source:GTZAN"]
        assert sources["GTZAN"]["original"]["track"]["n"] == 60 and "original_full_clips_only" in sources["GTZAN"]
        small = sources["small sources"]
        assert small["original"]["track"]["n"] == 20 and small["no_doubt"]["n"] == 10
        assert small["confidence"]["n"] == 20 and small["outside"]["n"] == 6
        assert "other sources only" in small["held_out"]
    head = report["engines"]["musicnn"]
    designs = [d for d in fit_head.DESIGNS if set(d.ears) <= set(TINY_EARS)]
    assert list(head["ablation"]) == [d.label for d in designs]  # every design the networks allow, same runs
    for label, row in head["ablation"].items():  # a design without GTZAN has nothing to learn from without the
        left_out = {"GTZAN", "small sources"} if fit_head.design(label).gtzan else {"GTZAN"}  # small sources
        assert set(row["sources"]) == left_out and set(row["cv_sources"]) == {"GTZAN", "small sources"}
        assert row["realsongs"]["n"] == 20
        assert row["macs_per_song"] == 10 * sum(ear(name).macs for name in fit_head.design(label).ears)
    settings = EngineSettings.read(out)
    assert list(settings.ears) == head["ears"] == head["selection"]["final"]["ears"] == head["design"]["ears"]
    assert head["files"][:2 * len(settings.ears)] == [p.name for name in settings.ears for p in ear(name).files(out)]


def test_metrics_cover_every_track_once_per_variant(run: tuple[Path, dict]) -> None:
    _, report = run
    for engine in ENGINES:
        cv = report["engines"][engine]["evaluation"]["cv"]
        assert sum(r["held_out_tracks"] for r in cv["runs"]) == 60
        for variant in ("original", "modern", "modern_lossy"):
            track = cv[variant]["track"]
            assert track["n"] == 60 and sum(c["support"] for c in track["per_class"].values()) == 60
            assert 0.0 <= track["accuracy"] <= 1.0 and len(track["confusion"]) == 10
        # 30 full clips give ten segments each, 30 excerpt-only tracks one.
        assert cv["original"]["segment"]["n"] == 30 * 10 + 30
        assert cv["original_full_clips_only"]["n"] == 30


def test_default_engine_and_rules_are_what_was_measured(run: tuple[Path, dict]) -> None:
    out, report = run
    evaluations = {engine: details["evaluation"] for engine, details in report["engines"].items()}
    assert report["default_engine"] == evaluate.choose_default(evaluations)
    settings = EngineSettings.read(out)
    assert settings.default_engine == report["default_engine"]
    assert settings.not_sure == {engine: {key: report["engines"][engine]["not_sure"][key]
                                          for key in ("min_margin", "max_outside")} for engine in ENGINES}


def test_default_engine_is_best_per_source_then_robust_then_cheaper() -> None:
    def evaluation(real: float, gtzan: float, split: float | None = None) -> dict:
        variants = {v: {"track": {"macro_recall": gtzan}} for v in ("original", "modern", "modern_lossy")}
        measured = {"cv": variants, "realsongs": {"original": {"track": {"accuracy": real}}}}
        return measured if split is None else {**measured, "split": {"original": {"track": {"accuracy": split}}}}

    assert evaluate.choose_default({"cnn": evaluation(0.6, 0.9), "musicnn": evaluation(0.9, 0.8)}) == "musicnn"
    assert evaluate.choose_default({"cnn": evaluation(0.9, 0.85), "musicnn": evaluation(0.9, 0.8)}) == "cnn"
    assert evaluate.choose_default({"cnn": evaluation(0.9, 0.8), "musicnn": evaluation(0.9, 0.8)}) == "cnn"
    # An engine below the GTZAN floor on the artist-filtered split is not the default, unless every engine is.
    assert evaluate.choose_default({"cnn": evaluation(0.74, 0.8, split=0.81),
                                    "musicnn": evaluation(0.75, 0.8, split=0.76)}) == "cnn"
    assert evaluate.choose_default({"cnn": evaluation(0.74, 0.8, split=0.70),
                                    "musicnn": evaluation(0.75, 0.8, split=0.76)}) == "musicnn"
    # Where sources are measured, each source of MIN_SOURCE_SONGS songs or more counts, held out by artist
    # (cv_sources) and left out whole (sources); smaller ones do not.
    def by_source(artist: float, whole: float) -> dict:
        return {"cv_sources": {"big": {"original": {"track": {"accuracy": artist, "n": 300}}},
                               "tiny": {"original": {"track": {"accuracy": 0.0, "n": 5}}}},
                "sources": {"big": {"original": {"track": {"accuracy": whole, "n": 300}}},
                            "tiny": {"original": {"track": {"accuracy": 1.0, "n": 5}}}}}

    assert evaluate.choose_default({"cnn": {**evaluation(0.9, 0.8), **by_source(0.8, 0.6)},
                                    "musicnn": {**evaluation(0.5, 0.8), **by_source(0.7, 0.8)}}) == "musicnn"


def test_a_step_run_keeps_the_other_engine_and_refuses_a_folder_without_it(run: tuple[Path, dict],
                                                                           tmp_path: Path) -> None:
    out, report = run
    root = out.parent
    again = tmp_path / "model"
    shutil.copytree(out, again)
    cnn_weights = (again / MODEL_WEIGHTS).read_bytes()
    assert train.main(_train_args(root, again, "--steps", "head")) == 0
    redone = json.loads((again / METRICS_JSON).read_text())
    assert redone["engines"]["cnn"] == report["engines"]["cnn"] and (again / MODEL_WEIGHTS).read_bytes() == cnn_weights
    head, before = redone["engines"]["musicnn"], report["engines"]["musicnn"]  # deterministic: the same figures
    for kind in ("realsongs", "cv", "outside"):
        assert head["evaluation"][kind].get("original") == before["evaluation"][kind].get("original")
    assert head["selection"] == before["selection"] and head["design"] == before["design"]
    assert EngineSettings.read(again).not_sure == EngineSettings.read(out).not_sure
    # a folder this command never filled: a clear error, nothing written
    assert train.main(_train_args(root, tmp_path / "empty", "--steps", "head")) == 2
    assert not (tmp_path / "empty" / METRICS_JSON).exists()
    # "features" alone fills the cache and writes no model
    assert train.main(_train_args(root, tmp_path / "features", "--steps", "features")) == 0
    assert not (tmp_path / "features").exists()


def test_folds_never_share_a_track_nor_a_real_artist() -> None:
    tracks, features = _fake_tracks(60)
    tracks = tracks[:40] + [Track(f"real.{i}", GENRES[i % 10], clip=Path(f"r{i}.wav"), artist=f"artist {i // 2}")
                            for i in range(40, 60)]  # 20 real songs, two per artist
    data = CnnData.of(TrackData.build(tracks), features)
    jobs = evaluation_jobs(data, folds=4, use_split=False)
    held_out = np.concatenate([job.test_idx for job in jobs])
    assert sorted(held_out) == list(range(60))
    for _, fit_idx, test_idx in jobs:
        assert not set(fit_idx) & set(test_idx)
        assert not {tracks[i].artist for i in fit_idx if i >= 40} & {tracks[i].artist for i in test_idx if i >= 40}
        inner_fit, inner_val = fit_cnn.inner_split(data, fit_idx, fit_cnn.TrainSettings())
        assert not set(inner_fit) & set(inner_val) and not set(inner_val) & set(test_idx)


def test_a_runs_not_sure_rule_is_chosen_without_its_own_songs(monkeypatch: pytest.MonkeyPatch) -> None:
    tracks, features = _fake_tracks(40)
    tracks = tracks[:20] + [Track(f"real.{i}", GENRES[i % 10], clip=Path(f"r{i}.wav"), artist=f"artist {i}")
                            for i in range(20, 40)]
    data = TrackData.build(tracks)
    rng = np.random.default_rng(1)
    runs = []
    for k, test in enumerate(np.array_split(np.arange(40), 4)):
        songs = [TrackPrediction(rng.dirichlet(np.ones(10)), np.zeros((1, 10))) for _ in test]
        runs.append(Run(f"cv{k + 1}", test, {v: songs for v in ("original", "modern", "modern_lossy")}))
    used: list[set[int]] = []
    real_choose = evaluate.confidence.choose_thresholds

    def spy(labels, songs, *args, **kwargs):
        used.append({id(p) for p in songs})
        return real_choose(labels, songs, *args, **kwargs)

    monkeypatch.setattr(evaluate.confidence, "choose_thresholds", spy)
    runs.append(Run("split", np.arange(20), {v: runs[0].predictions[v][:0] for v in runs[0].predictions}))
    per_run, final = evaluate.choose_rules(data, runs)
    assert set(per_run) == {"cv1", "cv2", "cv3", "cv4", "split"} and per_run["split"] == final
    final_songs, *run_songs = used
    for run, songs in zip(runs, run_songs):
        own = {id(p.song) for p in run.predictions["original"]}
        assert songs and not songs & own  # chosen on the other runs' held-out real songs only


def test_too_few_tracks_for_the_folds_is_a_clear_error() -> None:
    data = TrackData.build(_fake_tracks(20)[0])
    with pytest.raises(DatasetError, match="at least 5 tracks"):
        evaluation_jobs(data, folds=5, use_split=False)


def test_epoch_draw_balances_the_classes() -> None:
    tracks, features = _fake_tracks(40)
    tracks = tracks[:13]  # genres 0-2 have two tracks, the others one: unbalanced on purpose
    data = CnnData.of(TrackData.build(tracks), features[:13])
    x, y, w = fit_cnn.draw_epoch(data, np.arange(13), np.random.default_rng(0), fit_cnn.TrainSettings(),
                               np.zeros(13, np.float32))
    per_class = np.bincount(y.argmax(axis=1), weights=w, minlength=10)
    present = per_class[per_class > 0]
    assert np.allclose(present, present[0]) and x.shape[0] == len(w)


def test_one_run_per_source_holds_it_out_and_trains_on_the_rest() -> None:
    tracks, features = _fake_tracks(40)
    repos = ["a/big"] * 30 + ["b/small", "c/small"] * 5
    tracks = tracks + [Track(f"real.{i}", GENRES[i % 10], clip=Path(f"r{i}.wav"), artist=f"artist {i}",
                             source=repos[i - 40]) for i in range(40, 80)]
    data = TrackData.build(tracks)
    assert list(data.sources[:41]) == ["GTZAN"] * 40 + ["a/big"]
    assert set(data.sources[70:]) == {"small sources"}  # b/small and c/small have 5 songs each
    jobs = {job.name: job for job in evaluation_jobs(data, folds=0, use_split=False)}
    assert set(jobs) == {"source:GTZAN", "source:a/big", "source:small sources"}
    for group, job in ((name.removeprefix("source:"), job) for name, job in jobs.items()):
        assert set(data.sources[job.test_idx]) == {group} and group not in set(data.sources[job.train_idx])
        assert len(job.train_idx) + len(job.test_idx) == 80
    assert not evaluation_jobs(data, folds=0, use_split=False, by_source=False)


def test_the_not_sure_rule_keeps_every_large_source_confident_enough() -> None:
    rng = np.random.default_rng(3)
    labels = np.tile(np.arange(10), 13)
    # source "x": 90 songs, sure and right; source "y": 40 songs, all close calls (and mostly wrong)
    songs = [np.eye(10)[k] * 0.9 + 0.01 for k in labels[:90]] + [np.full(10, 0.1) + rng.normal(0, 0.001, 10)
                                                                  for _ in range(40)]
    groups = ["x"] * 90 + ["y"] * 40
    pooled = evaluate.confidence.choose_thresholds(labels, songs, [None] * 130)
    by_source = evaluate.confidence.choose_thresholds(labels, songs, [None] * 130, groups=groups)
    assert pooled.min_margin > 0  # pooled, all of "y" may be called not sure: 69 % of the songs stay confident
    assert by_source.min_margin == 0.0  # per source, "y" must keep 65 % of its songs confident


def _fake_tracks(n: int):
    rng = np.random.default_rng(0)
    tracks = [Track(f"{GENRES[i % 10]}.{i:05d}", GENRES[i % 10], clip=Path(f"{i}.wav")) for i in range(n)]
    feats = [TrackFeatures(rng.normal(size=(3, 2, 130, 13, 1)).astype(np.float16),
                           rng.normal(size=(3, 2, 130, 13, 1)).astype(np.float16), np.zeros((3, 2), bool))
             for _ in range(n)]
    return tracks, feats


def test_missing_musicnn_files_are_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(train, "MODEL_DIR", tmp_path / "empty")
    code = train.main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2 and "musicnn_convert" in capsys.readouterr().err
