"""metrics.json, the model card: what the shipped models are and what they measured, read into typed records (one
reader, for the page's sidebar, the API's /v1/engines, the batch job and `python -m codeFeature.report`), with a
digest of each model file. Written by the training command (training/train.py); reads JSON only.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codeFeature.config import GENRES, METRICS_JSON
from codeFeature.errors import ModelFilesError
from codeFeature.hashing import file_hash

SCHEMA = 4  # metrics.json's layout; the reader takes this one only (retrain to write it)

# The held-out evaluations of an engine, what each holds out (in words), in the order that speaks for it: real
# songs first. "outside" (songs of none of the ten genres) has OutsideFigures, the others Figures.
KINDS: dict[str, str] = {
    "realsongs": "real songs held out by artist-grouped cross-validation: every song judged by a model fitted, and a "
                 "design and 'not sure' rule chosen, without any song of its artist",
    "cv": "GTZAN tracks of the cross-validation runs",
    "split": "the artist-filtered valid tracks",
    "outside": "real songs of none of the ten genres (outside.csv), held out by artist the same way",
    "cv_sources": "the songs of one source held out by artist (GTZAN: by track) in the cross-validation runs, every "
                  "other song training",
    "sources": "every song of one source (GTZAN, a real-song repository, or the small ones together), judged by a "
               "model fitted, and networks, design and 'not sure' rule chosen, on the other sources only",
}
EVALUATIONS: tuple[str, ...] = ("realsongs", "cv", "split")  # the kinds with Figures
GTZAN_HEADLINE: tuple[str, ...] = ("cv", "split")  # the GTZAN kind that speaks for an engine: the first it has


@dataclass(frozen=True, kw_only=True)
class Figures:
    """One held-out evaluation of an engine, by track: on the original audio unless the name says otherwise."""

    held_out: str  # what was held out, in words
    folds: int  # training runs whose held-out tracks make up the evaluation
    tracks: int
    accuracy: float
    top3_accuracy: float
    macro_recall: float
    recall: dict[str, float | None]  # per genre; None where no track of the genre was held out
    precision: dict[str, float]
    support: dict[str, int]  # held-out tracks per genre
    confident_share: float | None  # share of the tracks the engine was sure of
    confident_accuracy: float | None  # accuracy on those
    loud_accuracy: float  # the same tracks as loud masters
    loud_lossy_accuracy: float  # ... as loud, lossy copies
    full_clips_accuracy: float | None = None  # GTZAN: the full 30-s clips only (not the 2-3-s excerpts)
    full_clips_macro_recall: float | None = None
    no_doubt_accuracy: float | None = None  # real songs: those whose label is not borderline
    no_doubt_tracks: int | None = None


@dataclass(frozen=True, kw_only=True)
class OutsideFigures:
    """Held-out real songs of none of the ten genres: how many, the share the engine called "not sure", and how
    many of them for each reason (P(none of the ten) too high / the top two too close)."""

    held_out: str
    tracks: int
    not_sure: float
    called_outside: int
    called_close: int


@dataclass(frozen=True, kw_only=True)
class AblationRow:
    """One design of the genre head, on the same runs as the engines: its label, the networks it reads and their
    multiply-adds per song, held-out top-1 accuracy per evaluation ("realsongs", "cv", "split" where measured), per
    source held out by artist (`cv_source_accuracy`) and per source left out (`source_accuracy`), real-song macro
    recall, and whether it is the design the shipped head has."""

    design: str
    ears: tuple[str, ...]
    macs_per_song: int
    accuracy: dict[str, float]
    cv_source_accuracy: dict[str, float]
    source_accuracy: dict[str, float]
    real_macro_recall: float | None
    shipped: bool


@dataclass(frozen=True, kw_only=True)
class EngineCard:
    """An engine's model files (name -> "sha256:<hex>"), its "not sure" rule (min_margin, max_outside), its figures
    per evaluation (see EVALUATIONS), on songs of none of the ten, per source held out by artist (`cv_sources`), per
    source left out (leave-one-source-out: `sources`, and its songs of none of the ten, `sources_outside`), and (the
    genre head) the networks it reads, its design and the ablation of every design."""

    engine: str
    files: dict[str, str]
    not_sure: dict[str, float]
    measured: dict[str, Figures]
    outside: OutsideFigures | None = None
    cv_sources: dict[str, Figures] = field(default_factory=dict)
    sources: dict[str, Figures] = field(default_factory=dict)
    sources_outside: dict[str, OutsideFigures] = field(default_factory=dict)
    ears: tuple[str, ...] = ()
    design: str | None = None
    ablation: tuple[AblationRow, ...] = ()

    @property
    def gtzan(self) -> Figures | None:
        """The GTZAN figures that speak for the engine (GTZAN_HEADLINE: cross-validation, else the split)."""
        return next((self.measured[kind] for kind in GTZAN_HEADLINE if kind in self.measured), None)

    def in_words(self) -> str:
        """What a listener can expect, from the held-out real songs (GTZAN's where there are none)."""
        real = self.measured.get("realsongs")
        if real is None:
            gtzan = self.gtzan
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


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """A model folder's metrics.json: the default engine the training command chose, what it trained on (GTZAN
    tracks, real songs), the command that wrote it, and each engine's card."""

    default_engine: str
    gtzan_tracks: int
    engines: dict[str, EngineCard]
    real_songs: int = 0
    command: str = ""
    schema: int = SCHEMA


def read_card(model_dir: Path) -> ModelCard:
    """The ModelCard of `model_dir`, with digests of the model files as they are on disk now. Raises ModelFilesError
    if metrics.json is missing, unreadable or of another schema, or a model file it names is missing."""
    path = Path(model_dir) / METRICS_JSON
    try:
        metrics = json.loads(path.read_text())
        schema = metrics.get("schema", 1)
        if schema != SCHEMA:
            raise ValueError(f"schema {schema}, this code reads {SCHEMA}")
        described = {engine: _engine_card(engine, details, Path(model_dir))
                     for engine, details in metrics["engines"].items()}
        data = metrics["data"]
        return ModelCard(default_engine=metrics["default_engine"], gtzan_tracks=int(data["tracks"]),
                         engines=described, real_songs=(data.get("realsongs") or {}).get("songs", 0),
                         command=metrics["command"], schema=schema)
    except OSError as exc:
        if not path.is_file():
            raise ModelFilesError(f"{path} is missing: train with `python -m codeFeature.train`.") from exc
        raise ModelFilesError(f"A model file named in {path} cannot be read: {exc}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFilesError(f"{path} was not written by this version of the training command ({exc}): retrain "
                              f"with `python -m codeFeature.train`.") from exc


def _engine_card(engine: str, details: dict, model_dir: Path) -> EngineCard:
    """The EngineCard of one metrics.json engine record, with digests of its files as they are on disk now."""
    evaluation = details["evaluation"]
    sources = evaluation.get("sources", {})
    return EngineCard(
        engine=engine,
        files={name: file_digest(model_dir / name) for name in details["files"]},
        not_sure={key: float(value) for key, value in details["not_sure"].items() if key != "per_run"},
        measured={kind: _figures(evaluation[kind]) for kind in EVALUATIONS if kind in evaluation},
        outside=_outside(evaluation.get("outside")),
        cv_sources={group: _figures(summary) for group, summary in evaluation.get("cv_sources", {}).items()},
        sources={group: _figures(summary) for group, summary in sources.items()},
        sources_outside={group: _outside(s["outside"]) for group, s in sources.items() if "outside" in s},
        ears=tuple(details.get("ears", ())),
        design=(details.get("design") or {}).get("label"),
        ablation=_ablation(details))


def file_digest(path: Path) -> str:
    """"sha256:<hex>" of a file's bytes."""
    return "sha256:" + file_hash(path, "sha256")


def _figures(summary: dict) -> Figures:
    """The Figures of one metrics.json evaluation summary."""
    track = summary["original"]["track"]
    per_class = track["per_class"]
    sure = summary.get("confidence") or {}
    clips = summary.get("original_full_clips_only") or {}
    clear = summary.get("no_doubt") or {}
    return Figures(held_out=summary["held_out"], folds=len(summary["runs"]), tracks=int(track["n"]),
                   accuracy=float(track["accuracy"]), top3_accuracy=float(track["top3_accuracy"]),
                   macro_recall=float(track["macro_recall"]),
                   recall={g: per_class[g]["recall"] if per_class[g]["support"] else None for g in GENRES},
                   precision={g: per_class[g]["precision"] for g in GENRES},
                   support={g: int(per_class[g]["support"]) for g in GENRES},
                   confident_share=sure.get("coverage"), confident_accuracy=sure.get("accuracy"),
                   loud_accuracy=float(summary["modern"]["track"]["accuracy"]),
                   loud_lossy_accuracy=float(summary["modern_lossy"]["track"]["accuracy"]),
                   full_clips_accuracy=clips.get("accuracy"), full_clips_macro_recall=clips.get("macro_recall"),
                   no_doubt_accuracy=clear.get("accuracy"), no_doubt_tracks=clear.get("n"))


def _outside(summary: dict | None) -> OutsideFigures | None:
    """The OutsideFigures of metrics.json's "outside" summary of one engine, if it has one."""
    if summary is None:
        return None
    return OutsideFigures(held_out=summary["held_out"], tracks=int(summary["n"]), not_sure=float(summary["not_sure"]),
                          called_outside=int(summary["reasons"]["outside"]),
                          called_close=int(summary["reasons"]["close"]))


def _ablation(details: dict) -> tuple[AblationRow, ...]:
    """The AblationRows of an engine's metrics.json record (none for an engine without the genre head)."""
    shipped = (details.get("design") or {}).get("label")
    return tuple(AblationRow(design=label, ears=tuple(row["ears"]), macs_per_song=int(row["macs_per_song"]),
                             accuracy={kind: float(row[kind]["accuracy"]) for kind in EVALUATIONS if kind in row},
                             cv_source_accuracy={g: float(f["accuracy"]) for g, f in row["cv_sources"].items()},
                             source_accuracy={g: float(f["accuracy"]) for g, f in row["sources"].items()},
                             real_macro_recall=row["realsongs"]["macro_recall"] if "realsongs" in row else None,
                             shipped=label == shipped)
                 for label, row in details.get("ablation", {}).items())
