"""The pretrained networks ("ears") the genre head may read: what each is, where its files are, and loading it.

All come from the musicnn wheel (Pons & Serra, ISMIR 2019 LBD), ported to Keras 3 by
`python -m codeFeature.training.musicnn_convert`; each reads the same (187, 96) log-mel patch of a 3-s segment
(`feature_extractor_musicnn`) and gives, per segment, its 50 tag likelihoods ("tags") and an embedding
("penultimate"). config.EARS names them; the genre head reads the subset that training chose (engines.json).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codeFeature.config import (
    EAR_OUTPUTS,
    GENRE_TAG_MAP,
    MODEL_DIR,
    MSD_TAGS,
    MTT_GENRE_TAG_MAP,
    MTT_TAGS,
    MUSICNN_INPUT_SHAPE,
    MUSICNN_JSON,
    MUSICNN_WEIGHTS,
)
from codeFeature.errors import ModelFilesError
from codeFeature.models.keras_files import TRAIN_HINT, load_keras
from codeFeature.models.musicnn import build_musicnn
from codeFeature.models.runtime import InferenceModel
from codeFeature.models.vgg import build_vgg


@dataclass(frozen=True)
class Ear:
    """One pretrained network: its name (config.EARS), its checkpoint folder in the musicnn wheel, its tag vocabulary
    and what those tags mean in our genres, its files in a model folder, how to build its graph, its embedding's size
    and its multiply-adds per 3-s segment."""

    name: str
    checkpoint: str  # its folder in the musicnn wheel
    tags: tuple[str, ...]
    genre_map: dict[str, tuple[str, ...]]
    json_name: str
    weights_name: str
    builder: Callable[..., object]
    embedding: int
    macs: int  # multiply-adds per segment, counted by `count_macs` (checked by a test)

    def files(self, model_dir: Path = MODEL_DIR) -> tuple[Path, Path]:
        """(architecture JSON, weights) paths of this network in `model_dir`."""
        return Path(model_dir) / self.json_name, Path(model_dir) / self.weights_name

    def build(self):
        """The untrained keras.Model (the converter copies the checkpoint's weights into it)."""
        return self.builder(len(self.tags), self.json_name.removesuffix(".json"))


EAR_SPECS: dict[str, Ear] = {ear.name: ear for ear in (
    Ear("musicnn", "MSD_musicnn", MSD_TAGS, GENRE_TAG_MAP, MUSICNN_JSON, MUSICNN_WEIGHTS, build_musicnn, 200,
        1_398_553_584),
    Ear("mtt_musicnn", "MTT_musicnn", MTT_TAGS, MTT_GENRE_TAG_MAP, "musicnn_mtt.json", "musicnn_mtt.weights.h5",
        build_musicnn, 200, 1_398_553_584),
    Ear("msd_vgg", "MSD_vgg", MSD_TAGS, GENRE_TAG_MAP, "vgg_msd.json", "vgg_msd.weights.h5", build_vgg, 256,
        885_080_576),
)}


def ear(name: str) -> Ear:
    """The Ear called `name`. Raises ModelFilesError for a name this code does not know."""
    if name not in EAR_SPECS:
        raise ModelFilesError(f"Unknown pretrained network {name!r} (this code knows {', '.join(EAR_SPECS)}): "
                              f"retrain with `python -m codeFeature.train`.")
    return EAR_SPECS[name]


def load_ear(name: str, model_dir: Path = MODEL_DIR) -> InferenceModel:
    """The converted network `name` from `model_dir`, ready to run ({output: (n, dims)} for (n, 187, 96) patches).
    Raises ModelFilesError if its files are missing or are not that network."""
    spec = ear(name)
    model = load_keras(*spec.files(model_dir), hint=TRAIN_HINT if spec.checkpoint is None
                       else "Convert it with `python -m codeFeature.training.musicnn_convert`.")
    if (tuple(model.input_shape[1:]) != MUSICNN_INPUT_SHAPE or not set(EAR_OUTPUTS) <= set(model.output)
            or model.output["tags"].shape[-1] != len(spec.tags)
            or model.output["penultimate"].shape[-1] != spec.embedding):
        raise ModelFilesError(f"{spec.json_name} in {model_dir} is not the {name} network this project expects.")
    return InferenceModel(model)


def count_macs(model) -> int:
    """Multiply-adds of one row through a keras.Model's Conv (plain, depthwise, separable) and Dense layers (the rest
    is negligible)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"):
            kernels = layer.get_weights()[:2 if kind.startswith("Separable") else 1]  # (depthwise, pointwise)
            outputs = 1
            for size in layer.output.shape[1:-1]:
                outputs *= int(size)
            total += outputs * sum(int(kernel.size) for kernel in kernels)
        elif kind == "Dense":
            total += int(layer.get_weights()[0].size)
    return total
