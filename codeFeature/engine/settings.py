"""engines.json in a model folder: what its models expect and how they are combined. Written by the training
command; read, and checked against this code's feature settings, by every engine (one reader: EngineSettings.read).

    {"schema": 4, "default_engine": "musicnn",
     "not_sure": {"cnn": {"min_margin": 0.3, "max_outside": 1.0}, ...},
     "features": {...feature_settings()...}, "ears": ["musicnn"],
     "head_inputs": ["genre_map", "musicnn:tags", "musicnn:penultimate"], "chosen_by": "..."}
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from codeFeature.config import (
    EARS,
    ENGINES_JSON,
    HOP_LENGTH,
    MUSICNN_HOP_LENGTH,
    MUSICNN_N_FFT,
    MUSICNN_N_MELS,
    MUSICNN_SAMPLE_RATE,
    N_FFT,
    N_MELS,
    N_MFCC,
    N_SEGMENTS,
    SAMPLE_RATE,
    SEGMENT_SECONDS,
    SILENCE_DBFS,
)
from codeFeature.engine import engines as engine_table
from codeFeature.engine.confidence import Thresholds
from codeFeature.errors import ModelFilesError
from codeFeature.models.genre_head import head_layout

CHOSEN_BY = ("python -m codeFeature.train: the default engine has the best mean held-out accuracy over each "
             "source of 30 songs or more, held out by artist and left out whole, of those that keep GTZAN's "
             "artist-filtered split at 0.78 or more; the head's design (networks included) the best mean of the "
             "mean and the worst per-source score inside each run's training tracks; each engine's not_sure rule "
             "keeps at least 65 % of the held-out songs of every source confident with the most right answers "
             "(mean over sources) and songs of none of the ten called not sure (see metrics.json)")


def feature_settings() -> dict:
    """Every setting that shapes the models' inputs, as this code computes them."""
    return {"sample_rate": SAMPLE_RATE, "segment_seconds": SEGMENT_SECONDS, "n_segments": N_SEGMENTS,
            "silence_dbfs": SILENCE_DBFS,
            "cnn": {"n_mfcc": N_MFCC, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS},
            "musicnn": {"sample_rate": MUSICNN_SAMPLE_RATE, "n_fft": MUSICNN_N_FFT,
                        "hop_length": MUSICNN_HOP_LENGTH, "n_mels": MUSICNN_N_MELS}}


SCHEMA = 4  # engines.json's layout; the reader takes this one only (retrain to write it)


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """engines.json: the default engine, each engine's "not sure" thresholds (see confidence.judge), and what the
    models were trained on (feature settings, the pretrained networks the head reads and its input layout,
    `head_layout(ears)`)."""

    default_engine: str
    not_sure: dict[str, dict[str, float]] = field(default_factory=dict)
    features: dict = field(default_factory=feature_settings)
    ears: tuple[str, ...] = ("musicnn",)
    head_inputs: tuple[str, ...] = head_layout(("musicnn",))
    chosen_by: str = CHOSEN_BY
    schema: int = SCHEMA

    def engine(self, requested: str | None = None) -> str:
        """The engine to run: `requested`, or the default the training command chose when None. Raises ValueError
        for a name not in the engine table."""
        return engine_table.engine(requested or self.default_engine).name

    def head_ears(self, engine: str) -> tuple[str, ...]:
        """The networks `engine`'s genre head reads: the chosen `ears` for an engine with the head, none else."""
        return self.ears if engine_table.engine(engine).head else ()

    def thresholds(self, engine: str) -> Thresholds:
        """`engine`'s "not sure" rule (never "not sure" for an engine the training command did not judge)."""
        return Thresholds(**self.not_sure.get(engine, {}))

    def write(self, model_dir: Path) -> None:
        data = {**self.__dict__, "ears": list(self.ears), "head_inputs": list(self.head_inputs)}
        (Path(model_dir) / ENGINES_JSON).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def read(cls, model_dir: Path) -> EngineSettings:
        """The settings in `model_dir`. Raises ModelFilesError (one message wherever the folder is opened) if the
        folder or its engines.json is missing or unreadable, of another schema, or its models expect other features
        than this code computes."""
        path = Path(model_dir) / ENGINES_JSON
        try:
            data = json.loads(path.read_text())
            if data.get("schema", 1) != SCHEMA:
                raise ValueError(f"schema {data.get('schema', 1)}, this code reads {SCHEMA}")
            settings = cls(**{**data, "ears": tuple(data["ears"]), "head_inputs": tuple(data["head_inputs"])})
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ModelFilesError(f"No usable model folder at {model_dir}: {ENGINES_JSON} is missing or was not "
                                  f"written by this version of `python -m codeFeature.train` ({exc}).") from exc
        try:
            for engine in settings.not_sure:
                settings.thresholds(engine)
        except TypeError as exc:
            raise ModelFilesError(f"{path} has a 'not sure' rule this code cannot read: {exc}") from exc
        if settings.default_engine not in engine_table.ENGINES:
            raise ModelFilesError(f"{path} names an unknown default engine {settings.default_engine!r}.")
        if (settings.features != feature_settings() or not settings.ears or not set(settings.ears) <= set(EARS)
                or settings.head_inputs != head_layout(settings.ears)):
            raise ModelFilesError(f"The models in {model_dir} were trained on other features than this code "
                                  f"computes: retrain them with `python -m codeFeature.train`.")
        return settings
