"""feature_extractor_cnn.py: shape, determinism, and the gain -> c0 shift that training's level augmentation uses."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import synth_song

from codeFeature.config import INPUT_SHAPE, N_MELS, SAMPLE_RATE, SEGMENT_SAMPLES
from codeFeature.feature_extractor_cnn import mfcc_features


def test_ten_segments_give_ten_130_by_13_matrices() -> None:
    segments = synth_song(30.0).reshape(10, SEGMENT_SAMPLES)
    features = mfcc_features(segments)
    assert features.shape == (10, *INPUT_SHAPE) and features.dtype == np.float32
    assert np.isfinite(features).all()
    np.testing.assert_array_equal(features, mfcc_features(segments))


def test_a_gain_only_shifts_c0_by_db_times_sqrt_n_mels() -> None:
    segment = synth_song(3.0)[None, :]
    quiet, loud = mfcc_features(segment * 0.5), mfcc_features(segment)
    shift = (loud - quiet)[0, :, :, 0]
    assert shift[:, 0] == pytest.approx(20 * np.log10(2) * np.sqrt(N_MELS), abs=1e-3)
    assert np.abs(shift[:, 1:]).max() < 1e-3


def test_brightness_moves_the_features() -> None:
    t = np.arange(SEGMENT_SAMPLES) / SAMPLE_RATE
    low, high = (np.sin(2 * np.pi * f * t)[None, :].astype(np.float32) for f in (100.0, 4000.0))
    assert np.abs(mfcc_features(low) - mfcc_features(high))[..., 1:, 0].mean() > 5


@pytest.mark.parametrize("shape", [(66150,), (2, 1000), (1, SEGMENT_SAMPLES + 1)])
def test_wrong_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="segments"):
        mfcc_features(np.zeros(shape, np.float32))
