"""The CNN: build it (training), save it as JSON architecture + .weights.h5, load it compiled to run (runtime).

Architecture (the project card's, ~33 K parameters): per-coefficient standardisation (a Normalization layer whose
mean/variance come from the training features and travel inside the JSON) -> Conv2D 64 3x3 -> MaxPool 3x3/2 -> BN
-> Conv2D 32 3x3 -> MaxPool 3x3/2 -> BN -> Conv2D 32 2x2 -> MaxPool 2x2/2 -> BN -> Conv2D 16 1x1 -> MaxPool 1x1/2
-> BN -> Flatten -> Dense 64 -> Dropout 0.3 -> Dense 10 softmax. Input: (130, 13, 1) MFCC matrices.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from codeFeature.config import GENRES, INPUT_SHAPE, MODEL_JSON, MODEL_WEIGHTS
from codeFeature.errors import ModelFilesError
from codeFeature.models.keras_files import load_keras, save_keras
from codeFeature.models.runtime import InferenceModel


def build_cnn(mean: np.ndarray, variance: np.ndarray, dropout: float = 0.3):
    """The card's CNN (a keras.Model) with input standardisation; `mean`/`variance` are per MFCC coefficient, shape
    (13,). For training: Keras on the backend this process imported it with."""
    import keras

    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=INPUT_SHAPE),
        layers.Normalization(axis=2, mean=np.asarray(mean).tolist(), variance=np.asarray(variance).tolist()),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same"),
        layers.BatchNormalization(),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same"),
        layers.BatchNormalization(),
        layers.Conv2D(32, (2, 2), activation="relu"),
        layers.MaxPooling2D((2, 2), strides=(2, 2), padding="same"),
        layers.BatchNormalization(),
        layers.Conv2D(16, (1, 1), activation="relu"),
        layers.MaxPooling2D((1, 1), strides=(2, 2), padding="same"),
        layers.BatchNormalization(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(len(GENRES), activation="softmax"),
    ], name="genre_cnn")
    return model


def save_model(model, model_dir: Path) -> tuple[Path, Path]:
    """Write `model_dir`/model_cnn.json and model_cnn.weights.h5 (no optimizer state); return both paths."""
    return save_keras(model, model_dir / MODEL_JSON, model_dir / MODEL_WEIGHTS)


def load_model(model_dir: Path) -> InferenceModel:
    """The CNN from `model_dir` (JSON + weights), ready to run. Raises ModelFilesError if a file is missing or
    unreadable."""
    model = load_keras(model_dir / MODEL_JSON, model_dir / MODEL_WEIGHTS)
    if tuple(model.input_shape[1:]) != INPUT_SHAPE or model.output_shape[-1] != len(GENRES):
        raise ModelFilesError(f"The model in {model_dir} does not take {INPUT_SHAPE} MFCCs to {len(GENRES)} genres.")
    return InferenceModel(model)
