"""Log-mel patches for musicnn: the one function that turns segments into musicnn input, in training and serving.

musicnn was trained on 16 kHz audio, mel spectrograms (n_fft 512, hop 256, 96 bands, librosa's old 'reflect'
padding) compressed as log10(10000 * S + 1). The original code casts S to float16 before the log, which overflows
to inf on loudly mastered songs; here everything stays float32.
"""
from __future__ import annotations

import librosa
import numpy as np

from codeFeature.config import (
    MUSICNN_FRAMES,
    MUSICNN_HOP_LENGTH,
    MUSICNN_INPUT_SHAPE,
    MUSICNN_N_FFT,
    MUSICNN_N_MELS,
    MUSICNN_SAMPLE_RATE,
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
)


def musicnn_features(segments: np.ndarray) -> np.ndarray:
    """(n, SEGMENT_SAMPLES) float audio at SAMPLE_RATE -> (n, 187, 96) float32 log-mel patches (time, band)."""
    segments = np.asarray(segments, dtype=np.float32)
    if segments.ndim != 2 or segments.shape[1] != SEGMENT_SAMPLES:
        raise ValueError(f"expected (n, {SEGMENT_SAMPLES}) segments, got {segments.shape}")
    resampled = librosa.resample(segments, orig_sr=SAMPLE_RATE, target_sr=MUSICNN_SAMPLE_RATE, res_type="soxr_hq")
    mel = librosa.feature.melspectrogram(y=resampled, sr=MUSICNN_SAMPLE_RATE, n_fft=MUSICNN_N_FFT,
                                         hop_length=MUSICNN_HOP_LENGTH, n_mels=MUSICNN_N_MELS, pad_mode="reflect")
    patches = np.log10(10000.0 * np.transpose(mel[..., :MUSICNN_FRAMES], (0, 2, 1)) + 1.0).astype(np.float32)
    assert patches.shape[1:] == MUSICNN_INPUT_SHAPE, patches.shape
    return patches
