"""models/genre_head.py / training/fit_head.py: inputs (the tag-to-genre map, each network's tag logits and
embedding), song examples weighted by source and class, a head that learns the ten genres and "none of them", the
choice of design (networks included) that never sees the held-out tracks, save and load."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeFeature.config import GENRE_TAG_MAP, GENRES, HEAD_CLASSES, MSD_TAGS, MTT_TAGS
from codeFeature.errors import ModelFilesError
from codeFeature.models.ears import ear
from codeFeature.models.genre_head import (
    files,
    genre_map,
    head_inputs,
    head_layout,
    input_dims,
    input_parts,
    load_head,
    song_rows,
    split_outside,
    tag_logits,
)
from codeFeature.models.keras_files import save_keras
from codeFeature.models.runtime import InferenceModel
from codeFeature.training import fit_head

OUTSIDE = len(GENRES)
ONE = ("musicnn",)


def _data(n_tracks: int, seed: int = 0, outside: int = 0, ears: tuple[str, ...] = ONE) -> fit_head.HeadData:
    """Tracks whose tags and embeddings (of each network in `ears`; the first carries the classes, the others are
    noise) cluster per class (the ten genres, then `outside` songs of none of them); the first half are GTZAN, the
    rest real songs by one artist each, from two sources; every third track has 1 segment, others 10."""
    rng = np.random.default_rng(seed)
    dims = {name: len(ear(name).tags) + ear(name).embedding for name in ears}
    centres = rng.normal(0, 3, (len(HEAD_CLASSES), dims[ears[0]]))
    labels = np.concatenate([np.arange(n_tracks) % len(GENRES), np.full(outside, OUTSIDE)])
    outputs, silent = [], []
    for i, label in enumerate(labels):
        segments = 1 if i % 3 == 0 else 10
        track = {}
        for k, name in enumerate(ears):
            centre = centres[label] if k == 0 else np.zeros(dims[name])
            raw = centre + rng.normal(0, 1, (3, segments, dims[name]))
            tags = len(ear(name).tags)
            track[name] = {"tags": 1 / (1 + np.exp(-raw[..., :tags])), "penultimate": raw[..., tags:]}
        outputs.append(track)
        silent.append(np.zeros((3, segments), bool))
    gtzan = np.arange(len(labels)) < n_tracks // 2
    sources = np.where(gtzan, "GTZAN", np.where(np.arange(len(labels)) % 2 == 0, "a/one", "b/two"))
    return fit_head.HeadData(outputs, silent, labels, gtzan, np.array([f"artist {i}" for i in range(len(labels))]),
                             sources.astype(object))


def test_head_inputs_are_the_genre_map_then_tag_logits_then_the_embedding() -> None:
    tags = np.full((2, len(MSD_TAGS)), 0.5)
    tags[:, MSD_TAGS.index("hard rock")] = 0.9
    outputs = {"musicnn": {"tags": tags, "penultimate": np.ones((2, 200)), "pooled": np.zeros((2, 1506))}}
    x = head_inputs(outputs, ONE)
    assert x.shape == (2, input_dims(ONE)) == (2, 10 + 50 + 200)
    assert head_layout(ONE) == ("genre_map", "musicnn:tags", "musicnn:penultimate")
    assert x.dtype == np.float32 and np.allclose(x[:, 10 + 50:], 1.0)
    assert np.allclose(x[:, 10:60], tag_logits(tags))
    rock, reggae = GENRES.index("rock"), GENRES.index("reggae")
    assert x[0, rock] == pytest.approx(np.log(0.9 / 0.1), abs=1e-5)  # rock's strongest tag
    assert GENRE_TAG_MAP["reggae"] == () and x[0, reggae] < -9  # no tag: the floor
    ones = {"musicnn": {**outputs["musicnn"], "tags": np.ones((2, len(MSD_TAGS)))}}
    assert np.isfinite(head_inputs(ones, ONE)).all()  # clipped, not inf
    assert genre_map(tag_logits(tags)).shape == (2, len(GENRES))


def test_two_networks_side_by_side_and_the_map_is_the_strongest_of_theirs() -> None:
    ears = ("musicnn", "mtt_musicnn")
    msd, mtt = np.full((1, 50), 0.1), np.full((1, 50), 0.1)
    msd[0, MSD_TAGS.index("rock")], mtt[0, MTT_TAGS.index("rock")] = 0.6, 0.9
    mtt[0, MTT_TAGS.index("classical")] = 0.7
    outputs = {"musicnn": {"tags": msd, "penultimate": np.zeros((1, 200))},
               "mtt_musicnn": {"tags": mtt, "penultimate": np.full((1, 200), 2.0)}}
    x = head_inputs(outputs, ears)
    parts = input_parts(ears)
    assert x.shape == (1, input_dims(ears)) == (1, 10 + 2 * 250)
    assert np.allclose(x[:, parts["mtt_musicnn:tags"]], tag_logits(mtt))
    assert np.allclose(x[:, parts["mtt_musicnn:penultimate"]], 2.0)
    assert x[0, GENRES.index("rock")] == pytest.approx(np.log(0.9 / 0.1), abs=1e-5)  # MTT's rock is stronger
    assert x[0, GENRES.index("classical")] == pytest.approx(np.log(0.7 / 0.3), abs=1e-5)  # only MTT says it
    assert input_dims(("msd_vgg",)) == 10 + 50 + 256


def test_split_outside_renormalises_the_ten_genres() -> None:
    probs = np.array([[0.05] * 10 + [0.5], [0.1] * 10 + [0.0]])
    genres, outside = split_outside(probs)
    assert np.allclose(genres.sum(axis=1), 1.0) and np.allclose(genres[0], 0.1)
    assert outside.tolist() == [0.5, 0.0]


def test_examples_weigh_sources_and_classes_as_set() -> None:
    data = _data(40)
    design = fit_head.HeadDesign(source_balance=1.0, balance=0.0)
    x, y, w = fit_head.song_examples(data, np.arange(40), design)
    assert x.shape == (40 * 3, input_dims(ONE)) and w.mean() == pytest.approx(1.0)
    track = np.repeat(np.arange(40), 3)
    per_source = {g: w[data.sources[track] == g].sum() for g in ("GTZAN", "a/one", "b/two")}
    assert len(set(np.round(list(per_source.values()), 4))) == 1  # source balance 1: every source the same total
    assert w[track == 30][0] == pytest.approx(2 * w[track == 10][0])  # 20 GTZAN tracks, 10 from a/one
    _, y, w = fit_head.song_examples(data, np.arange(40), fit_head.HeadDesign(source_balance=0.0, balance=1.0))
    per_class = np.bincount(y, weights=w, minlength=10)
    np.testing.assert_allclose(per_class, per_class[0], rtol=1e-5)  # balance 1: every class the same total
    _, y, w = fit_head.song_examples(data, np.arange(40), fit_head.HeadDesign(source_balance=0.0, balance=0.0))
    assert np.allclose(w, 1.0)  # both 0: as many as it has
    x, _, _ = fit_head.song_examples(data, np.arange(40), fit_head.HeadDesign(gtzan=False))
    assert len(x) == 20 * 3  # without GTZAN: the 20 real songs only


def test_a_design_reads_only_what_it_names() -> None:
    data = _data(60, outside=10)
    parts = input_parts(ONE)
    plain = fit_head.fit_linear(data, np.arange(70), fit_head.HeadDesign(prior=False, embedding_scale=0.0))
    assert np.all(plain.kernel[parts["genre_map"]] == 0)  # plain logistic regression: no tag prior
    assert np.all(plain.kernel[parts["musicnn:penultimate"]] == 0)  # tags only
    assert np.any(plain.kernel[parts["musicnn:tags"]] != 0)
    prior = fit_head.fit_linear(data, np.arange(70), fit_head.HeadDesign())
    assert np.any(prior.kernel[parts["genre_map"]] != 0) and np.any(prior.kernel[parts["musicnn:penultimate"]] != 0)
    assert len({d.label for d in fit_head.DESIGNS}) == len(fit_head.DESIGNS)  # every design has its own name
    assert all(fit_head.design(d.label) == d for d in fit_head.DESIGNS)


def test_head_learns_genres_and_outside_and_keras_agrees_with_the_fit() -> None:
    data = _data(80, outside=20)
    train = np.concatenate([np.arange(60), np.arange(80, 95)])
    test = np.concatenate([np.arange(60, 80), np.arange(95, 100)])
    linear = fit_head.fit_linear(data, train)
    head = linear.keras()
    rows = np.stack([data.song_row(i, ONE) for i in test])
    assert np.allclose(rows[0], song_rows(data.inputs(ONE)[test[0]][0], data.silent[test[0]][0])[0])
    np.testing.assert_allclose(np.asarray(head(rows, training=False)), linear.probabilities(rows), atol=1e-5)
    served = InferenceModel(head)  # as evaluation and serving run it
    np.testing.assert_allclose(served(rows), linear.probabilities(rows), atol=1e-5)
    predictions = fit_head.predict(served, data, test, ONE)
    for variant, predicted in predictions.items():
        assert [len(p.segments) for p in predicted] == [data.silent[i].shape[1] for i in test]
        genres = [int(np.argmax(p.song)) for p in predicted[:20]]
        assert np.mean(np.array(genres) == data.labels[60:80]) >= 0.9, variant
        assert min(p.outside for p in predicted[20:]) > max(p.outside for p in predicted[:20]), variant
        assert all(np.isclose(p.song.sum(), 1.0) for p in predicted)


def test_the_design_is_chosen_without_the_held_out_tracks(monkeypatch: pytest.MonkeyPatch) -> None:
    ears = ("musicnn", "mtt_musicnn")  # musicnn carries the classes, the MTT network is noise
    data = _data(100, outside=10, ears=ears)
    train, test = np.arange(0, 110, 2), np.arange(1, 110, 2)
    seen: list[set[int]] = []
    real_fit = fit_head.fit_linear

    def spy(data: fit_head.HeadData, idx: np.ndarray, design: fit_head.HeadDesign = fit_head.HeadDesign()):
        seen.append(set(idx.tolist()))
        return real_fit(data, idx, design)

    monkeypatch.setattr(fit_head, "fit_linear", spy)
    run, per_design = fit_head.run("cv1", data, train, test)
    designs = [d for d in fit_head.DESIGNS if set(d.ears) <= set(ears)]
    assert list(per_design) == [d.label for d in designs] and per_design[run.selection["design"]] is run
    # inner fits of every design, then one fit per design on the run's training tracks
    assert len(seen) == len(designs) * (fit_head.INNER_FOLDS + 1)
    assert all(fitted <= set(train.tolist()) for fitted in seen)  # no fit ever saw a held-out track
    assert run.selection["ears"] == ["musicnn"]  # the noise network does not pay for itself
    assert set(run.selection["inner_scores"]) == set(per_design)
    assert list(run.test_idx) == list(test) and all(list(r.test_idx) == list(test) for r in per_design.values())


def test_the_selection_score_weighs_the_worst_source() -> None:
    labels = np.tile(np.arange(10), 4)
    groups = np.array(["a"] * 20 + ["b"] * 20, dtype=object)
    right = labels.copy()
    half = labels.copy()
    half[20:30] = (half[20:30] + 1) % 10  # source b: half wrong
    assert fit_head.selection_score(labels, right, groups) == pytest.approx(1.0)
    scores = fit_head.source_scores(labels, half, groups)
    assert scores["a"] == 1.0 and scores["b"] == pytest.approx(0.5)
    assert fit_head.selection_score(labels, half, groups) == pytest.approx((0.75 + 0.5) / 2)


def test_a_costlier_set_of_networks_must_score_the_margin_more() -> None:
    def choose(scores: dict[tuple[str, ...], float]) -> tuple[str, ...]:
        return fit_head.choose_design([fit_head.Choice(fit_head.HeadDesign(ears=ears), score)
                                       for ears, score in scores.items()]).design.ears

    vgg, msd, both = ("msd_vgg",), ("musicnn",), ("musicnn", "msd_vgg")
    assert fit_head.ear_cost(vgg) < fit_head.ear_cost(msd) < fit_head.ear_cost(both)
    assert choose({msd: 0.70, vgg: 0.70, both: 0.70}) == vgg  # equal: the cheapest
    assert choose({msd: 0.705, vgg: 0.70, both: 0.708}) == vgg  # +0.005, +0.008: no
    assert choose({msd: 0.715, vgg: 0.70, both: 0.72}) == msd  # +0.015; then +0.005
    assert choose({msd: 0.715, vgg: 0.70, both: 0.73}) == both  # +0.015 over musicnn


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = _data(20)
    head = fit_head.fit_linear(data, np.arange(20)).keras()
    save_keras(head, *files(tmp_path))
    loaded = load_head(tmp_path, ears=ONE)
    rows = song_rows(data.inputs(ONE)[1][0], data.silent[1][0])
    np.testing.assert_allclose(loaded(rows), head.predict_on_batch(rows), atol=1e-6)
    with pytest.raises(ModelFilesError, match=f"reads {input_dims(ONE)} numbers"):
        load_head(tmp_path, ears=("musicnn", "msd_vgg"))
    with pytest.raises(ModelFilesError, match="missing"):
        load_head(tmp_path / "nowhere")


def test_a_class_without_tracks_is_never_predicted() -> None:
    data = _data(30)
    keep = np.flatnonzero(data.labels < 2)  # only two genres to learn from, no "outside"
    probs = fit_head.fit_linear(data, keep).probabilities(data.inputs(ONE)[0][0])
    assert probs[:, 2:].max() < 1e-9 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
