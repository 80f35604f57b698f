"""train.py: a tiny end-to-end run writes loadable model files of every engine and honest, track-grouped metrics."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codeFeature import train
from codeFeature.classifier import GenreClassifier
from codeFeature.config import (ENGINES, ENSEMBLE_JSON, GENRES, HEAD_JSON, HEAD_WEIGHTS, METRICS_JSON, MODEL_JSON,
                                MODEL_WEIGHTS, MUSICNN_JSON, MUSICNN_LICENSE, MUSICNN_WEIGHTS)
from codeFeature.model import load_model
from conftest import make_dataset


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("train")
    data = make_dataset(root / "data", per_genre=3, seconds=5.0, excerpts=True)
    out = root / "model"
    code = train.main(["--data", str(data), "--out", str(out), "--cache", str(root / "cache"), "--folds", "2",
                       "--max-epochs", "3", "--min-epochs", "1", "--workers", "2", "--head-epochs", "5"])
    assert code == 0
    return out, json.loads((out / METRICS_JSON).read_text())


def test_writes_every_engine_metrics_and_confusion(run: tuple[Path, dict], song_wav: Path) -> None:
    out, report = run
    for name in (MODEL_JSON, MODEL_WEIGHTS, HEAD_JSON, HEAD_WEIGHTS, MUSICNN_JSON, MUSICNN_WEIGHTS, MUSICNN_LICENSE,
                 ENSEMBLE_JSON, METRICS_JSON, "confusion.png"):
        assert (out / name).is_file(), name
    assert load_model(out).count_params() == report["engines"]["cnn"]["parameters"]
    assert report["data"]["tracks"] == 60 and report["genres"] == list(GENRES)
    assert report["command"].startswith("python -m codeFeature.train --data")
    assert set(report["engines"]) == set(ENGINES)
    for engine in ENGINES:  # the folder is complete: every engine loads and classifies from it
        assert GenreClassifier(out, engine).classify(song_wav).engine == engine


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


def test_ensemble_weight_and_default_engine_are_the_best_measured(run: tuple[Path, dict]) -> None:
    out, report = run
    ensemble = report["engines"]["ensemble"]
    scores = ensemble["weight_scores"]
    assert len(scores) == 11 and scores[f"{ensemble['musicnn_weight']:.1f}"] == max(scores.values())
    robust = {engine: train._robust_score(details["evaluation"]) for engine, details in report["engines"].items()}
    assert robust[report["default_engine"]] == max(robust.values())
    assert robust["ensemble"] == pytest.approx(max(scores.values()), abs=1e-4)
    settings = json.loads((out / ENSEMBLE_JSON).read_text())
    assert settings["default_engine"] == report["default_engine"]
    assert settings["musicnn_weight"] == ensemble["musicnn_weight"]


def test_folds_never_share_a_track() -> None:
    data = train._set_data(*_fake_tracks(40))
    jobs = train.evaluation_jobs(data, folds=4, use_split=False, settings=train.TrainSettings())
    held_out = np.concatenate([test for _, _, test, _ in jobs])
    assert sorted(held_out) == list(range(40))
    for _, fit_idx, test_idx, _ in jobs:
        assert not set(fit_idx) & set(test_idx)
        inner_fit, inner_val = train._inner_split(data, fit_idx, train.TrainSettings())
        assert not set(inner_fit) & set(inner_val) and not set(inner_val) & set(test_idx)


def test_too_few_tracks_for_the_folds_is_a_clear_error() -> None:
    data = train._set_data(*_fake_tracks(20))
    with pytest.raises(train.DatasetError, match="at least 5 tracks"):
        train.evaluation_jobs(data, folds=5, use_split=False, settings=train.TrainSettings())


def test_epoch_draw_balances_the_classes() -> None:
    tracks, features = _fake_tracks(40)
    tracks = tracks[:13]  # genres 0-2 have two tracks, the others one: unbalanced on purpose
    data = train._set_data(tracks, features[:13])
    x, y, w = train.draw_epoch(data, np.arange(13), np.random.default_rng(0), train.TrainSettings(),
                               np.zeros(13, np.float32))
    per_class = np.bincount(y.argmax(axis=1), weights=w, minlength=10)
    present = per_class[per_class > 0]
    assert np.allclose(present, present[0]) and x.shape[0] == len(w)


def _fake_tracks(n: int):
    from codeFeature.dataset import Track, TrackFeatures
    rng = np.random.default_rng(0)
    tracks = [Track(f"{GENRES[i % 10]}.{i:05d}", GENRES[i % 10], clip=Path(f"{i}.wav")) for i in range(n)]
    feats = [TrackFeatures(rng.normal(size=(3, 2, 130, 13, 1)).astype(np.float16),
                           rng.normal(size=(3, 2, 130, 13, 1)).astype(np.float16)) for _ in range(n)]
    return tracks, feats


def test_missing_musicnn_files_are_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(train, "MODEL_DIR", tmp_path / "empty")
    code = train.main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2 and "musicnn_convert" in capsys.readouterr().err
