"""The musicnn network in Keras 3 (the MSD- and the MTT-trained ones share it): its graph and output names.

The architecture is Pons & Serra's "musicnn" (ISMIR 2019 LBD), trained by them on the Million Song Dataset's 50
most frequent tags (and, as another network, on MagnaTagATune's); `musicnn_convert` copies their weights into this
graph, and models/ears.py loads it. Input: (187, 96) log-mel patches from
`feature_extractor_musicnn`. Every convolution is Conv -> ReLU -> BatchNorm (epsilon 1e-3).
- front-end: input BN; timbral convs 7x38 and 7x67 (204 filters; time padded 3/3, valid) and temporal convs 128x1,
  64x1, 32x1 (51 filters, same), each max-pooled over the whole frequency axis -> (187, 561);
- mid-end: three 7-wide convs over time with 64 filters (time padded 3/3), residual adds for the 2nd and 3rd;
- back-end: max and mean over time of [front-end, mid 1, 2, 3] (753 channels), interleaved (max0, mean0, max1, ...)
  -> BN -> dense 200 ReLU -> BN = the "penultimate" embedding -> dense 50 sigmoid = MSD tag likelihoods.
The model's outputs are named in OUTPUTS: the tag likelihoods and the embeddings the genre head may read.
"""
from __future__ import annotations

from codeFeature.config import MSD_TAGS, MUSICNN_FRAMES, MUSICNN_INPUT_SHAPE, MUSICNN_N_MELS

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


def build_musicnn(tags: int = len(MSD_TAGS), name: str = "musicnn_msd"):
    """The untrained keras.Model with `tags` outputs; layer names are the ones `musicnn_convert.CHECKPOINT_NAMES` maps
    weights onto."""
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
    likelihoods = layers.Dense(tags, activation="sigmoid", name="tags")(penultimate)
    return keras.Model(patches, {"tags": likelihoods, "penultimate": penultimate, "pooled": pooled}, name=name)
