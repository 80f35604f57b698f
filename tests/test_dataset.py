"""training/dataset.py: reading both folder layouts, track ids shared by clip and excerpt, splits, cached features."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset, synth_song, write_audio

from codeFeature.audio import audio_io
from codeFeature.config import (
    GENRES,
    INPUT_SHAPE,
    N_SEGMENTS,
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
)
from codeFeature.errors import DatasetError
from codeFeature.training import dataset


def test_plain_genres_original_folder(tmp_path: Path) -> None:
    make_dataset(tmp_path, per_genre=1)
    tracks = dataset.discover(tmp_path / "genres_original")
    assert [t.genre for t in tracks] == list(GENRES)
    assert tracks[0].track_id == "blues.00000" and tracks[0].clip.suffix == ".wav" and tracks[0].excerpt is None


def test_clip_and_excerpt_of_one_track_are_one_track(tmp_path: Path) -> None:
    make_dataset(tmp_path, per_genre=1)
    excerpt = tmp_path / "excerpts_2to3s" / "rock" / "rock.00000.opus"
    excerpt.parent.mkdir(parents=True)
    write_audio(excerpt, synth_song(2.5))
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "valid_filtered.txt").write_text("rock/rock.00000.wav\n")
    (tmp_path / "splits" / "train_filtered.txt").write_text("blues/blues.00000.wav\n")
    tracks = {t.track_id: t for t in dataset.discover(tmp_path)}
    assert len(tracks) == len(GENRES)
    assert tracks["rock.00000"].excerpt == excerpt and tracks["rock.00000"].split == "valid"
    assert tracks["blues.00000"].split == "train" and tracks["jazz.00000"].split is None


def test_unknown_folders_and_files_are_ignored_and_empty_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "polka").mkdir()
    write_audio(tmp_path / "polka" / "polka.00000.wav", synth_song(1.0))
    (tmp_path / "jazz").mkdir()
    (tmp_path / "jazz" / "notes.txt").write_text("not audio")
    with pytest.raises(DatasetError, match="No audio found"):
        dataset.discover(tmp_path)
    with pytest.raises(DatasetError, match="No such folder"):
        dataset.discover(tmp_path / "missing")


def test_loop_crop_fills_three_seconds_from_any_offset() -> None:
    short = np.arange(1000, dtype=np.float32)
    crops = dataset.loop_crop(short, [0, 999])
    assert crops.shape == (2, SEGMENT_SAMPLES)
    assert crops[0, 1000] == 0 and crops[1, 0] == 999 and crops[1, 1] == 0


def test_track_features_per_variant(tmp_path: Path) -> None:
    make_dataset(tmp_path, per_genre=1, seconds=30.0)
    track = dataset.discover(tmp_path)[0]
    clip = audio_io.load(track.clip)
    clip[:int(6.5 * SAMPLE_RATE)] = 0.0  # a silent start: serving leaves the first two segments out
    write_audio(track.clip, clip)
    features = dataset.compute_track_features(list(dataset.variant_audio(track, seed=1)))
    assert features.silent.shape == (len(dataset.augment.VARIANTS), N_SEGMENTS)
    assert features.silent[0].tolist() == [True, True] + [False] * 8
    variants = len(dataset.augment.VARIANTS)
    assert features.eval.shape == (variants, N_SEGMENTS, *INPUT_SHAPE)
    assert features.crops.shape == (variants, dataset.CLIP_CROPS, *INPUT_SHAPE)
    assert features.eval.dtype == np.float16 and np.isfinite(features.eval.astype(np.float32)).all()
    # The augmented variants really differ from the original.
    assert np.abs(features.eval[0].astype(np.float32) - features.eval[1].astype(np.float32)).mean() > 1
    again = dataset.compute_track_features(list(dataset.variant_audio(track, seed=1)))
    np.testing.assert_array_equal(features.crops, again.crops)


def test_cache_is_reused_and_keyed_on_the_file(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data", per_genre=1, seconds=4.0)
    tracks = dataset.discover(tmp_path / "data")[:2]
    cache = tmp_path / "cache"
    _, first = dataset.load_features(tracks, cache, workers=1, log=lambda _: None)
    assert len(list(cache.glob("*.npz"))) == 2
    messages: list[str] = []
    _, second = dataset.load_features(tracks, cache, workers=1, log=messages.append)
    assert messages == [] and np.array_equal(first[0].crops, second[0].crops)
    write_audio(tracks[0].clip, synth_song(5.0, seed=9))  # changed file -> recomputed
    dataset.load_features(tracks, cache, workers=1, log=messages.append)
    assert messages and "1 of 2" in messages[0]


def test_a_corrupt_file_is_reported_and_left_out(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data", per_genre=2, seconds=4.0)
    broken = tmp_path / "data" / "genres_original" / "jazz" / "jazz.00001.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    tracks = dataset.discover(tmp_path / "data")
    messages: list[str] = []
    kept, features = dataset.load_features(tracks, tmp_path / "cache", workers=2, log=messages.append)
    assert len(kept) == len(features) == len(tracks) - 1 and "jazz.00001" not in [t.track_id for t in kept]
    assert any("skipped jazz.00001" in m and "jazz.00001.wav" in m for m in messages)


def test_training_sees_exactly_what_serving_computes(tmp_path: Path) -> None:
    from codeFeature.audio.segmenting import load_segments
    from codeFeature.feature_extractor_cnn import mfcc_features

    make_dataset(tmp_path, per_genre=1, seconds=30.0)
    track = dataset.discover(tmp_path)[3]
    served = mfcc_features(load_segments(track.clip).audio).astype(np.float16)
    features = dataset.compute_track_features(list(dataset.variant_audio(track, seed=0)))
    np.testing.assert_array_equal(features.eval[0], served)


def test_musicnn_cache_holds_what_serving_computes(tmp_path: Path) -> None:
    from codeFeature.audio.segmenting import load_segments
    from codeFeature.feature_extractor_musicnn import musicnn_features
    from codeFeature.models.ears import load_ear

    make_dataset(tmp_path / "data", per_genre=1, seconds=4.0, excerpts=True)
    tracks = dataset.discover(tmp_path / "data")[:2]
    kept, embeddings = dataset.load_features(tracks, tmp_path / "cache", workers=1, log=lambda _: None,
                                             kind="musicnn", output="penultimate")
    variants = len(dataset.augment.VARIANTS)
    assert len(kept) == 2 and len(list((tmp_path / "cache").glob("*-musicnn-*.npz"))) == 2
    # A full clip: ten judged segments (the head learns from whole songs: no crops); an excerpt-only track: one
    # looped segment.
    assert embeddings[0].eval.shape == (variants, N_SEGMENTS, 200)
    assert embeddings[0].crops.shape == (variants, 0, 200)
    served = load_ear("musicnn")(musicnn_features(load_segments(tracks[0].clip).audio))["penultimate"]
    np.testing.assert_allclose(embeddings[0].eval[0].astype(np.float32), served, atol=0.02, rtol=2e-3)
    _, tags = dataset.load_features(tracks, tmp_path / "cache", workers=1, log=lambda _: None, kind="musicnn",
                                    output="tags")
    assert tags[1].eval.shape == (variants, 1, 50) and tags[1].crops.shape == (variants, 0, 50)
    assert tags[1].silent.shape == (variants, 1) and not tags[0].silent.any()


def test_one_pass_fills_every_kind_and_decodes_each_track_once(tmp_path: Path, monkeypatch) -> None:
    make_dataset(tmp_path / "data", per_genre=1, seconds=4.0)
    tracks = dataset.discover(tmp_path / "data")[:2]
    passes: list[str] = []
    variant_audio = dataset.variant_audio
    monkeypatch.setattr(dataset, "variant_audio",
                        lambda track, seed: passes.append(track.track_id) or variant_audio(track, seed))
    for job in [(track, {kind: dataset.cache_path(track, tmp_path / "cache", 0, kind)
                         for kind in dataset.FEATURE_KINDS}, 0) for track in tracks]:
        (tmp_path / "cache").mkdir(exist_ok=True)
        assert dataset._compute_and_store(job) is None  # the worker, in this process so its passes are counted
    assert passes == [t.track_id for t in tracks]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == len(tracks) * len(dataset.FEATURE_KINDS)
    messages: list[str] = []
    kept, paths = dataset.fill_cache(tracks, tmp_path / "cache", 0, 1, messages.append)
    assert messages == [] and len(kept) == 2 and set(paths) == set(dataset.FEATURE_KINDS)


def test_unknown_feature_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        dataset.load_features([], Path("."), kind="chroma")
