"""MFCC features for the CNN: the one function that turns segments into model input, in training and serving."""
from __future__ import annotations

import librosa
import numpy as np

from codeFeature.config import (
    HOP_LENGTH,
    INPUT_SHAPE,
    N_FFT,
    N_MELS,
    N_MFCC,
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
)


def mfcc_features(segments: np.ndarray) -> np.ndarray:
    """(n, SEGMENT_SAMPLES) float audio at SAMPLE_RATE -> (n, 130, 13, 1) float32 MFCC matrices (time, coeff)."""
    segments = np.asarray(segments, dtype=np.float32)
    if segments.ndim != 2 or segments.shape[1] != SEGMENT_SAMPLES:
        raise ValueError(f"expected (n, {SEGMENT_SAMPLES}) segments, got {segments.shape}")
    mfcc = librosa.feature.mfcc(y=segments, sr=SAMPLE_RATE, n_mfcc=N_MFCC, n_fft=N_FFT,
                                hop_length=HOP_LENGTH, n_mels=N_MELS)
    features = np.transpose(mfcc, (0, 2, 1))[..., np.newaxis].astype(np.float32)
    assert features.shape[1:] == INPUT_SHAPE, features.shape
    return features
