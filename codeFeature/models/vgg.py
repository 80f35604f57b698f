"""The musicnn wheel's "vgg" network in Keras 3 (the MSD- and the MTT-trained ones share it): its graph.

Pons & Serra's VGG-like baseline: input BN, then five 3x3 convolutions of 128 filters (same padding), each
Conv -> ReLU -> BN (epsilon 1e-3) -> max-pool ((4, 1) stride 2, then (2, 2) stride 2 three times, then (4, 4)
stride 4; valid) -> (2, 1, 128), flattened to 256 numbers (the "penultimate" embedding: the original's pool5) ->
dense 50 sigmoid = tag likelihoods. Input: the same (187, 96) log-mel patches as musicnn.
"""
from __future__ import annotations

from codeFeature.config import MSD_TAGS, MUSICNN_FRAMES, MUSICNN_INPUT_SHAPE, MUSICNN_N_MELS

OUTPUTS = ("tags", "penultimate")  # (n, 50) sigmoid, (n, 256) pool5 embedding

_BN_EPSILON = 1e-3
_FILTERS = 128
_POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))  # (size, stride)


def build_vgg(tags: int = len(MSD_TAGS), name: str = "vgg_msd"):
    """The untrained keras.Model with `tags` outputs; layer names are the ones `musicnn_convert.VGG_CHECKPOINT_NAMES`
    maps weights onto."""
    import keras

    layers = keras.layers
    patches = keras.Input(shape=MUSICNN_INPUT_SHAPE, name="log_mel")
    x = layers.Reshape((MUSICNN_FRAMES, MUSICNN_N_MELS, 1), name="add_channel")(patches)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name="input_bn")(x)
    for i, (size, stride) in enumerate(_POOLS, start=1):
        x = layers.Conv2D(_FILTERS, (3, 3), padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"conv{i}_bn")(x)
        x = layers.MaxPooling2D(size, strides=stride, name=f"pool{i}")(x)
    penultimate = layers.Flatten(name="penultimate")(x)
    likelihoods = layers.Dense(tags, activation="sigmoid", name="tags")(penultimate)
    return keras.Model(patches, {"tags": likelihoods, "penultimate": penultimate}, name=name)
