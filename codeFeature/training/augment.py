"""Training-time audio augmentation: make GTZAN's 1990s clips sound like what people upload today.

Modern releases are mastered loud (about -14 to -8 LUFS, limited, bright or bass-heavy) and arrive as lossy files;
MFCC models trained on GTZAN alone drift on them (see docs/training.md). Each function takes float32 mono audio at
SAMPLE_RATE and a numpy Generator and returns new audio of the same length; none changes its input.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy import signal

from codeFeature.audio import audio_io
from codeFeature.config import SAMPLE_RATE

_LOSSY_CODECS = (("libmp3lame", "mp3", (64, 96, 128, 160)), ("aac", "m4a", (64, 96, 128)),
                 ("libopus", "opus", (48, 64, 96)))


def eq_tilt(y: np.ndarray, rng: np.random.Generator, max_db: float = 6.0) -> np.ndarray:
    """Random first-order low/high shelving around 1 kHz, up to +-max_db: a darker or brighter mix."""
    gain = 10 ** (rng.uniform(-max_db, max_db) / 20)
    b, a = signal.butter(1, 1000, btype="highpass", fs=SAMPLE_RATE)
    high = signal.lfilter(b, a, y)
    return (y + (gain - 1.0) * high).astype(np.float32)


def loud_master(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Raise the level to -14..-8 dB RMS and soft-limit the peaks, the way loudness-war masters are made."""
    rms = float(np.sqrt(np.mean(np.square(y)))) + 1e-9
    target = 10 ** (rng.uniform(-14.0, -8.0) / 20)
    drive = target / rms
    limited = np.tanh(drive * y)
    peak = float(np.max(np.abs(limited))) + 1e-9
    return (limited * (10 ** (-rng.uniform(0.1, 1.0) / 20)) / peak).astype(np.float32)


def add_noise(y: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float] = (25.0, 45.0)) -> np.ndarray:
    """White noise at a random signal-to-noise ratio (a phone recording, a hissy tape)."""
    rms = float(np.sqrt(np.mean(np.square(y)))) + 1e-9
    noise_rms = rms / 10 ** (rng.uniform(*snr_db) / 20)
    return (y + rng.normal(0.0, noise_rms, size=y.shape)).astype(np.float32)


def lossy(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round-trip through a random lossy codec (mp3/aac/opus) and bitrate, decoded by the project's own route."""
    codec, ext, bitrates = _LOSSY_CODECS[rng.integers(len(_LOSSY_CODECS))]
    bitrate = int(rng.choice(bitrates))
    with tempfile.TemporaryDirectory(prefix="genre-lossy-") as tmp:
        path = Path(tmp) / f"lossy.{ext}"
        cmd = [audio_io.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
               "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "-",
               "-c:a", codec, "-b:a", f"{bitrate}k", str(path)]
        subprocess.run(cmd, input=np.clip(y, -1, 1).astype("<f4").tobytes(), capture_output=True, check=True)
        decoded = audio_io.load(path)
    out = np.zeros_like(y)
    out[:min(len(y), len(decoded))] = decoded[:len(y)]
    return out


def modern(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """EQ tilt + loud master: variant 1 of every training track."""
    return loud_master(eq_tilt(y, rng), rng)


def modern_lossy(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """EQ tilt + loud master + noise + lossy codec: variant 2 of every training track."""
    return lossy(add_noise(modern(y, rng), rng), rng)


VARIANTS = {"original": None, "modern": modern, "modern_lossy": modern_lossy}
