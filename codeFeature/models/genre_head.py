"""The genre head: the pretrained networks' outputs for a song's segments in, genre probabilities and "none of the
ten" out; saved as JSON + .weights.h5.

Input: one vector per 3-s segment, `head_inputs`, laid out by `head_layout(ears)` for the networks ("ears",
models/ears.py) the head reads: the tag-to-genre map (each genre's strongest tag of its ear's map, the strongest
over the ears), then per ear its 50 tag likelihoods as logits and its embedding. Model: standardisation (its
statistics travel in the JSON) -> Dense softmax over HEAD_CLASSES (the ten genres, then "outside"): a multinomial
logistic regression, fitted by `training/fit_head`. Because it is linear, the song's row is the mean of its audible
segments' vectors (`song_rows`), so the song's probabilities are the softmax of the mean of its segments' logits,
and each segment's own row gives the timeline. `split_outside` turns the head's output into what a song gets.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from codeFeature.config import (
    EAR_OUTPUTS,
    GENRES,
    HEAD_CLASSES,
    HEAD_JSON,
    HEAD_WEIGHTS,
    MODEL_DIR,
)
from codeFeature.errors import ModelFilesError
from codeFeature.models.ears import ear
from codeFeature.models.keras_files import load_keras
from codeFeature.models.runtime import InferenceModel
from codeFeature.models.song import audible_mean

_TAG_FLOOR = 1e-4  # tag likelihoods are clipped to [floor, 1 - floor] before the logit
_FLOOR_LOGIT = float(np.log(_TAG_FLOOR / (1 - _TAG_FLOOR)))
GENRE_MAP = "genre_map"  # the first part of every layout


def tag_logits(tags: np.ndarray) -> np.ndarray:
    """Tag likelihoods -> their logits (clipped, so always finite)."""
    values = np.clip(np.asarray(tags, dtype=np.float32), _TAG_FLOOR, 1 - _TAG_FLOOR)
    return np.log(values / (1 - values))


@cache
def _map_columns(name: str) -> tuple[tuple[int, ...], ...]:
    spec = ear(name)
    return tuple(tuple(spec.tags.index(tag) for tag in spec.genre_map[genre]) for genre in GENRES)


def genre_map(logits: np.ndarray, name: str = "musicnn") -> np.ndarray:
    """(..., 50) tag logits of the ear `name` -> (..., genres): each genre's strongest tag of the ear's tag-to-genre
    map (the floor where it has none)."""
    logits = np.asarray(logits, dtype=np.float32)
    columns = [logits[..., idx].max(axis=-1) if idx else np.full(logits.shape[:-1], _FLOOR_LOGIT, np.float32)
               for idx in map(list, _map_columns(name))]
    return np.stack(columns, axis=-1)


def head_layout(ears: Sequence[str]) -> tuple[str, ...]:
    """The names of the parts of a head input row for the ears `ears`, in order: "genre_map", then "<ear>:tags" and
    "<ear>:penultimate" per ear."""
    return (GENRE_MAP, *(f"{name}:{output}" for name in ears for output in EAR_OUTPUTS))


def head_inputs(outputs: Mapping[str, Mapping[str, np.ndarray]], ears: Sequence[str]) -> np.ndarray:
    """Each ear's outputs {ear: {"tags": (..., 50), "penultimate": (..., dims)}} -> (..., input_dims(ears))
    float32, laid out by `head_layout(ears)`."""
    logits = {name: tag_logits(outputs[name]["tags"]) for name in ears}
    parts = [np.max([genre_map(logits[name], name) for name in ears], axis=0)]
    for name in ears:
        parts += [logits[name], np.asarray(outputs[name]["penultimate"], dtype=np.float32)]
    return np.concatenate(parts, axis=-1).astype(np.float32)


def input_parts(ears: Sequence[str]) -> dict[str, slice]:
    """Where each part of `head_layout(ears)` sits in a head input row."""
    sizes = {GENRE_MAP: len(GENRES)}
    for name in ears:
        sizes[f"{name}:tags"], sizes[f"{name}:penultimate"] = len(ear(name).tags), ear(name).embedding
    parts, start = {}, 0
    for part in head_layout(ears):
        parts[part] = slice(start, start + sizes[part])
        start += sizes[part]
    return parts


def input_dims(ears: Sequence[str]) -> int:
    """Numbers per segment `head_inputs` gives for the ears `ears`."""
    return max(part.stop for part in input_parts(ears).values())


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


def load_head(model_dir: Path = MODEL_DIR, ears: Sequence[str] | None = None) -> InferenceModel:
    """The trained head from `model_dir`, ready to run. Raises ModelFilesError if it is missing, does not
    output HEAD_CLASSES, or does not read `input_dims(ears)` numbers per segment (when given)."""
    json_path, weights_path = files(model_dir)
    model = load_keras(json_path, weights_path)
    if model.output_shape[-1] != len(HEAD_CLASSES):
        raise ModelFilesError(f"{json_path.name} in {model_dir} does not output the {len(GENRES)} genres and "
                              f"'outside': retrain it with `python -m codeFeature.train`.")
    if ears is not None and model.input_shape[-1] != input_dims(ears):
        raise ModelFilesError(f"{json_path.name} in {model_dir} reads {model.input_shape[-1]} numbers per segment, not "
                              f"{input_dims(ears)} ({' + '.join(head_layout(ears))}): retrain it with "
                              f"`python -m codeFeature.train`.")
    return InferenceModel(model)
