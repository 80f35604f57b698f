"""A serving process's classifiers: one GenreClassifier per engine, each loaded and warmed up once, the default one
in the background as the process starts. The API and the page hold one `Classifiers` each.
"""
from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

from .classifier import GenreClassifier
from .config import ENGINES, MODEL_DIR
from .engines import EngineSettings
from .errors import GenreClassifierError

log = logging.getLogger(__name__)

FALLBACK_ENGINE = "cnn"  # the default when engines.json cannot be read (loading then says what is wrong)


class Classifiers:
    """The loaded engines of `model_dir`: the default one loaded in a background thread by `start`, the others on
    first use. `get` blocks while an engine loads (call it off an event loop); `error` says why the default could
    not be loaded."""

    def __init__(self, model_dir: Path, default: str) -> None:
        self.model_dir = model_dir
        self.default = default
        self.error: str | None = None
        self._loaded: dict[str, GenreClassifier] = {}
        self._locks = {engine: threading.Lock() for engine in ENGINES}
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
                classifier = GenreClassifier(self.model_dir, engine)
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


def default_engine(model_dir: Path = MODEL_DIR) -> str:
    """The engine the training command measured best (engines.json in `model_dir`); FALLBACK_ENGINE if unreadable."""
    try:
        return EngineSettings.read(model_dir).default_engine
    except GenreClassifierError:
        return FALLBACK_ENGINE


@functools.cache
def shared(model_dir: Path = MODEL_DIR) -> Classifiers:
    """This process's one `Classifiers` for `model_dir`, with engines.json's default: the page's server starts it
    loading before the first visitor, and every session uses it."""
    return Classifiers(model_dir, default_engine(model_dir))
