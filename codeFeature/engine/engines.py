"""The engine table: every engine a user can pick, one record each, read by the classifier, the model folder,
training, the page, the API, the CLI and the beets plugin (their help texts are made from it). Adding an engine is
one row here plus its model code. No other module compares engine names.

An engine is kept in the table only where the training command measured it distinct and better at something a user
cares about (docs/training.md says what earlier engines measured and why they were dropped).
"""
from __future__ import annotations

from dataclasses import dataclass

from codeFeature.config import MODEL_JSON, MODEL_WEIGHTS

MFCC, LOG_MEL = "mfcc", "log_mel"  # the model inputs an engine may need (feature_extractor_cnn / _musicnn)


@dataclass(frozen=True, kw_only=True)
class Engine:
    """One engine: its `name` (CLI, API, metrics.json), the `label` and one-line `description` users see, the
    model `input` it needs (MFCC or LOG_MEL), whether it reads the genre head over the pretrained networks
    engines.json names (`head`; else the MFCC CNN), its own model files (`files`, besides the networks and head) and
    how its song's probabilities come from its segments (`song_rule`, in words)."""

    name: str
    label: str
    description: str
    input: str
    head: bool
    files: tuple[str, ...] = ()
    song_rule: str


TABLE: tuple[Engine, ...] = (
    Engine(name="cnn", label="MFCC CNN", input=MFCC, head=False, files=(MODEL_JSON, MODEL_WEIGHTS),
           description="the card's small CNN over 13 MFCCs per 3-s segment, trained here on GTZAN and real songs",
           song_rule="the mean of its audible segments' probabilities"),
    Engine(name="musicnn", label="musicnn + genre head", input=LOG_MEL, head=True,
           description="the pretrained musicnn network's tags and embedding read by a genre head trained here; "
                       "also says when a song is none of the ten genres",
           song_rule="the head's softmax of the mean of its audible segments' inputs"),
)
ENGINES: tuple[str, ...] = tuple(engine.name for engine in TABLE)  # the names, cheapest first, as tables list them
_BY_NAME = {engine.name: engine for engine in TABLE}


def engine(name: str) -> Engine:
    """The record of the engine `name`. Raises ValueError for a name not in the table."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {name!r}") from None


def help_text(default: str | None = None) -> str:
    """The engines as a help text lists them: "cnn (MFCC CNN: ...), musicnn (...)", the default named where given."""
    return "; ".join(f"{e.name} ({e.label}: {e.description})" + (" [default]" if e.name == default else "")
                     for e in TABLE)
