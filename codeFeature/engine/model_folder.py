"""A model folder (class_xls/ by default) opened once: where it is, what its models expect and how they combine
(engines.json), and what they measured (metrics.json). Every surface opens its folder through `ModelFolder.open`, so
an unreadable folder stops each of them at start with the same message.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codeFeature.config import METRICS_JSON, MODEL_DIR
from codeFeature.engine.card import ModelCard, read_card
from codeFeature.engine.settings import EngineSettings
from codeFeature.errors import ModelFilesError


@dataclass(frozen=True)
class ModelFolder:
    """A readable model folder: its `path`, `settings` (engines.json) and `card` (metrics.json)."""

    path: Path
    settings: EngineSettings
    card: ModelCard

    @classmethod
    def open(cls, path: Path | str | None = None) -> ModelFolder:
        """The folder at `path` (class_xls/ when None). Raises ModelFilesError if either file is missing,
        unreadable, of another schema, or made for other features, or a model file the card names is missing."""
        path = Path(path) if path is not None else MODEL_DIR
        return cls(path, EngineSettings.read(path), read_card(path))

    @property
    def default_engine(self) -> str:
        """The engine the training command measured best (see EngineSettings.engine)."""
        return self.settings.default_engine

    def engine(self, requested: str | None = None) -> str:
        """`requested`, or the default engine when None; ValueError for an unknown name."""
        return self.settings.engine(requested)

    def digest(self, engine: str) -> str:
        """One "sha256:<hex>" for `engine`'s model files (EngineCard.digest), as batch rows record it. Raises
        ModelFilesError if metrics.json does not describe the engine."""
        if engine not in self.card.engines:
            raise ModelFilesError(f"{self.path / METRICS_JSON} does not describe the {engine} engine: retrain with "
                                  f"`python -m codeFeature.train`.")
        return self.card.engines[engine].digest
