"""The genre head: musicnn's outputs for a song's segments in, genre probabilities out; saved as JSON + .weights.h5.

Input: one vector per 3-s segment, `head_inputs`: the musicnn outputs named in config.HEAD_INPUTS side by side
(the 50 MSD tag likelihoods as logits, then the 200-number embedding). Model: standardisation (its statistics travel
in the JSON) -> Dense softmax: a multinomial logistic regression, fitted by `train_head`. Because it is linear, the
song's row is the mean of its audible segments' vectors (`song_rows`), so the song's probabilities are the softmax
of the mean of its segments' logits, and each segment's own row gives the timeline.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .config import GENRES, HEAD_INPUTS, HEAD_JSON, HEAD_WEIGHTS, MODEL_DIR
from .errors import ModelFilesError
from .song import audible_mean

_TAG_FLOOR = 1e-4  # tag likelihoods are clipped to [floor, 1 - floor] before the logit


def head_inputs(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """musicnn outputs {name: (..., dims)} -> (..., total dims) float32: HEAD_INPUTS side by side, tags as logits."""
    parts = []
    for name in HEAD_INPUTS:
        values = np.asarray(outputs[name], dtype=np.float32)
        if name == "tags":
            values = np.clip(values, _TAG_FLOOR, 1 - _TAG_FLOOR)
            values = np.log(values / (1 - values))
        parts.append(values)
    return np.concatenate(parts, axis=-1).astype(np.float32)


def song_rows(inputs: np.ndarray, silent: Sequence[bool] | np.ndarray) -> np.ndarray:
    """(segments, dims) head inputs -> (1 + segments, dims): the song's row (`song.audible_mean` of the segments),
    then each segment's. The head's output row 0 is the song's probabilities, the rest the timeline."""
    return np.concatenate([audible_mean(inputs, silent)[None], inputs]).astype(np.float32)


def build_head(mean: np.ndarray, variance: np.ndarray, kernel: np.ndarray, bias: np.ndarray):
    """The head with standardisation statistics `mean`/`variance` (dims,) and a fitted softmax layer: `kernel`
    (dims, genres), `bias` (genres,)."""
    import keras

    head = keras.Sequential([
        keras.Input(shape=(len(mean),)),
        keras.layers.Normalization(mean=np.asarray(mean).tolist(), variance=np.asarray(variance).tolist()),
        keras.layers.Dense(len(GENRES), activation="softmax"),
    ], name="genre_head")
    head.layers[-1].set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
    return head


def files(model_dir: Path = MODEL_DIR) -> tuple[Path, Path]:
    """(architecture JSON, weights) paths of the genre head in `model_dir`."""
    return Path(model_dir) / HEAD_JSON, Path(model_dir) / HEAD_WEIGHTS


def load_head(model_dir: Path = MODEL_DIR, dims: int | None = None):
    """The trained head from `model_dir`. Raises ModelFilesError if it is missing, does not output the genres, or
    does not read `dims` numbers per segment (when given)."""
    from .model import load_keras

    model = load_keras(*files(model_dir))
    if model.output_shape[-1] != len(GENRES):
        raise ModelFilesError(f"{HEAD_JSON} in {model_dir} does not output {len(GENRES)} genres.")
    if dims is not None and model.input_shape[-1] != dims:
        raise ModelFilesError(f"{HEAD_JSON} in {model_dir} reads {model.input_shape[-1]} numbers per segment, not "
                              f"{dims} ({' + '.join(HEAD_INPUTS)}): retrain it with `python -m codeFeature.train`.")
    return model
