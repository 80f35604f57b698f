"""The one way a model runs, in serving and in every evaluation: a Keras model compiled to OpenVINO (float32), a
song's segments in one call.

Keras reads the model files (architecture JSON + .weights.h5); OpenVINO runs them, whatever backend Keras runs on:
- on a fresh process, `keras_module()` imports Keras with its OpenVINO backend, so serving never loads TensorFlow;
- where Keras already runs on TensorFlow (training, or a caller who imported TensorFlow first), the model is
  converted from its TensorFlow graph. Both give the same OpenVINO model: tests/test_classifier.py checks that every
  engine's outputs agree within config.SERVING_TOLERANCE, tests/test_cnn.py the CNN's against TensorFlow's own.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

from codeFeature.config import INFERENCE_BATCH, SERVING_BACKEND

OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}  # the CPU plugin would run bfloat16 on CPUs with AVX-512 BF16


def keras_module() -> ModuleType:
    """Keras, imported with its OpenVINO backend if this process has not imported it yet and names no backend of its
    own (KERAS_BACKEND is set only for that import); otherwise the Keras already loaded or asked for."""
    if "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ:
        os.environ["KERAS_BACKEND"] = SERVING_BACKEND
        try:
            import keras  # noqa: F401
        finally:
            del os.environ["KERAS_BACKEND"]
    import keras

    return keras


class InferenceModel:
    """A Keras model compiled for inference on OpenVINO's CPU plugin in float32, for `batch` rows at a time (one
    input shape, a song's ten segments by default: config.INFERENCE_BATCH). Call it with (n, ...) rows of any n: they
    run `batch` at a time, the last call padded with zeros (rows never mix: every layer here acts on each row alone).
    Returns (n, outputs) float64, or {output name: (n, dims)} for a model with named outputs. Calls may overlap (each
    makes its own infer request)."""

    def __init__(self, model, batch: int = INFERENCE_BATCH) -> None:
        import openvino

        self.input_shape = tuple(model.input_shape[1:])
        self.batch = batch
        output = _output(model)
        self.names = tuple(sorted(output)) if isinstance(output, dict) else None
        self._compiled = openvino.Core().compile_model(_openvino_graph(model, batch), "CPU", OPENVINO_CONFIG)
        outs = self._compiled.outputs
        if self.names is not None:  # by name where the graph kept the names, else in Keras' (sorted) order
            named = {name: i for i, out in enumerate(outs) for name in out.get_names() if name in self.names}
            self._order = [named.get(name, i) for i, name in enumerate(self.names)]
        else:
            self._order = [0]
        self.output_dims = tuple(int(outs[i].get_shape()[-1]) for i in self._order)

    def __call__(self, rows: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        rows = np.asarray(rows, np.float32)
        request = self._compiled.create_infer_request()
        outs = [self._compiled.outputs[i] for i in self._order]
        parts: list[list[np.ndarray]] = [[] for _ in outs]
        padded = np.zeros((self.batch, *self.input_shape), np.float32)
        for start in range(0, len(rows), self.batch):
            chunk = rows[start:start + self.batch]
            if len(chunk) < self.batch:
                padded[:len(chunk)] = chunk
                chunk = padded
            request.infer([chunk])
            kept = min(self.batch, len(rows) - start)
            for part, out in zip(parts, outs):
                part.append(np.array(request.get_tensor(out).data[:kept], np.float64))
        stacked = [np.concatenate(part) if part else np.zeros((0, dims)) for part, dims in zip(parts, self.output_dims)]
        return dict(zip(self.names, stacked)) if self.names is not None else stacked[0]


def _output(model):
    """The model's output structure (a dict for named outputs); None for a Sequential model never called (one
    output)."""
    try:
        return model.output
    except AttributeError:
        return None


def _openvino_graph(model, batch: int):
    """`model` as an openvino.Model for `batch` rows (Keras fixes the batch in every reshape it exports, so the graph
    is exported for that batch); its outputs in sorted name order for a model with named outputs (as Keras flattens
    them)."""
    import openvino

    keras = keras_module()
    shape = (batch, *model.input_shape[1:])
    if keras.backend.backend() == "openvino":  # a Keras-OpenVINO graph, as Keras exports it
        with tempfile.TemporaryDirectory(prefix="genre-model-") as folder:  # Keras' export writes IR files only
            path = Path(folder) / "model.xml"
            model.export(str(path), format="openvino", verbose=False,
                         input_signature=[keras.InputSpec(shape=shape, dtype="float32")])
            return openvino.Core().read_model(path)
    # Keras runs on TensorFlow, which is then already imported: trace the inference call (training=False; Keras' own
    # TensorFlow export gives musicnn wrong outputs) and convert that graph, copying its weights (shared, they vanish
    # with the traced function and a model compiled earlier then reads whatever reuses the memory).
    tf = sys.modules["tensorflow"]
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    return openvino.convert_model(traced, share_weights=False)
