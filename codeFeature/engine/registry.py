"""A serving process's classifiers: one GenreClassifier per engine, each loaded and warmed up once, the default one
in the background as the process starts. The API and the page hold one `Classifiers` each.
"""
from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

from codeFeature.engine import engines as engine_table
from codeFeature.engine.classifier import GenreClassifier
from codeFeature.engine.model_folder import ModelFolder
from codeFeature.errors import GenreClassifierError

log = logging.getLogger(__name__)


class Classifiers:
    """The loaded engines of a model folder: `default` (the folder's, unless named) loaded in a background thread by
    `start`, the others on first use. `get` blocks while an engine loads (call it off an event loop); `error` says
    why the default could not be loaded."""

    def __init__(self, folder: ModelFolder, default: str | None = None) -> None:
        self.folder = folder
        self.default = folder.engine(default)
        self.error: str | None = None
        self._loaded: dict[str, GenreClassifier] = {}
        self._locks = {engine: threading.Lock() for engine in engine_table.ENGINES}
        self._started = threading.Event()

    @property
    def ready(self) -> bool:
        return self.default in self._loaded

    def loaded(self, engine: str) -> bool:
        return engine in self._loaded

    def start(self) -> None:
        """Load and warm up the default engine in a background thread (once; later calls do nothing)."""
        if not self._started.is_set():
            self._started.set()
            threading.Thread(target=self._load_default, name="load-models", daemon=True).start()

    def get(self, engine: str) -> GenreClassifier:
        """The loaded, warmed-up classifier of `engine`. Raises GenreClassifierError if its models cannot load."""
        with self._locks[engine]:
            if engine not in self._loaded:
                classifier = GenreClassifier(self.folder, engine)
                classifier.warm_up()
                self._loaded[engine] = classifier
            return self._loaded[engine]

    def _load_default(self) -> None:
        try:
            self.get(self.default)
            log.info("engine %s loaded and warmed up: ready", self.default)
        except GenreClassifierError as exc:
            self.error = str(exc)
            log.error("the models could not be loaded: %s", exc)
        except Exception:  # noqa: BLE001 - a background thread has no caller to raise to
            self.error = "The models could not be loaded; the server log has the details."
            log.exception("the models could not be loaded")


@functools.cache
def shared_classifiers(model_dir: Path | None = None) -> Classifiers:
    """This process's one `Classifiers` for the model folder at `model_dir` (class_xls/ when None), with its default
    engine: the page's server starts it loading before the first visitor, and every session uses it. Raises
    ModelFilesError if the folder cannot be opened (and opens it again on the next call)."""
    return Classifiers(ModelFolder.open(model_dir))
