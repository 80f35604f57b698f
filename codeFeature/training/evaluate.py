"""Evaluate the engines' runs: their figures per held-out kind (engine.card.KINDS), each run's "not sure" rule chosen
on the other runs of its kind, and the choices made from held-out predictions (the ensemble weight, the default
engine).

An evaluation is a dict per kind, as metrics.json stores it (read back by engine.card): {"held_out": words, "runs":
[...], "original" | "modern" | "modern_lossy": {"track": ..., "segment": ...}, "confidence": ..., plus
"original_full_clips_only" (GTZAN) or "no_doubt" (real songs)}; "outside" has {"n", "not_sure", "reasons"};
"sources" has one such summary per source group (leave-one-source-out), with its songs of none of the ten under
"outside" where it has some.
"""
from __future__ import annotations

import numpy as np

from codeFeature.config import ENGINES, MIN_SOURCE_SONGS, N_SEGMENTS, STUDENT_ENGINE
from codeFeature.engine import confidence
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
    kind "outside", that run's songs of none of the ten)."""
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
        others = _held_out(data, runs, "outside", group) if group is not None else []
        if any(mask.any() for _, mask in others):
            summary["outside"] = _outside_summary(others, rules, KINDS["outside"])
    return summary


def evaluate_runs(data: TrackData, runs: list[Run], rules: dict[str, Thresholds] | None = None) -> dict:
    """An engine's summaries of KINDS (those that exist; "outside" only with `rules`); "sources" holds one summary
    per source group held out by a leave-one-source-out run."""
    evaluation = {kind: summary for kind in KINDS if kind != "sources" and (kind != "outside" or rules is not None)
                  and (summary := summarise_runs(data, runs, kind, rules)) is not None}
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


def ablation_row(data: TrackData, runs: list[Run], macs_per_segment: int) -> dict:
    """One set of networks' held-out figures on the runs (top-1 accuracy and macro recall per evaluation and per
    held-out source) and its multiply-adds per song."""
    evaluation = evaluate_runs(data, runs)
    row: dict = {"macs_per_song": macs_per_segment * N_SEGMENTS}
    for kind in ("realsongs", "cv", "split"):
        if kind in evaluation:
            track = evaluation[kind]["original"]["track"]
            row[kind] = {"accuracy": track["accuracy"], "macro_recall": track["macro_recall"], "n": track["n"]}
    row["sources"] = {group: {"accuracy": s["original"]["track"]["accuracy"],
                              "macro_recall": s["original"]["track"]["macro_recall"], "n": s["original"]["track"]["n"]}
                      for group, s in evaluation.get("sources", {}).items()}
    return row


def robust_score(evaluation: dict) -> float:
    """What picks the ensemble weight and breaks the default engine's ties: the mean of (a) GTZAN held-out macro
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


STUDENT_MARGIN = 0.01  # the student replaces musicnn as the default if its real-song accuracy is at most this lower


def choose_default(evaluations: dict[str, dict]) -> str:
    """The default engine: among the engines whose artist-filtered GTZAN accuracy (when measured) is at least
    GTZAN_FLOOR (all of them if none is), the best mean of held-out real-song accuracy (artist-grouped: what people
    upload) and leave-one-source-out accuracy on each source of MIN_SOURCE_SONGS songs or more (`source_accuracies`),
    then the best `robust_score`, then the cheaper engine (the ensemble runs both networks). The student engine is
    judged against musicnn instead (`student_keeps_up`): if musicnn wins and the student keeps up, the student."""
    chosen = _best_engine({e: v for e, v in evaluations.items() if e != STUDENT_ENGINE} or evaluations)
    if chosen == "musicnn" and STUDENT_ENGINE in evaluations and student_keeps_up(evaluations[STUDENT_ENGINE],
                                                                                 evaluations["musicnn"]):
        return STUDENT_ENGINE
    return chosen


def real_accuracy(evaluation: dict) -> float | None:
    """Held-out real-song (artist-grouped) track accuracy of an engine's evaluation, None if not measured."""
    real = evaluation.get("realsongs")
    return real["original"]["track"]["accuracy"] if real else None


def split_accuracy(evaluation: dict) -> float | None:
    """GTZAN artist-filtered split track accuracy of an engine's evaluation, None if not measured."""
    split = evaluation.get("split")
    return split["original"]["track"]["accuracy"] if split else None


def student_keeps_up(student: dict, teacher: dict) -> bool:
    """Whether the student engine may be the default in musicnn's place: its held-out real-song accuracy within
    STUDENT_MARGIN of musicnn's and its GTZAN split at least GTZAN_FLOOR (a figure not measured counts as kept)."""
    real, teacher_real, split = real_accuracy(student), real_accuracy(teacher), split_accuracy(student)
    return ((real is None or teacher_real is None or real >= teacher_real - STUDENT_MARGIN - 1e-9)
            and (split is None or split >= GTZAN_FLOOR))


def _best_engine(evaluations: dict[str, dict]) -> str:
    def split_ok(engine: str) -> bool:
        split = split_accuracy(evaluations[engine])
        return split is None or split >= GTZAN_FLOOR

    def key(engine: str) -> tuple[float, float, int]:
        real = real_accuracy(evaluations[engine])
        accuracies = [real] if real is not None else []
        accuracies += list(source_accuracies(evaluations[engine]).values())
        return (float(np.mean(accuracies)) if accuracies else 0.0, robust_score(evaluations[engine]),
                -ENGINES.index(engine))
    return max([e for e in evaluations if split_ok(e)] or list(evaluations), key=key)


def choose_weight(data: TrackData, runs: dict[str, list[Run]]) -> tuple[float, dict[str, float]]:
    """The musicnn weight in 0, 0.1 ... 1 with the best `robust_score` on the runs' held-out tracks; ties go to
    the larger weight (the pretrained engine holds up better on real songs). Returns (weight, every score)."""
    scores = {}
    for weight in np.round(np.linspace(0, 1, 11), 2):
        mixed = metrics.mixed_runs(runs["musicnn"], runs["cnn"], float(weight))
        scores[f"{weight:.1f}"] = round(robust_score(evaluate_runs(data, mixed)), 4)
    best = max(scores, key=lambda w: (scores[w], float(w)))
    return float(best), scores
