"""genre_head.py / train_head.py: balanced examples, a head that learns separable embeddings, save and load."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeFeature import train_head
from codeFeature.config import GENRES
from codeFeature.dataset import TrackFeatures
from codeFeature.errors import ModelFilesError
from codeFeature.genre_head import files, load_head
from codeFeature.model import save_keras


def _embeddings(n_tracks: int, dims: int = 16, seed: int = 0) -> tuple[list[TrackFeatures], np.ndarray]:
    """Tracks whose embeddings cluster around a per-genre centre; every third track has 1 segment, others 10."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(GENRES), dims))
    labels = np.arange(n_tracks) % len(GENRES)
    tracks = []
    for i, label in enumerate(labels):
        segments = 1 if i % 3 == 0 else 10
        tracks.append(TrackFeatures(
            (centres[label] + rng.normal(0, 1, (3, segments, dims))).astype(np.float16),
            (centres[label] + rng.normal(0, 1, (3, 2, dims))).astype(np.float16)))
    return tracks, labels


def test_examples_weigh_every_genre_and_track_equally() -> None:
    tracks, labels = _embeddings(25)  # genres 0-4 have three tracks, 5-9 two; tracks have 12 or 48 segments
    x, y, w = train_head.examples(tracks, labels, np.arange(25))
    assert x.shape == (len(y), 16) and x.dtype == np.float32 and w.mean() == pytest.approx(1.0)
    per_genre = np.bincount(y, weights=w, minlength=10)
    np.testing.assert_allclose(per_genre, per_genre[0], rtol=1e-5)


def test_head_learns_and_held_out_tracks_get_per_segment_probabilities() -> None:
    tracks, labels = _embeddings(60)
    result = train_head.run("cv1", tracks, labels, np.arange(40), np.arange(40, 60),
                            train_head.HeadSettings(epochs=10))
    assert result["name"] == "cv1" and list(result["test_idx"]) == list(range(40, 60))
    for variant, probs in result["probs"].items():
        assert [len(p) for p in probs] == [tracks[i].eval.shape[1] for i in range(40, 60)]
        predicted = [int(np.argmax(p.mean(axis=0))) for p in probs]
        assert np.mean(np.array(predicted) == labels[40:]) >= 0.9, variant
        assert np.allclose([p.sum(axis=1) for p in probs[1:2]], 1.0, atol=1e-5)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tracks, labels = _embeddings(20)
    head = train_head.fit_head(tracks, labels, np.arange(20), train_head.HeadSettings(epochs=1))
    save_keras(head, *files(tmp_path))
    loaded = load_head(tmp_path)
    x = tracks[1].eval[0].astype(np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(x), head.predict_on_batch(x), atol=1e-6)
    with pytest.raises(ModelFilesError, match="missing"):
        load_head(tmp_path / "nowhere")
