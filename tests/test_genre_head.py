"""models/genre_head.py / training/fit_head.py: inputs (the tag-to-genre map, tag logits, embedding), weighted song
examples, a head that learns the ten genres and "none of them", design selection that never sees the held-out tracks,
save and load."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeFeature.config import GENRE_TAG_MAP, GENRES, HEAD_CLASSES, MSD_TAGS
from codeFeature.errors import ModelFilesError
from codeFeature.models.genre_head import (
    files,
    genre_map,
    head_inputs,
    input_dims,
    load_head,
    song_rows,
    split_outside,
    tag_logits,
)
from codeFeature.models.keras_files import save_keras
from codeFeature.models.runtime import InferenceModel
from codeFeature.training import fit_head
from codeFeature.training.dataset import TrackFeatures

EMBEDDING = 8
OUTSIDE = len(GENRES)


def _data(n_tracks: int, seed: int = 0, outside: int = 0) -> fit_head.HeadData:
    """Tracks whose tags and embedding cluster per class (the ten genres, then `outside` songs of none of them);
    the first half are GTZAN, the rest real songs by one artist each; every third track has 1 segment, others 10."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(HEAD_CLASSES), len(MSD_TAGS) + EMBEDDING))
    labels = np.concatenate([np.arange(n_tracks) % len(GENRES), np.full(outside, OUTSIDE)])
    inputs = []
    for i, label in enumerate(labels):
        segments = 1 if i % 3 == 0 else 10
        raw = centres[label] + rng.normal(0, 1, (3, segments, len(MSD_TAGS) + EMBEDDING))
        outputs = {"tags": 1 / (1 + np.exp(-raw[..., :len(MSD_TAGS)])), "penultimate": raw[..., len(MSD_TAGS):]}
        inputs.append(TrackFeatures(head_inputs(outputs).astype(np.float16), np.zeros((3, 0, 1)),
                                    np.zeros((3, segments), bool)))
    gtzan = np.arange(len(labels)) < n_tracks // 2
    return fit_head.HeadData(inputs, labels, gtzan, np.array([f"artist {i}" for i in range(len(labels))]))


def test_head_inputs_are_the_genre_map_then_tag_logits_then_the_embedding() -> None:
    tags = np.full((2, len(MSD_TAGS)), 0.5)
    tags[:, MSD_TAGS.index("hard rock")] = 0.9
    outputs = {"tags": tags, "penultimate": np.ones((2, 200)), "pooled": np.zeros((2, 1506))}
    x = head_inputs(outputs)
    assert x.shape == (2, input_dims({"tags": 50, "penultimate": 200, "pooled": 1506})) == (2, 10 + 50 + 200)
    assert x.dtype == np.float32 and np.allclose(x[:, 10 + 50:], 1.0)
    assert np.allclose(x[:, 10:60], tag_logits(tags))
    rock, reggae = GENRES.index("rock"), GENRES.index("reggae")
    assert x[0, rock] == pytest.approx(np.log(0.9 / 0.1), abs=1e-5)  # rock's strongest tag
    assert GENRE_TAG_MAP["reggae"] == () and x[0, reggae] < -9  # no tag: the floor
    assert np.isfinite(head_inputs({**outputs, "tags": np.ones((2, len(MSD_TAGS)))})).all()  # clipped, not inf
    assert genre_map(tag_logits(tags)).shape == (2, len(GENRES))


def test_split_outside_renormalises_the_ten_genres() -> None:
    probs = np.array([[0.05] * 10 + [0.5], [0.1] * 10 + [0.0]])
    genres, outside = split_outside(probs)
    assert np.allclose(genres.sum(axis=1), 1.0) and np.allclose(genres[0], 0.1)
    assert outside.tolist() == [0.5, 0.0]


