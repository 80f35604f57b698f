"""Reference values for the ports of the musicnn wheel's networks (models/ears.py), computed independently of Keras
(NumPy, float64) from the original TF1 checkpoints, following the original code's semantics (models.py of the
wheel: musicnn and vgg). Run once, by hand, to (re)write the recorded values:

    python tests/musicnn_reference.py  # fetches the musicnn wheel (not installed), writes data/musicnn_reference.json

`tests/test_musicnn.py` compares the Keras model and the float32 feature path against the recorded values.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import librosa
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

RECORD = Path(__file__).parent / "data" / "musicnn_reference.json"
RATE = 22050


def reference_signal() -> np.ndarray:
    """3 s at 22050 Hz: a distorted power chord (E2 + B2) over a kick-and-hat pattern at 120 bpm, plus a little
    noise; deterministic."""
    t = np.arange(3 * RATE) / RATE
    chord = np.tanh(4 * (np.sin(2 * np.pi * 82.41 * t) + np.sin(2 * np.pi * 123.47 * t)))
    drums = np.zeros_like(t)
    for beat in range(6):
        start = int(beat * 0.5 * RATE)
        n = int(0.15 * RATE)
        drums[start:start + n] += np.sin(2 * np.pi * 60 * t[:n]) * np.exp(-t[:n] * 30)
        hat = start + int(0.25 * RATE)
        m = min(int(0.03 * RATE), len(t) - hat)
        drums[hat:hat + m] += np.random.default_rng(beat).normal(0, 0.3, m) * np.exp(-np.arange(m) / 80)
    y = 0.4 * chord + 0.5 * drums + 0.01 * np.random.default_rng(0).normal(0, 1, len(t))
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def reference_log_mel(y: np.ndarray) -> np.ndarray:
    """float64 (187, 96) log-mel patch as musicnn computes it, minus its float16 cast."""
    y16 = librosa.resample(y.astype(np.float64), orig_sr=RATE, target_sr=16000, res_type="soxr_hq")
    power = np.abs(librosa.stft(y16, n_fft=512, hop_length=256, center=True, pad_mode="reflect")) ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=512, n_mels=96, dtype=np.float64) @ power
    return np.log10(10000 * mel.T[:187] + 1)


def _bn(x, v, scope):
    g, b, m, var = (v[f"{scope}/{k}"] for k in ("gamma", "beta", "moving_mean", "moving_variance"))
    return (x - m) / np.sqrt(var + 1e-3) * g + b


def _conv_time_freq(x, kernel, bias):
    """VALID 2-D convolution (cross-correlation) of a (T, F) map with a (kt, kf, 1, C) kernel -> (T', F', C)."""
    kt, kf, _, _ = kernel.shape
    windows = sliding_window_view(x, (kt, kf))  # (T', F', kt, kf)
    return np.tensordot(windows, kernel[:, :, 0, :], axes=([2, 3], [0, 1])) + bias


def reference_forward(patch: np.ndarray, v: dict) -> dict[str, np.ndarray]:
    """musicnn MSD forward pass (inference) on one (187, 96) patch, float64."""
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    x = _bn(patch, v, "batch_normalization")
    padded = np.pad(x, ((3, 3), (0, 0)))
    front = []
    for conv, bn in (("conv2d", "batch_normalization_1"), ("conv2d_1", "batch_normalization_2")):
        front.append(_bn(relu(_conv_time_freq(padded, v[f"{conv}/kernel"], v[f"{conv}/bias"])), v, bn).max(axis=1))
    for conv, bn in (("conv2d_2", "batch_normalization_3"), ("conv2d_3", "batch_normalization_4"),
                     ("conv2d_4", "batch_normalization_5")):
        k = v[f"{conv}/kernel"].shape[0]
        same = np.pad(x, (((k - 1) // 2, k // 2), (0, 0)))  # TF SAME: the extra row goes after
        front.append(_bn(relu(_conv_time_freq(same, v[f"{conv}/kernel"], v[f"{conv}/bias"])), v, bn).max(axis=1))
    front_end = np.concatenate(front, axis=1)  # (187, 561)
    maps, previous = [front_end], front_end
    for i, (conv, bn) in enumerate((("conv2d_5", "batch_normalization_6"), ("conv2d_6", "batch_normalization_7"),
                                    ("conv2d_7", "batch_normalization_8"))):
        out = _conv_time_freq(np.pad(previous, ((3, 3), (0, 0))), v[f"{conv}/kernel"], v[f"{conv}/bias"])[:, 0, :]
        out = _bn(relu(out), v, bn)
        previous = out + previous if i > 0 else out
        maps.append(previous)
    features = np.concatenate(maps, axis=1)  # (187, 753)
    pooled = np.stack([features.max(axis=0), features.mean(axis=0)], axis=1).reshape(-1)  # interleaved
    hidden = relu(_bn(pooled, v, "batch_normalization_9") @ v["dense/kernel"] + v["dense/bias"])
    penultimate = _bn(hidden, v, "batch_normalization_10")
    logits = penultimate @ v["dense_1/kernel"] + v["dense_1/bias"]
    return {"tags": 1 / (1 + np.exp(-logits)), "penultimate": penultimate, "pooled": pooled}


def _max_pool(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """VALID max-pooling of a (T, F, C) map."""
    windows = sliding_window_view(x, size, axis=(0, 1))[::stride[0], ::stride[1]]  # (T', F', C, st, sf)
    return windows.max(axis=(3, 4))


def vgg_reference_forward(patch: np.ndarray, v: dict) -> dict[str, np.ndarray]:
    """The wheel's vgg forward pass (inference, 128 filters) on one (187, 96) patch, float64."""
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    x = _bn(patch, v, "batch_normalization")[:, :, None]  # (187, 96, 1)
    pools = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))
    for i, (size, stride) in enumerate(pools, start=1):
        kernel, bias = v[f"{i}CNN/kernel"], v[f"{i}CNN/bias"]  # (3, 3, C_in, C_out)
        padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))  # TF SAME for a 3x3 kernel
        windows = sliding_window_view(padded, (3, 3), axis=(0, 1))  # (T, F, C_in, 3, 3)
        conv = np.tensordot(windows, kernel, axes=([3, 4, 2], [0, 1, 2])) + bias
        x = _max_pool(_bn(relu(conv), v, f"batch_normalization_{i}"), size, stride)
    penultimate = x.reshape(-1)  # (2, 1, 128) -> 256, row-major as TF's flatten
    logits = penultimate @ v["dense/kernel"] + v["dense/bias"]
    return {"tags": 1 / (1 + np.exp(-logits)), "penultimate": penultimate}


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import tensorflow as tf

    from codeFeature.config import EARS
    from codeFeature.models.ears import ear
    from codeFeature.models.vgg import build_vgg
    from codeFeature.training.musicnn_convert import extract_checkpoint, fetch_wheel

    patch = reference_log_mel(reference_signal())
    recorded = {"about": "outputs of each ported network for tests/musicnn_reference.py's reference_signal(), "
                         "NumPy float64 from the original checkpoints", "log_mel_mean": float(patch.mean()), "ears": {}}
    with tempfile.TemporaryDirectory() as tmp:
        wheel = fetch_wheel(Path(tmp))
        for name in EARS:
            spec = ear(name)
            prefix, _ = extract_checkpoint(wheel, Path(tmp), spec.checkpoint)
            reader = tf.train.load_checkpoint(str(prefix))
            variables = {key: reader.get_tensor(key).astype(np.float64)
                         for key in reader.get_variable_to_shape_map() if "Adam" not in key and "power" not in key}
            forward = vgg_reference_forward if spec.builder is build_vgg else reference_forward
            out = forward(patch, variables)
            recorded["ears"][name] = {"tags": [round(float(p), 6) for p in out["tags"]],
                                      "penultimate": [round(float(p), 6) for p in out["penultimate"]]}
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"wrote {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
