"""The one way a model runs, in serving and in every evaluation: a Keras model compiled to OpenVINO (float32), one
row at a time.

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

from codeFeature.config import SERVING_BACKEND

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
    """A Keras model compiled for inference on OpenVINO's CPU plugin in float32, for one input row at a time (one
    input shape whatever the song's length; one row's activations are a tenth of ten rows'). Call it with (n, ...)
    rows: (n, outputs) float64, or {output name: (n, dims)} for a model with named outputs. Calls may overlap (each
    makes its own infer request)."""

    def __init__(self, model) -> None:
        import openvino

        self.input_shape = tuple(model.input_shape[1:])
        output = _output(model)
        self.names = tuple(sorted(output)) if isinstance(output, dict) else None
        graph = _openvino_graph(model)
        graph.reshape([1, *self.input_shape])
        self._compiled = openvino.Core().compile_model(graph, "CPU", OPENVINO_CONFIG)
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
        for i in range(len(rows)):
            request.infer([rows[i:i + 1]])
            for part, out in zip(parts, outs):
                part.append(np.array(request.get_tensor(out).data, np.float64))
        stacked = [np.concatenate(part) if part else np.zeros((0, dims)) for part, dims in zip(parts, self.output_dims)]
        return dict(zip(self.names, stacked)) if self.names is not None else stacked[0]


def _output(model):
    """The model's output structure (a dict for named outputs); None for a Sequential model never called (one
    output)."""
    try:
        return model.output
    except AttributeError:
        return None


def _openvino_graph(model):
    """`model` as an openvino.Model (a batch axis of one row, or free); its outputs in sorted name order for a model
    with named outputs (as Keras flattens them)."""
    import openvino

    if keras_module().backend.backend() == "openvino":  # a Keras-OpenVINO graph, as Keras exports it
        with tempfile.TemporaryDirectory(prefix="genre-model-") as folder:  # Keras' export writes IR files only
            path = Path(folder) / "model.xml"
            model.export(str(path), format="openvino", verbose=False)
            return openvino.Core().read_model(path)
    # Keras runs on TensorFlow, which is then already imported: trace the inference call for one row (training=False;
    # Keras' own TensorFlow export gives musicnn wrong outputs) and convert that graph, copying its weights (shared,
    # they vanish with the traced function and a model compiled earlier then reads whatever reuses the memory).
    tf = sys.modules["tensorflow"]
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return openvino.convert_model(traced, share_weights=False)
