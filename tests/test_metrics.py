"""training/metrics.py: figures on a hand-checked example, track vs segment level."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeFeature.config import GENRES
from codeFeature.training.metrics import (
    TrackPrediction,
    evaluate_tracks,
    plot_confusion,
    summarise,
)


def test_summarise_by_hand() -> None:
    # blues: 2 of 3 right; rock: 1 of 1 right; one blues taken for rock.
    result = summarise([0, 0, 0, 9], [0, 0, 9, 9])
    assert result["accuracy"] == 0.75 and result["macro_recall"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert result["per_class"]["rock"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(0.6667), "support": 1}
    assert result["per_class"]["jazz"]["support"] == 0
    assert result["confusion"][0][9] == 1 and np.sum(result["confusion"]) == 4


def test_track_level_uses_the_song_and_segment_level_every_segment() -> None:
    # Track of genre 1: two segments lean slightly to 0, one strongly to 1; the song says 1.
    segments = np.array([[0.55, 0.45] + [0] * 8, [0.55, 0.45] + [0] * 8, [0.0, 1.0] + [0] * 8])
    result = evaluate_tracks([1], [TrackPrediction(segments.mean(axis=0), segments)])
    assert result["track"]["accuracy"] == 1.0 and result["track"]["top3_accuracy"] == 1.0
    assert result["segment"]["accuracy"] == pytest.approx(1 / 3, abs=1e-4) and result["segment"]["n"] == 3


def test_top3_accuracy() -> None:
    song = np.array([0.4, 0.3, 0.2, 0.1] + [0.0] * 6)
    predictions = [TrackPrediction(song, song[None])] * 4
    result = evaluate_tracks([0, 2, 3, 9], predictions)["track"]
    assert result["accuracy"] == 0.25 and result["top3_accuracy"] == 0.5


def test_confusion_png(tmp_path: Path) -> None:
    plot_confusion(np.eye(len(GENRES), dtype=int).tolist(), "test", tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