def test_examples_weigh_gtzan_and_classes_as_set() -> None:
    data = _data(40)
    settings = fit_head.HeadSettings(gtzan_weight=0.5, balance=1.0)
    x, y, w = fit_head.song_examples(data, np.arange(40), settings)
    assert x.shape == (40 * 3, 10 + 50 + EMBEDDING) and w.mean() == pytest.approx(1.0)
    per_class = np.bincount(y, weights=w, minlength=10)
    np.testing.assert_allclose(per_class, per_class[0], rtol=1e-5)  # balance 1: every class the same total
    track = np.repeat(np.arange(40), 3)
    assert w[track == 30][0] == pytest.approx(2 * w[track == 10][0])  # track 10 GTZAN, 30 real, same genre
    _, y, w = fit_head.song_examples(data, np.arange(25), fit_head.HeadSettings(gtzan_weight=1.0, balance=0.0))
    assert np.allclose(w, 1.0)  # balance 0: as many as it has


def test_head_learns_genres_and_outside_and_keras_agrees_with_the_fit() -> None:
    data = _data(80, outside=20)
    train = np.concatenate([np.arange(60), np.arange(80, 95)])
    test = np.concatenate([np.arange(60, 80), np.arange(95, 100)])
    linear = fit_head.fit_linear(data, train)
    head = linear.keras()
    rows = np.stack([song_rows(data.inputs[i].eval[0], data.inputs[i].silent[0])[0] for i in test])
    np.testing.assert_allclose(np.asarray(head(rows, training=False)), linear.probabilities(rows), atol=1e-5)
    served = InferenceModel(head)  # as evaluation and serving run it
    np.testing.assert_allclose(served(rows), linear.probabilities(rows), atol=1e-5)
    predictions = fit_head.predict(served, data, test)
    for variant, predicted in predictions.items():
        assert [len(p.segments) for p in predicted] == [data.inputs[i].eval.shape[1] for i in test]
        genres = [int(np.argmax(p.song)) for p in predicted[:20]]
        assert np.mean(np.array(genres) == data.labels[60:80]) >= 0.9, variant
        assert min(p.outside for p in predicted[20:]) > max(p.outside for p in predicted[:20]), variant
        assert all(np.isclose(p.song.sum(), 1.0) for p in predicted)


def test_the_design_is_chosen_without_the_held_out_tracks(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(100, outside=10)
    train, test = np.arange(0, 110, 2), np.arange(1, 110, 2)
    seen: list[set[int]] = []
    real_fit = fit_head.fit_linear

    def spy(data: fit_head.HeadData, idx: np.ndarray, settings: fit_head.HeadSettings = fit_head.HeadSettings()):
        seen.append(set(idx.tolist()))
        return real_fit(data, idx, settings)

    monkeypatch.setattr(fit_head, "fit_linear", spy)
    run = fit_head.run("cv1", data, train, test)
    assert len(seen) == len(fit_head.DESIGNS) * fit_head.INNER_FOLDS + 1  # inner fits, then the run's own
    assert all(fitted <= set(train.tolist()) for fitted in seen)  # no fit ever saw a held-out track
    assert run.selection["chosen"] in [vars(d) for d in fit_head.DESIGNS]
    assert set(run.selection["inner_scores"]) and list(run.test_idx) == list(test)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = _data(20)
    head = fit_head.fit_linear(data, np.arange(20)).keras()
    save_keras(head, *files(tmp_path))
    dims = 10 + 50 + EMBEDDING
    loaded = load_head(tmp_path, dims=dims)
    rows = song_rows(data.inputs[1].eval[0].astype(np.float32), data.inputs[1].silent[0])
    np.testing.assert_allclose(loaded(rows), head.predict_on_batch(rows), atol=1e-6)
    with pytest.raises(ModelFilesError, match=f"reads {dims} numbers"):
        load_head(tmp_path, dims=260)
    with pytest.raises(ModelFilesError, match="missing"):
        load_head(tmp_path / "nowhere")


def test_a_class_without_tracks_is_never_predicted() -> None:
    data = _data(30)
    keep = np.flatnonzero(data.labels < 2)  # only two genres to learn from, no "outside"
    probs = fit_head.fit_linear(data, keep).probabilities(data.inputs[0].eval[0].astype(np.float32))
    assert probs[:, 2:].max() < 1e-9 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
