"""What the shipped models are and what they measured: metrics.json (written by the training command) read into typed
records, and a digest of each model file, for the page's sidebar and the API's /v1/engines.

Reads JSON only (no TensorFlow, no scikit-learn), so it is cheap to call from a page or a server.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import METRICS_JSON
from .errors import ModelFilesError
from .hashing import file_hash

# metrics.json's evaluations of one engine, in the order that speaks for it: real songs first.
EVALUATIONS: tuple[str, ...] = ("realsongs", "cv", "split")


@dataclass(frozen=True)
class Figures:
    """One held-out evaluation of an engine, by track: on the original audio unless the name says otherwise."""

    held_out: str  # what was held out, in words
    folds: int  # training runs whose held-out tracks make up the evaluation
    tracks: int
    accuracy: float
    top3_accuracy: float | None
    macro_recall: float
    recall: dict[str, float | None]  # per genre; None where no track of the genre was held out
    confident_share: float | None  # share of the tracks the engine was sure of
    confident_accuracy: float | None  # accuracy on those
    loud_lossy_accuracy: float | None  # the same tracks as loud, lossy copies
    full_clips_accuracy: float | None  # GTZAN: the full 30-s clips only (not the 2-3-s excerpts)
    no_doubt_accuracy: float | None = None  # real songs: those whose label is not borderline
    no_doubt_tracks: int | None = None


@dataclass(frozen=True)
class OutsideFigures:
    """Held-out real songs of none of the ten genres: how many, and the share the engine called "not sure"."""

    held_out: str
    tracks: int
    not_sure: float


@dataclass(frozen=True)
class EngineCard:
    """An engine's model files (name -> "sha256:<hex>") and its figures per evaluation (see EVALUATIONS)."""

    engine: str
    files: dict[str, str]
    measured: dict[str, Figures]
    outside: OutsideFigures | None = None

    def in_words(self) -> str:
        """What a listener can expect, from the held-out real songs (GTZAN's where there are none)."""
        real = self.measured.get("realsongs")
        if real is None:
            gtzan = self.measured.get("cv") or self.measured.get("split")
            return (f"Right on {gtzan.accuracy:.0%} of {gtzan.tracks} held-out GTZAN tracks; not measured on real "
                    f"songs." if gtzan else "Not measured.")
        words = (f"Right on {real.accuracy:.0%} of {real.tracks} real songs it never heard (the right genre among "
                 f"its top three: {real.top3_accuracy:.0%}).")
        if real.confident_share is not None:
            words += (f" It is sure of {real.confident_share:.0%} of them, and right on "
                      f"{real.confident_accuracy:.0%} of those.")
        if self.outside is not None:
            words += (f" Of {self.outside.tracks} songs that are none of the ten genres, it says \"not sure\" of "
                      f"{self.outside.not_sure:.0%}.")
        return words

    @property
    def digest(self) -> str:
        """One "sha256:<hex>" for all of the engine's model files (of their names and digests, in order)."""
        lines = "".join(f"{name} {digest}\n" for name, digest in self.files.items())
        return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"in_words": self.in_words(), **asdict(self), "digest": self.digest}


@dataclass(frozen=True)
class ModelCard:
    """A model folder's metrics.json: the default engine the training command chose, how many GTZAN tracks it
    trained on, and each engine's card."""

    default_engine: str
    gtzan_tracks: int
    engines: dict[str, EngineCard]


def read_card(model_dir: Path) -> ModelCard:
    """The ModelCard of `model_dir`, with digests of the model files as they are on disk now. Raises ModelFilesError
    if metrics.json is missing or unreadable, or a model file it names is missing."""
    path = Path(model_dir) / METRICS_JSON
    try:
        metrics = json.loads(path.read_text())
        described = {engine: (list(details["files"]),
                              {kind: _figures(details["evaluation"][kind]) for kind in EVALUATIONS
                               if kind in details["evaluation"]},
                              _outside(details["evaluation"].get("outside")))
                     for engine, details in metrics["engines"].items()}
        default, tracks = metrics["default_engine"], int(metrics["data"]["tracks"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFilesError(f"{path} is missing or was not written by the training command ({exc}).") from exc
    try:
        engines = {engine: EngineCard(engine, {name: file_digest(Path(model_dir) / name) for name in files}, measured,
                                      outside)
                   for engine, (files, measured, outside) in described.items()}
    except OSError as exc:
        raise ModelFilesError(f"A model file named in {path} cannot be read: {exc}") from exc
    return ModelCard(default, tracks, engines)


def file_digest(path: Path) -> str:
    """"sha256:<hex>" of a file's bytes."""
    return "sha256:" + file_hash(path, "sha256")


def original_track(summary: dict) -> dict:
    """The track-level figures of an evaluation summary (metrics.json's cv, split or realsongs of one engine) on the
    original audio: a real-song summary holds them at its top level, a GTZAN one under "original"."""
    return summary["original"]["track"] if "original" in summary else summary["track"]


def _figures(summary: dict) -> Figures:
    """The Figures of one metrics.json evaluation summary."""
    track = original_track(summary)
    sure = summary.get("confidence") or {}
    lossy = summary.get("modern_lossy", {}).get("track") or {}
    clips = summary.get("original_full_clips_only") or {}
    return Figures(held_out=summary["held_out"], folds=len(summary["runs"]), tracks=int(track["n"]),
                   accuracy=float(track["accuracy"]), top3_accuracy=track.get("top3_accuracy"),
                   macro_recall=float(track["macro_recall"]),
                   recall={genre: c["recall"] if c["support"] else None for genre, c in track["per_class"].items()},
                   confident_share=sure.get("coverage"), confident_accuracy=sure.get("accuracy"),
                   loud_lossy_accuracy=lossy.get("accuracy"), full_clips_accuracy=clips.get("accuracy"),
                   no_doubt_accuracy=(summary.get("no_doubt") or {}).get("accuracy"),
                   no_doubt_tracks=(summary.get("no_doubt") or {}).get("n"))


def _outside(summary: dict | None) -> OutsideFigures | None:
    """The OutsideFigures of metrics.json's "outside" summary of one engine, if it has one."""
    if summary is None:
        return None
    return OutsideFigures(summary["held_out"], int(summary["n"]), float(summary["not_sure"]))
