"""models/song.py: the one song-level aggregation (serving and evaluation both call it), ranking."""
from __future__ import annotations

import numpy as np
import pytest

from codeFeature.models.genre_head import song_rows
from codeFeature.models.song import audible_mean, top_k
from codeFeature.training.dataset import TrackFeatures
from codeFeature.training.metrics import held_out_predictions


def test_audible_mean_leaves_silent_segments_out() -> None:
    values = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert audible_mean(values, [True, False, False]).tolist() == [0.0, 1.0]
    assert audible_mean(values, [False] * 3) == pytest.approx([1 / 3, 2 / 3])
    assert audible_mean(values, [True] * 3) == pytest.approx([1 / 3, 2 / 3])  # all silent: all count


def test_evaluation_and_the_head_use_the_same_aggregation() -> None:
    """The evaluation of a per-segment model and the head's song row both go through audible_mean."""
    segments = np.eye(10, dtype=np.float32)[[0, 1, 1]]  # one "model output" per segment
    silent = np.array([[True, False, False]] * 3)
    features = [TrackFeatures(np.stack([segments] * 3), np.zeros((3, 1, 10), np.float32), silent)]

    def identity(x: np.ndarray) -> np.ndarray:  # a "model" whose output is its input
        return x

    prediction = held_out_predictions(identity, features, np.array([0]))["original"][0]
    assert prediction.song.tolist() == audible_mean(segments, silent[0]).tolist()
    assert prediction.song[1] == 1.0 and prediction.segments.shape == (3, 10)
    rows = song_rows(segments, silent[0])
    assert rows.shape == (4, 10) and rows[0].tolist() == audible_mean(segments, silent[0]).tolist()


def test_top_k() -> None:
    assert top_k(np.array([0.1, 0.5, 0.2, 0.5]), 3).tolist() == [1, 3, 2]  # ties keep their order
