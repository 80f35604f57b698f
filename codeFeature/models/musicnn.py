"""musicnn (MSD) in Keras 3: the network, its output names, and loading the converted files from class_xls/.

The architecture is Pons & Serra's "musicnn" (ISMIR 2019 LBD), trained by them on the Million Song Dataset's 50
most frequent tags; `musicnn_convert` copies their weights into this graph. Input: (187, 96) log-mel patches from
`feature_extractor_musicnn`. Every convolution is Conv -> ReLU -> BatchNorm (epsilon 1e-3).
- front-end: input BN; timbral convs 7x38 and 7x67 (204 filters; time padded 3/3, valid) and temporal convs 128x1,
  64x1, 32x1 (51 filters, same), each max-pooled over the whole frequency axis -> (187, 561);
- mid-end: three 7-wide convs over time with 64 filters (time padded 3/3), residual adds for the 2nd and 3rd;
- back-end: max and mean over time of [front-end, mid 1, 2, 3] (753 channels), interleaved (max0, mean0, max1, ...)
  -> BN -> dense 200 ReLU -> BN = the "penultimate" embedding -> dense 50 sigmoid = MSD tag likelihoods.
The model's outputs are named in OUTPUTS: the tag likelihoods and the embeddings the genre head may read.
"""
from __future__ import annotations

from pathlib import Path

from codeFeature.config import (
    MODEL_DIR,
    MSD_TAGS,
    MUSICNN_FRAMES,
    MUSICNN_INPUT_SHAPE,
    MUSICNN_JSON,
    MUSICNN_N_MELS,
    MUSICNN_WEIGHTS,
)
from codeFeature.errors import ModelFilesError
from codeFeature.models.keras_files import load_keras
from codeFeature.models.runtime import InferenceModel

OUTPUTS = ("tags", "penultimate", "pooled")  # (n, 50) sigmoid, (n, 200) embedding, (n, 1506) pooled features

_BN_EPSILON = 1e-3
_TIMBRAL = ((38, "timbral_38"), (67, "timbral_67"))  # (frequency extent, name); 204 filters, 7 frames
_TEMPORAL = ((128, "temporal_128"), (64, "temporal_64"), (32, "temporal_32"))  # (frames, name); 51 filters
_TIMBRAL_FILTERS, _TEMPORAL_FILTERS, _MIDEND_FILTERS, _BACKEND_UNITS = 204, 51, 64, 200


def _conv_block(x, filters: int, kernel: tuple[int, int], name: str, padding: str = "valid"):
    """Conv2D -> ReLU -> BN, then max over the whole frequency axis: (batch, time, freq, 1) -> (time, filters)."""
    import keras

    x = keras.layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    x = keras.layers.MaxPooling2D((1, x.shape[2]), name=f"{name}_pool")(x)
    return keras.layers.Reshape((MUSICNN_FRAMES, filters), name=f"{name}_squeeze")(x)


def build_musicnn():
    """The untrained keras.Model; layer names are the ones `musicnn_convert.CHECKPOINT_NAMES` maps weights onto."""
    import keras

    layers = keras.layers
    patches = keras.Input(shape=MUSICNN_INPUT_SHAPE, name="log_mel")
    x = layers.Reshape((MUSICNN_FRAMES, MUSICNN_N_MELS, 1), name="add_channel")(patches)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name="input_bn")(x)
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)), name="time_pad")(x)
    front = [_conv_block(padded, _TIMBRAL_FILTERS, (7, extent), name) for extent, name in _TIMBRAL]
    front += [_conv_block(x, _TEMPORAL_FILTERS, (frames, 1), name, padding="same") for frames, name in _TEMPORAL]
    front_end = layers.Concatenate(name="front_end")(front)  # (187, 561)

    mid, previous = [], front_end
    for i in (1, 2, 3):
        y = layers.ZeroPadding1D(3, name=f"midend_{i}_pad")(previous)
        y = layers.Conv1D(_MIDEND_FILTERS, 7, activation="relu", name=f"midend_{i}")(y)
        y = layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"midend_{i}_bn")(y)
        if i > 1:
            y = layers.Add(name=f"midend_{i}_residual")([y, previous])
        mid.append(y)
        previous = y
    features = layers.Concatenate(name="dense_features")([front_end, *mid])  # (187, 753)

    channels = features.shape[-1]
    max_pool = layers.Reshape((channels, 1), name="max_column")(layers.GlobalMaxPooling1D(name="max_pool")(features))
    mean_pool = layers.Reshape((channels, 1), name="mean_column")(
        layers.GlobalAveragePooling1D(name="mean_pool")(features))
    pooled = layers.Flatten(name="pooled")(layers.Concatenate(name="max_mean")([max_pool, mean_pool]))  # interleaved
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name="pooled_bn")(pooled)
    x = layers.Dense(_BACKEND_UNITS, activation="relu", name="penultimate_dense")(x)
    penultimate = layers.BatchNormalization(epsilon=_BN_EPSILON, name="penultimate")(x)
    tags = layers.Dense(len(MSD_TAGS), activation="sigmoid", name="tags")(penultimate)
    return keras.Model(patches, {"tags": tags, "penultimate": penultimate, "pooled": pooled}, name="musicnn_msd")


def files(model_dir: Path) -> tuple[Path, Path]:
    """(architecture JSON, weights) paths of the converted musicnn in `model_dir`."""
    return Path(model_dir) / MUSICNN_JSON, Path(model_dir) / MUSICNN_WEIGHTS


def load_musicnn(model_dir: Path = MODEL_DIR) -> InferenceModel:
    """The converted musicnn from `model_dir`, ready to run ({output name: (n, dims)} for (n, 187, 96) patches).
    Raises ModelFilesError if missing or not musicnn."""
    model = load_keras(*files(model_dir), hint="Convert it with `python -m codeFeature.training.musicnn_convert`.")
    if tuple(model.input_shape[1:]) != MUSICNN_INPUT_SHAPE or set(model.output) != set(OUTPUTS):
        raise ModelFilesError(f"{MUSICNN_JSON} in {model_dir} is not the musicnn network this project expects.")
    return InferenceModel(model)
