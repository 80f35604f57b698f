"""feature_extractor_musicnn.py: shape, the float32 log (no float16 overflow on loud audio), input validation."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import synth_song
from musicnn_reference import reference_log_mel, reference_signal

from codeFeature.config import MUSICNN_INPUT_SHAPE, SEGMENT_SAMPLES
from codeFeature.feature_extractor_musicnn import musicnn_features


def test_one_patch_per_segment() -> None:
    segments = synth_song(6.0)[:2 * SEGMENT_SAMPLES].reshape(2, SEGMENT_SAMPLES)
    patches = musicnn_features(segments)
    assert patches.shape == (2, *MUSICNN_INPUT_SHAPE) and patches.dtype == np.float32
    np.testing.assert_array_equal(patches, musicnn_features(segments))


def test_matches_the_float64_reference() -> None:
    np.testing.assert_allclose(musicnn_features(reference_signal()[None])[0], reference_log_mel(reference_signal()),
                               atol=1e-4)


def test_a_full_scale_master_stays_finite() -> None:
    # musicnn's own code casts the mel power to float16 first: 10000 * S overflows to inf on loud audio.
    square = np.sign(np.sin(2 * np.pi * 55 * np.arange(SEGMENT_SAMPLES) / 22050)).astype(np.float32)
    patches = musicnn_features(square[None])
    assert np.isfinite(patches).all() and patches.max() > np.log10(np.finfo(np.float16).max)


@pytest.mark.parametrize("shape", [(SEGMENT_SAMPLES,), (1, 100), (2, SEGMENT_SAMPLES + 1)])
def test_rejects_other_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected"):
        musicnn_features(np.zeros(shape, np.float32))
