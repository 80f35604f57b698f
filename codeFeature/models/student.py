"""The musicnn student: a small network distilled from musicnn (training/distil.py), for CPU speed.

Same input as the pretrained networks, one (187, 96) log-mel patch of a 3-s segment (`feature_extractor_musicnn`),
and the same outputs as musicnn: "tags", its guess of musicnn's 50 MSD tag likelihoods, and "penultimate", its guess
of musicnn's 200-d embedding; so the genre head reads it exactly as it reads musicnn (models/ears.py lists it).
Design (MobileNet-like, depthwise-separable): input BN -> 3x3 conv, 16 filters, stride 2 -> four blocks of
depthwise 3x3 (strided, or after a (1, 2) max-pool in block 3) + pointwise conv, each -> BN -> ReLU ((47, 24, 32), (24, 12, 64), (24, 6, 96), (12, 3, 128))
-> frequency folded into channels (12, 384) -> separable conv over time (256) -> max and mean over time -> dense
256 ReLU -> dense 200 = "penultimate", and dense 50, sigmoid = "tags". About 1/290 of musicnn's
multiply-adds (models/ears.count_macs; EAR_SPECS holds the count, checked by a test).
"""
from __future__ import annotations

from codeFeature.config import MSD_TAGS, MUSICNN_FRAMES, MUSICNN_INPUT_SHAPE, MUSICNN_N_MELS

STUDENT_NAME = "musicnn_student"
_STEM_FILTERS = 16
_BLOCKS = ((32, (2, 2)), (64, (2, 2)), (96, (1, 2)), (128, (2, 2)))  # (pointwise filters, depthwise stride)
_TEMPORAL_FILTERS, _DENSE_UNITS, _EMBEDDING = 256, 256, 200
TAG_LOGITS = "tag_logits"  # the layer whose output distillation fits to musicnn's tag logits


def build_student(tags: int = len(MSD_TAGS), name: str = STUDENT_NAME):
    """The untrained keras.Model: (n, 187, 96) patches -> {"tags": (n, tags) sigmoid, "penultimate": (n, 200)}."""
    import keras

    layers = keras.layers
    patches = keras.Input(shape=MUSICNN_INPUT_SHAPE, name="log_mel")
    x = layers.Reshape((MUSICNN_FRAMES, MUSICNN_N_MELS, 1), name="add_channel")(patches)
    x = layers.BatchNormalization(name="input_bn")(x)
    x = layers.Conv2D(_STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    for i, (filters, stride) in enumerate(_BLOCKS, start=1):
        if stride[0] != stride[1]:  # TensorFlow's depthwise conv strides both axes alike: pool the other first
            x = layers.MaxPooling2D(stride, name=f"block{i}_pool")(x)
            stride = (1, 1)
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"block{i}_depthwise")(x)
        x = layers.ReLU(name=f"block{i}_depthwise_relu")(layers.BatchNormalization(name=f"block{i}_depthwise_bn")(x))
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"block{i}_pointwise")(x)
        x = layers.ReLU(name=f"block{i}_pointwise_relu")(layers.BatchNormalization(name=f"block{i}_pointwise_bn")(x))
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]), name="fold_frequency")(x)
    x = layers.SeparableConv1D(_TEMPORAL_FILTERS, 3, padding="same", use_bias=False, name="temporal")(x)
    x = layers.ReLU(name="temporal_relu")(layers.BatchNormalization(name="temporal_bn")(x))
    pooled = layers.Concatenate(name="pooled")([layers.GlobalMaxPooling1D(name="max_pool")(x),
                                                layers.GlobalAveragePooling1D(name="mean_pool")(x)])
    hidden = layers.Dense(_DENSE_UNITS, activation="relu", name="hidden")(pooled)
    penultimate = layers.Dense(_EMBEDDING, name="penultimate")(hidden)
    logits = layers.Dense(tags, name=TAG_LOGITS)(hidden)
    likelihoods = layers.Activation("sigmoid", name="tags")(logits)
    return keras.Model(patches, {"tags": likelihoods, "penultimate": penultimate}, name=name)
