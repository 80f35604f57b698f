"""The genre head: musicnn's outputs for a song's segments in, genre probabilities and "none of the ten" out; saved as
JSON + .weights.h5.

Input: one vector per 3-s segment, `head_inputs`: the parts named in config.HEAD_INPUTS side by side (the
tag-to-genre map, the 50 MSD tag likelihoods as logits, then the 200-number embedding). Model: standardisation (its
statistics travel in the JSON) -> Dense softmax over HEAD_CLASSES (the ten genres, then "outside"): a multinomial
logistic regression, fitted by `training/fit_head`. Because it is linear, the song's row is the mean of its audible
segments' vectors (`song_rows`), so the song's probabilities are the softmax of the mean of its segments' logits,
and each segment's own row gives the timeline. `split_outside` turns the head's output into what a song gets.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from codeFeature.config import (
    GENRE_TAG_MAP,
    GENRES,
    HEAD_CLASSES,
    HEAD_INPUTS,
    HEAD_JSON,
    HEAD_WEIGHTS,
    MODEL_DIR,
    MSD_TAGS,
)
from codeFeature.errors import ModelFilesError
from codeFeature.models.keras_files import load_keras
from codeFeature.models.runtime import InferenceModel
from codeFeature.models.song import audible_mean

_TAG_FLOOR = 1e-4  # tag likelihoods are clipped to [floor, 1 - floor] before the logit
_FLOOR_LOGIT = float(np.log(_TAG_FLOOR / (1 - _TAG_FLOOR)))
_MAP = [[MSD_TAGS.index(tag) for tag in GENRE_TAG_MAP[genre]] for genre in GENRES]


def tag_logits(tags: np.ndarray) -> np.ndarray:
    """MSD tag likelihoods -> their logits (clipped, so always finite)."""
    values = np.clip(np.asarray(tags, dtype=np.float32), _TAG_FLOOR, 1 - _TAG_FLOOR)
    return np.log(values / (1 - values))


def genre_map(logits: np.ndarray) -> np.ndarray:
    """(..., 50) tag logits -> (..., genres): each genre's strongest tag of GENRE_TAG_MAP (the floor where it has
    none)."""
    logits = np.asarray(logits, dtype=np.float32)
    columns = [logits[..., idx].max(axis=-1) if idx else np.full(logits.shape[:-1], _FLOOR_LOGIT, np.float32)
               for idx in _MAP]
    return np.stack(columns, axis=-1)


def head_inputs(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """musicnn outputs {name: (..., dims)} -> (..., total dims) float32: HEAD_INPUTS side by side."""
    logits = tag_logits(outputs["tags"])
    parts = {"genre_map": genre_map(logits), "tags": logits}
    return np.concatenate([parts[name] if name in parts else np.asarray(outputs[name], dtype=np.float32)
                           for name in HEAD_INPUTS], axis=-1).astype(np.float32)


def input_dims(output_dims: Mapping[str, int]) -> int:
    """Numbers per segment `head_inputs` gives for musicnn outputs of these sizes ({name: dims})."""
    return sum(_sizes(output_dims).values())


def input_parts(dims: int) -> dict[str, slice]:
    """Where each of HEAD_INPUTS sits in a head input row of `dims` numbers (the last part takes the rest)."""
    sizes = _sizes({"tags": len(MSD_TAGS), HEAD_INPUTS[-1]: 0})
    sizes[HEAD_INPUTS[-1]] = dims - sum(sizes[name] for name in HEAD_INPUTS[:-1])
    parts, start = {}, 0
    for name in HEAD_INPUTS:
        parts[name] = slice(start, start + sizes[name])
        start += sizes[name]
    return parts


def _sizes(output_dims: Mapping[str, int]) -> dict[str, int]:
    """Numbers per segment of each of HEAD_INPUTS, for musicnn outputs of these sizes."""
    return {name: len(GENRES) if name == "genre_map" else output_dims[name] for name in HEAD_INPUTS}


def song_rows(inputs: np.ndarray, silent: Sequence[bool] | np.ndarray) -> np.ndarray:
    """(segments, dims) head inputs -> (1 + segments, dims): the song's row (`song.audible_mean` of the segments),
    then each segment's. The head's output row 0 is the song's probabilities, the rest the timeline."""
    return np.concatenate([audible_mean(inputs, silent)[None], inputs]).astype(np.float32)


def judge_rows(head: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray,
               silent: Sequence[bool] | np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The head (a runtime.InferenceModel) on a song's (segments, dims) head inputs -> (song (genres,), segments
    (segments, genres)) probabilities and the song's probability of being none of the ten genres."""
    genres, none_of_them = split_outside(head(song_rows(inputs, silent)))
    return genres[0], genres[1:], float(none_of_them[0])


def split_outside(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The head's (..., HEAD_CLASSES) output -> ((..., genres) probabilities over the ten genres, renormalised;
    (...) the probability that the song is none of them). One rule for serving and evaluation."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    genres = probabilities[..., :len(GENRES)]
    return genres / genres.sum(axis=-1, keepdims=True), probabilities[..., len(GENRES)]


def build_head(mean: np.ndarray, variance: np.ndarray, kernel: np.ndarray, bias: np.ndarray):
    """The head with standardisation statistics `mean`/`variance` (dims,) and a fitted softmax layer: `kernel`
    (dims, classes), `bias` (classes,)."""
    import keras

    head = keras.Sequential([
        keras.Input(shape=(len(mean),)),
        keras.layers.Normalization(mean=np.asarray(mean).tolist(), variance=np.asarray(variance).tolist()),
        keras.layers.Dense(len(HEAD_CLASSES), activation="softmax"),
    ], name="genre_head")
    head.layers[-1].set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
    return head


def files(model_dir: Path = MODEL_DIR) -> tuple[Path, Path]:
    """(architecture JSON, weights) paths of the genre head in `model_dir`."""
    return Path(model_dir) / HEAD_JSON, Path(model_dir) / HEAD_WEIGHTS


def load_head(model_dir: Path = MODEL_DIR, dims: int | None = None) -> InferenceModel:
    """The trained head from `model_dir`, ready to run. Raises ModelFilesError if it is missing, does not output
    HEAD_CLASSES, or does not read `dims` numbers per segment (when given)."""
    model = load_keras(*files(model_dir))
    if model.output_shape[-1] != len(HEAD_CLASSES):
        raise ModelFilesError(f"{HEAD_JSON} in {model_dir} does not output the {len(GENRES)} genres and 'outside': "
                              f"retrain it with `python -m codeFeature.train`.")
    if dims is not None and model.input_shape[-1] != dims:
        raise ModelFilesError(f"{HEAD_JSON} in {model_dir} reads {model.input_shape[-1]} numbers per segment, not "
                              f"{dims} ({' + '.join(HEAD_INPUTS)}): retrain it with `python -m codeFeature.train`.")
    return InferenceModel(model)
