"""The genre head: musicnn's per-segment embedding in, genre probabilities out; saved as JSON + .weights.h5.

Standardisation (a Normalization layer whose statistics come from the training embeddings and travel in the
JSON) -> Dropout -> Dense hidden ReLU -> Dropout -> Dense 10 softmax. Input: (n, dims) embeddings of 3-s
segments, the musicnn output named config.HEAD_INPUT.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import GENRES, HEAD_JSON, HEAD_WEIGHTS, MODEL_DIR
from .errors import ModelFilesError


def build_head(mean: np.ndarray, variance: np.ndarray, hidden: int = 128, dropout: float = 0.5,
               l2: float = 1e-3):
    """An untrained head for embeddings with per-dimension `mean`/`variance` (shape (dims,))."""
    import keras

    layers = keras.layers
    regulariser = keras.regularizers.L2(l2)
    return keras.Sequential([
        keras.Input(shape=(len(mean),)),
        layers.Normalization(mean=np.asarray(mean).tolist(), variance=np.asarray(variance).tolist()),
        layers.Dropout(dropout / 2),
        layers.Dense(hidden, activation="relu", kernel_regularizer=regulariser),
        layers.Dropout(dropout),
        layers.Dense(len(GENRES), activation="softmax", kernel_regularizer=regulariser),
    ], name="genre_head")


def files(model_dir: Path = MODEL_DIR) -> tuple[Path, Path]:
    """(architecture JSON, weights) paths of the genre head in `model_dir`."""
    return Path(model_dir) / HEAD_JSON, Path(model_dir) / HEAD_WEIGHTS


def load_head(model_dir: Path = MODEL_DIR):
    """The trained head from `model_dir`. Raises ModelFilesError if it is missing or does not output genres."""
    from .model import load_keras

    model = load_keras(*files(model_dir))
    if model.output_shape[-1] != len(GENRES):
        raise ModelFilesError(f"{HEAD_JSON} in {model_dir} does not output {len(GENRES)} genres.")
    return model
