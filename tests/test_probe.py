"""probe.py: designs read the right part of the head inputs and are judged on the training command's runs."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from codeFeature import probe, train
from codeFeature.config import GENRES, MSD_TAGS
from codeFeature.dataset import Track, TrackFeatures
from codeFeature.realsongs import TRACK_PREFIX


def test_design_inputs_slice_tags_and_embedding() -> None:
    f = TrackFeatures(np.arange(3 * 2 * (len(MSD_TAGS) + 4)).reshape(3, 2, -1).astype(np.float32),
                      np.zeros((3, 1, len(MSD_TAGS) + 4), np.float32), np.zeros((3, 2), bool))
    assert probe.design_inputs([f], "tags")[0].eval.shape[-1] == len(MSD_TAGS)
    assert probe.design_inputs([f], "embedding")[0].crops.shape[-1] == 4
    assert probe.design_inputs([f], "both")[0] is f


def test_every_design_is_judged_on_gtzan_and_real_songs() -> None:
    rng = np.random.default_rng(0)
    dims = len(MSD_TAGS) + 8
    centres = rng.normal(0, 3, (len(GENRES), dims))
    tracks, inputs = [], []
    for i in range(80):  # 60 GTZAN tracks, 20 real songs by 20 artists
        genre = i % len(GENRES)
        real = i >= 60
        tracks.append(Track(f"{TRACK_PREFIX}{i}" if real else f"{GENRES[genre]}.{i:05d}", GENRES[genre],
                            clip=Path(f"{i}.wav"), artist=f"artist {i}" if real else None))
        inputs.append(TrackFeatures((centres[genre] + rng.normal(0, 1, (3, 4, dims))).astype(np.float32),
                                    np.zeros((3, 1, dims), np.float32), np.zeros((3, 4), bool)))
    data = SimpleNamespace(tracks=tracks, labels=np.array([t.label for t in tracks]),
                           real=np.arange(80) >= 60)
    jobs = train.evaluation_jobs(data, folds=5, use_split=False, settings=train.TrainSettings())
    for design in probe.DESIGNS[:2]:
        evaluation = probe.evaluate(design, inputs, data, jobs)
        assert evaluation["cv"]["original"]["track"]["n"] == 60 and evaluation["realsongs"]["track"]["n"] == 20
        assert evaluation["cv"]["original"]["track"]["accuracy"] >= 0.9
        line = probe.row(design, evaluation)
        assert line.startswith(f"| {design.name} | ") and line.count("|") == 5
