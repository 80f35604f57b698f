"""The CNN: build it, save it as JSON architecture + .weights.h5, load it back.

Architecture (the project card's, ~33 K parameters): per-coefficient standardisation (a Normalization layer whose
mean/variance come from the training features and travel inside the JSON) -> Conv2D 64 3x3 -> MaxPool 3x3/2 -> BN
-> Conv2D 32 3x3 -> MaxPool 3x3/2 -> BN -> Conv2D 32 2x2 -> MaxPool 2x2/2 -> BN -> Conv2D 16 1x1 -> MaxPool 1x1/2
-> BN -> Flatten -> Dense 64 -> Dropout 0.3 -> Dense 10 softmax. Input: (130, 13, 1) MFCC matrices.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from .config import GENRES, INPUT_SHAPE, MODEL_JSON, MODEL_WEIGHTS
from .errors import ModelFilesError


def build_cnn(mean: np.ndarray, variance: np.ndarray, dropout: float = 0.3) -> keras.Model:
    """The card's CNN with input standardisation; `mean`/`variance` are per MFCC coefficient, shape (13,)."""
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


def save_model(model: keras.Model, model_dir: Path) -> tuple[Path, Path]:
    """Write `model_dir`/model_cnn.json and model_cnn.weights.h5 (no optimizer state); return both paths."""
    return save_keras(model, model_dir / MODEL_JSON, model_dir / MODEL_WEIGHTS)


def load_model(model_dir: Path) -> keras.Model:
    """Load the CNN from `model_dir` (JSON + weights). Raises ModelFilesError if a file is missing or unreadable."""
    model = load_keras(model_dir / MODEL_JSON, model_dir / MODEL_WEIGHTS)
    if tuple(model.input_shape[1:]) != INPUT_SHAPE or model.output_shape[-1] != len(GENRES):
        raise ModelFilesError(f"The model in {model_dir} does not take {INPUT_SHAPE} MFCCs to {len(GENRES)} genres.")
    return model


def save_keras(model: keras.Model, json_path: Path, weights_path: Path) -> tuple[Path, Path]:
    """Write a model as architecture JSON + .weights.h5, without compile settings or optimizer slots."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    clean = keras.models.model_from_json(_architecture_json(model))
    clean.set_weights(model.get_weights())
    json_path.write_text(json.dumps(json.loads(clean.to_json()), indent=1) + "\n")
    clean.save_weights(weights_path)
    return json_path, weights_path


TRAIN_HINT = "Train one with `python -m codeFeature.train`."


def load_keras(json_path: Path, weights_path: Path, hint: str = TRAIN_HINT) -> keras.Model:
    """Load a model written by `save_keras`. Raises ModelFilesError (with `hint` on how to make the files) if a
    file is missing or unreadable."""
    for path in (json_path, weights_path):
        if not path.is_file():
            raise ModelFilesError(f"Model file missing: {path}. {hint}")
    if keras.backend.backend() == "openvino":
        full_precision_openvino()
    try:
        model = keras.models.model_from_json(json_path.read_text())
        model.load_weights(weights_path)
    except Exception as exc:  # keras raises many types for a damaged file; the user needs one message
        raise ModelFilesError(f"The model files {json_path.name} / {weights_path.name} in {json_path.parent} "
                              f"could not be loaded: {exc}") from exc
    return model


def full_precision_openvino() -> None:
    """Make Keras' OpenVINO backend compile models in float32. OpenVINO's CPU plugin otherwise runs bfloat16 on CPUs
    with AVX-512 BF16 or AMX (this machine has them), about 1e-2 away from TensorFlow's outputs, which flips genres
    and "not sure" verdicts; in float32 the two agree within config.SERVING_TOLERANCE. Keras compiles through its
    trainer module's `ov.compile_model` with no config, so that one name is wrapped (idempotent)."""
    import openvino
    from keras.src.backend.openvino import trainer

    if isinstance(trainer.ov, _Float32OpenVINO):
        return
    trainer.ov = _Float32OpenVINO(openvino)


class _Float32OpenVINO:
    """The openvino module as Keras' trainer sees it, with compile_model asking for float32 inference."""

    def __init__(self, module) -> None:
        self._module = module

    def __getattr__(self, name: str):
        return getattr(self._module, name)

    def compile_model(self, model, device_name: str = "AUTO", config: dict | None = None):
        return self._module.compile_model(model, device_name, {"INFERENCE_PRECISION_HINT": "f32", **(config or {})})


def one_tensorflow_thread() -> None:
    """Run TensorFlow on one thread in this process (processes work side by side instead, and a single thread
    makes training reproducible), unless TensorFlow is already running here: then its settings stay."""
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # initialised earlier in this process (e.g. a test session)
        pass


def _architecture_json(model: keras.Model) -> str:
    config = json.loads(model.to_json())
    config.pop("compile_config", None)
    return json.dumps(config)
