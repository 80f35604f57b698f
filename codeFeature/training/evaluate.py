"""Evaluate the engines' runs: their figures per held-out kind (engine.card.KINDS), each run's "not sure" rule chosen
on the other runs of its kind, and the default engine chosen from held-out predictions.

An evaluation is a dict per kind, as metrics.json stores it (read back by engine.card): {"held_out": words, "runs":
[...], "original" | "modern" | "modern_lossy": {"track": ..., "segment": ...}, "confidence": ..., plus
"original_full_clips_only" (GTZAN) or "no_doubt" (real songs)}; "outside" has {"n", "not_sure", "reasons"};
"sources" has one such summary per source group (leave-one-source-out), with its songs of none of the ten under
"outside" where it has some; "cv_sources" has one summary per source group of the cv runs' held-out songs (each
song judged by a model that trained on every other source and on the other artists of its own).
"""
from __future__ import annotations

import numpy as np

from codeFeature.config import MIN_SOURCE_SONGS, N_SEGMENTS
from codeFeature.engine import confidence
from codeFeature.engine import engines as engine_table
from codeFeature.engine.card import KINDS
from codeFeature.engine.confidence import Thresholds
from codeFeature.training import metrics
from codeFeature.training.augment import VARIANTS
from codeFeature.training.folds import SOURCE_RUN, family
from codeFeature.training.metrics import Run
from codeFeature.training.track_data import TrackData


def _held_out(data: TrackData, runs: list[Run], kind: str, group: str | None = None) -> list[tuple[Run, np.ndarray]]:
    """Each run of `kind` with a mask over its held-out tracks: the cv runs' labelled real songs for "realsongs",
    their songs of none of the ten for "outside", their GTZAN tracks for "cv"; the split run's GTZAN tracks for
    "split"; for "sources", the run that held out source `group` and its songs of the ten genres (with `group` and
    kind "outside", that run's songs of none of the ten); for "cv_sources", the cv runs' songs of the ten genres of
    source `group`."""
    if kind == "cv_sources":
        wanted = (data.sources == group) & ~data.outside
        return [(r, wanted[r.test_idx]) for r in runs if family(r.name) == "cv"]
    if group is not None:
        wanted = data.outside if kind == "outside" else ~data.outside
        return [(r, wanted[r.test_idx]) for r in runs if r.name == f"{SOURCE_RUN}{group}"]
    wanted = {"realsongs": data.real, "outside": data.outside}.get(kind, data.gtzan)
    run_family = {"split": "split", "sources": "source"}.get(kind, "cv")
    return [(r, wanted[r.test_idx]) for r in runs if family(r.name) == run_family]


def _rule_for(data: TrackData, runs: list[Run]) -> Thresholds:
    """confidence.choose_thresholds on the held-out songs of `runs`: those of the ten genres, by source group, and
    those of none of them."""
    keep = [(r, ~data.outside[r.test_idx]) for r in runs]
    labels = np.array([data.labels[i] for r, mask in keep for i in r.test_idx[mask]], dtype=int)
    groups = np.array([data.sources[i] for r, mask in keep for i in r.test_idx[mask]], dtype=object)
    songs = [p for r, mask in keep for p, k in zip(r.predictions["original"], mask) if k]
    others = [p for r in runs for p, o in zip(r.predictions["original"], data.outside[r.test_idx]) if o]
    return confidence.choose_thresholds(labels, [p.song for p in songs], [p.outside for p in songs],
                                        [p.song for p in others], [p.outside for p in others], groups=groups)


def choose_rules(data: TrackData, runs: list[Run]) -> tuple[dict[str, Thresholds], Thresholds]:
    """An engine's "not sure" thresholds (confidence.choose_thresholds, every source group kept confident enough):
    for each cv run, chosen on the other cv runs' held-out songs, and for each leave-one-source-out run on the other
    sources' runs, so its verdicts are held out too; the shipped rule (also the split run's) on all cv runs."""
    final = _rule_for(data, [r for r in runs if family(r.name) == "cv"])
    per_run = {r.name: final for r in runs if r.name == "split"}
    for kind in ("cv", "source"):
        members = [r for r in runs if family(r.name) == kind]
        per_run.update({r.name: _rule_for(data, [o for o in members if o is not r]) for r in members})
    return per_run, final


