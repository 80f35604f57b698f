"""genre_head.py / train_head.py: inputs, balanced song examples, a head that learns, save and load."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeFeature import train_head
from codeFeature.config import GENRES, MSD_TAGS
from codeFeature.dataset import TrackFeatures
from codeFeature.errors import ModelFilesError
from codeFeature.genre_head import files, head_inputs, load_head, song_rows
from codeFeature.model import save_keras


def _tracks(n_tracks: int, dims: int = 16, seed: int = 0) -> tuple[list[TrackFeatures], np.ndarray]:
    """Tracks whose segment vectors cluster around a per-genre centre; every third track has 1 segment, others 10."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(GENRES), dims))
    labels = np.arange(n_tracks) % len(GENRES)
    tracks = []
    for i, label in enumerate(labels):
        segments = 1 if i % 3 == 0 else 10
        tracks.append(TrackFeatures((centres[label] + rng.normal(0, 1, (3, segments, dims))).astype(np.float16),
                                    (centres[label] + rng.normal(0, 1, (3, 2, dims))).astype(np.float16),
                                    np.zeros((3, segments), bool)))
    return tracks, labels


def test_head_inputs_are_tag_logits_then_the_embedding() -> None:
    outputs = {"tags": np.full((2, len(MSD_TAGS)), 0.5), "penultimate": np.ones((2, 200)),
               "pooled": np.zeros((2, 1506))}
    x = head_inputs(outputs)
    assert x.shape == (2, len(MSD_TAGS) + 200) and x.dtype == np.float32
    assert np.allclose(x[:, :len(MSD_TAGS)], 0.0) and np.allclose(x[:, len(MSD_TAGS):], 1.0)
    assert np.isfinite(head_inputs({**outputs, "tags": np.ones((2, len(MSD_TAGS)))})).all()  # clipped, not inf


def test_examples_weigh_genres_equally_and_real_songs_more() -> None:
    tracks, labels = _tracks(25)
    real = np.arange(25) % 3 == 0  # genre 0: track 0 real, tracks 10 and 20 GTZAN
    x, y, w = train_head.song_examples(tracks, labels, real, np.arange(25), train_head.HeadSettings(real_weight=3.0))
    assert x.shape == (25 * 3, 16) and w.mean() == pytest.approx(1.0)  # one example per track and variant
    per_genre = np.bincount(y, weights=w, minlength=10)
    np.testing.assert_allclose(per_genre, per_genre[0], rtol=1e-5)
    track = np.repeat(np.arange(25), 3)
    assert w[track == 0][0] == pytest.approx(3 * w[track == 10][0]) and w[track == 10][0] == w[track == 20][0]


def test_head_learns_and_gives_song_and_segment_probabilities() -> None:
    tracks, labels = _tracks(60)
    real = np.zeros(60, bool)
    run = train_head.run("cv1", tracks, labels, real, np.arange(40), np.arange(40, 60))
    assert run.name == "cv1" and list(run.test_idx) == list(range(40, 60))
    for variant, predictions in run.predictions.items():
        assert [len(p.segments) for p in predictions] == [tracks[i].eval.shape[1] for i in range(40, 60)]
        predicted = [int(np.argmax(p.song)) for p in predictions]
        assert np.mean(np.array(predicted) == labels[40:]) >= 0.9, variant
        assert all(np.isclose(p.song.sum(), 1.0) for p in predictions)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tracks, labels = _tracks(20)
    head = train_head.fit_head(tracks, labels, np.zeros(20, bool), np.arange(20))
    save_keras(head, *files(tmp_path))
    loaded = load_head(tmp_path, dims=16)
    rows = song_rows(tracks[1].eval[0].astype(np.float32), tracks[1].silent[0])
    np.testing.assert_allclose(loaded.predict_on_batch(rows), head.predict_on_batch(rows), atol=1e-6)
    with pytest.raises(ModelFilesError, match="reads 16 numbers"):
        load_head(tmp_path, dims=250)
    with pytest.raises(ModelFilesError, match="missing"):
        load_head(tmp_path / "nowhere")


def test_a_genre_without_tracks_is_never_predicted() -> None:
    tracks, labels = _tracks(30)
    keep = np.flatnonzero(labels < 2)  # only two genres to learn from (the binary case of the fit)
    head = train_head.fit_head(tracks, labels, np.zeros(30, bool), keep)
    probs = np.asarray(head.predict_on_batch(tracks[0].eval[0].astype(np.float32)))
    assert probs[:, 2:].max() < 1e-9 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
