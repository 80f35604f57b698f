"""train.py: a tiny end-to-end run writes loadable model files and honest, track-grouped metrics."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codeFeature import train
from codeFeature.config import GENRES, METRICS_JSON, MODEL_JSON, MODEL_WEIGHTS
from codeFeature.model import load_model
from conftest import make_dataset


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("train")
    data = make_dataset(root / "data", per_genre=3, seconds=5.0, excerpts=True)
    out = root / "model"
    code = train.main(["--data", str(data), "--out", str(out), "--cache", str(root / "cache"), "--folds", "2",
                       "--max-epochs", "3", "--min-epochs", "1", "--workers", "2"])
    assert code == 0
    return out, json.loads((out / METRICS_JSON).read_text())


def test_writes_model_metrics_and_confusion(run: tuple[Path, dict]) -> None:
    out, report = run
    for name in (MODEL_JSON, MODEL_WEIGHTS, METRICS_JSON, "confusion.png"):
        assert (out / name).is_file()
    model = load_model(out)
    assert model.count_params() == report["model"]["parameters"]
    assert report["model"]["trained_on"]["tracks"] == 60 and report["model"]["genres"] == list(GENRES)
    assert report["command"].startswith("python -m codeFeature.train --data")


def test_metrics_cover_every_track_once_per_variant(run: tuple[Path, dict]) -> None:
    _, report = run
    cv = report["evaluation"]["cv"]
    assert sum(r["held_out_tracks"] for r in cv["runs"]) == 60
    for variant in ("original", "modern", "modern_lossy"):
        track = cv[variant]["track"]
        assert track["n"] == 60 and sum(c["support"] for c in track["per_class"].values()) == 60
        assert 0.0 <= track["accuracy"] <= 1.0 and len(track["confusion"]) == 10
    # 30 full clips give ten segments each, 30 excerpt-only tracks one.
    assert cv["original"]["segment"]["n"] == 30 * 10 + 30
    assert cv["original_full_clips_only"]["n"] == 30


def test_folds_never_share_a_track() -> None:
    data = train._set_data(*_fake_tracks(40))
    jobs = train._jobs(data, folds=4, use_split=False, settings=train.TrainSettings())
    held_out = np.concatenate([test for _, _, test, _ in jobs])
    assert sorted(held_out) == list(range(40))
    for _, fit_idx, test_idx, _ in jobs:
        assert not set(fit_idx) & set(test_idx)
        inner_fit, inner_val = train._inner_split(data, fit_idx, train.TrainSettings())
        assert not set(inner_fit) & set(inner_val) and not set(inner_val) & set(test_idx)


def test_too_few_tracks_for_the_folds_is_a_clear_error() -> None:
    data = train._set_data(*_fake_tracks(20))
    with pytest.raises(train.DatasetError, match="at least 5 tracks"):
        train._jobs(data, folds=5, use_split=False, settings=train.TrainSettings())


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