def _held_out_predictions(keep: list[tuple[Run, np.ndarray]], data: TrackData,
                          variant: str = "original") -> tuple[np.ndarray, list[metrics.TrackPrediction]]:
    """The labels and `variant` predictions of the held-out tracks in `keep` (see `_held_out`)."""
    labels = [data.labels[i] for r, mask in keep for i in r.test_idx[mask]]
    return np.asarray(labels, dtype=int), [p for r, mask in keep for p, k in zip(r.predictions[variant], mask) if k]


def _verdicts(keep: list[tuple[Run, np.ndarray]], rules: dict[str, Thresholds]) -> list[confidence.Verdict]:
    """The verdict of each held-out track in `keep` (original audio), under its run's rule."""
    return [confidence.judge(p.song, rules[r.name], p.outside) for r, mask in keep
            for p, k in zip(r.predictions["original"], mask) if k]


def _outside_summary(keep: list[tuple[Run, np.ndarray]], rules: dict[str, Thresholds], held_out: str) -> dict:
    """How the "not sure" rule does on the held-out songs of none of the ten in `keep`."""
    verdicts = _verdicts(keep, rules)
    return {"held_out": held_out, "runs": [{"name": r.name, "held_out_tracks": int(mask.sum())} for r, mask in keep],
            "n": len(verdicts), "not_sure": round(float(np.mean([not v.confident for v in verdicts])), 4),
            "reasons": {reason: sum(v.reason == reason for v in verdicts) for reason in ("outside", "close")}}


def summarise_runs(data: TrackData, runs: list[Run], kind: str, rules: dict[str, Thresholds] | None = None,
                   group: str | None = None) -> dict | None:
    """The figures of `kind` (see card.KINDS; for "sources", of source `group`) from an engine's runs; None if they
    hold out no such track. With `rules` (run name -> Thresholds), also how the "not sure" rule does (original
    audio)."""
    keep = _held_out(data, runs, kind, group)
    idx = np.concatenate([r.test_idx[mask] for r, mask in keep]) if keep else np.array([], dtype=int)
    if len(idx) == 0:
        return None
    if kind == "outside":
        return _outside_summary(keep, rules or {}, KINDS[kind])
    summary: dict = {"held_out": KINDS[kind],
                     "runs": [{"name": r.name, "held_out_tracks": int(mask.sum()), "best_epoch": r.best_epoch,
                               "seconds": r.seconds} for r, mask in keep]}
    labels = data.labels[idx]
    predictions = {variant: _held_out_predictions(keep, data, variant)[1] for variant in VARIANTS}
    for variant, predicted in predictions.items():
        summary[variant] = metrics.evaluate_tracks(labels, predicted)
    original = predictions["original"]
    if data.real[idx].any():
        clear = np.array([not data.tracks[i].doubt for i in idx])
        summary["no_doubt"] = metrics.evaluate_tracks(labels[clear], [p for p, c in zip(original, clear) if c])["track"]
    else:
        full = np.array([data.tracks[i].clip is not None for i in idx])
        summary["original_full_clips_only"] = metrics.evaluate_tracks(
            labels[full], [p for p, f in zip(original, full) if f])["track"]
    if rules is not None:
        summary["confidence"] = confidence.selective(labels, [p.song for p in original], _verdicts(keep, rules))
        others = _held_out(data, runs, "outside", group) if kind == "sources" else []
        if any(mask.any() for _, mask in others):
            summary["outside"] = _outside_summary(others, rules, KINDS["outside"])
    return summary


def evaluate_runs(data: TrackData, runs: list[Run], rules: dict[str, Thresholds] | None = None) -> dict:
    """An engine's summaries of KINDS (those that exist; "outside" only with `rules`); "sources" holds one summary
    per source group held out by a leave-one-source-out run."""
    evaluation = {kind: summary for kind in KINDS if kind not in ("sources", "cv_sources")
                  and (kind != "outside" or rules is not None)
                  and (summary := summarise_runs(data, runs, kind, rules)) is not None}
    if any(family(r.name) == "cv" for r in runs):
        by_artist = {group: summary for group in sorted(set(data.sources))
                     if (summary := summarise_runs(data, runs, "cv_sources", rules, group)) is not None}
        if by_artist:
            evaluation["cv_sources"] = by_artist
    groups = [r.name.removeprefix(SOURCE_RUN) for r in runs if family(r.name) == "source"]
    sources = {group: summary for group in groups
               if (summary := summarise_runs(data, runs, "sources", rules, group)) is not None}
    if sources:
        evaluation["sources"] = sources
    return evaluation


def source_accuracies(evaluation: dict) -> dict[str, float]:
    """Leave-one-source-out top-1 accuracy of each source group with at least MIN_SOURCE_SONGS held-out songs."""
    return {group: summary["original"]["track"]["accuracy"] for group, summary in evaluation.get("sources", {}).items()
            if summary["original"]["track"]["n"] >= MIN_SOURCE_SONGS}


def ablation_row(data: TrackData, runs: list[Run], ears: tuple[str, ...], macs_per_segment: int) -> dict:
    """One genre-head design's held-out figures on the runs (top-1 accuracy and macro recall per evaluation, per
    source held out by artist and per source left out), the networks it reads and their multiply-adds per song."""
    evaluation = evaluate_runs(data, runs)

    def figures(summary: dict) -> dict:
        track = summary["original"]["track"]
        return {"accuracy": track["accuracy"], "macro_recall": track["macro_recall"], "n": track["n"]}

    row: dict = {"ears": list(ears), "macs_per_song": macs_per_segment * N_SEGMENTS}
    row.update({kind: figures(evaluation[kind]) for kind in ("realsongs", "cv", "split") if kind in evaluation})
    for kind in ("cv_sources", "sources"):
        row[kind] = {group: figures(s) for group, s in evaluation.get(kind, {}).items()}
    return row


def robust_score(evaluation: dict) -> float:
    """What breaks the default engine's ties: the mean of (a) GTZAN held-out macro
    recall averaged over the audio variants (CV if there is one, else the split), (b) held-out real-song accuracy
    and (c) the mean leave-one-source-out accuracy over the sources of MIN_SOURCE_SONGS songs or more, of those
    measured. Real songs are what people upload; the GTZAN variants keep loud and lossy audio in the score."""
    parts = []
    summary = metrics.headline(evaluation)
    if summary:
        parts.append(float(np.mean([summary[v]["track"]["macro_recall"] for v in VARIANTS])))
    if "realsongs" in evaluation:
        parts.append(evaluation["realsongs"]["original"]["track"]["accuracy"])
    if by_source := source_accuracies(evaluation):
        parts.append(float(np.mean(list(by_source.values()))))
    return float(np.mean(parts)) if parts else 0.0


GTZAN_FLOOR = 0.78  # the default engine keeps at least this accuracy on GTZAN's artist-filtered split


def source_scores(evaluation: dict) -> list[float]:
    """The held-out top-1 accuracies that speak for an engine on real music: each source of MIN_SOURCE_SONGS songs
    or more held out by artist (`cv_sources`), then each left out whole (`source_accuracies`)."""
    by_artist = [s["original"]["track"]["accuracy"] for s in evaluation.get("cv_sources", {}).values()
                 if s["original"]["track"]["n"] >= MIN_SOURCE_SONGS]
    return by_artist + list(source_accuracies(evaluation).values())


def choose_default(evaluations: dict[str, dict]) -> str:
    """The default engine: among the engines whose artist-filtered GTZAN accuracy (when measured) is at least
    GTZAN_FLOOR (all of them if none is), the best mean of `source_scores` (real-song accuracy where there are no
    sources), then the best `robust_score`, then the cheaper engine (engine table order)."""
    def split_ok(engine: str) -> bool:
        split = split_accuracy(evaluations[engine])
        return split is None or split >= GTZAN_FLOOR

    def key(engine: str) -> tuple[float, float, int]:
        scores = source_scores(evaluations[engine]) or [real_accuracy(evaluations[engine]) or 0.0]
        return float(np.mean(scores)), robust_score(evaluations[engine]), -engine_table.ENGINES.index(engine)
    return max([e for e in evaluations if split_ok(e)] or list(evaluations), key=key)


def real_accuracy(evaluation: dict) -> float | None:
    """Held-out real-song (artist-grouped) track accuracy of an engine's evaluation, None if not measured."""
    real = evaluation.get("realsongs")
    return real["original"]["track"]["accuracy"] if real else None


def split_accuracy(evaluation: dict) -> float | None:
    """GTZAN artist-filtered split track accuracy of an engine's evaluation, None if not measured."""
    split = evaluation.get("split")
    return split["original"]["track"]["accuracy"] if split else None
