"""Evaluate the engines' runs: their figures per held-out kind (engine.card.KINDS), each cv run's "not sure" rule
chosen on the other runs, and the choices made from held-out predictions (the ensemble weight, the default engine).

An evaluation is a dict per kind, as metrics.json stores it (read back by engine.card): {"held_out": words, "runs":
[...], "original" | "modern" | "modern_lossy": {"track": ..., "segment": ...}, "confidence": ..., plus
"original_full_clips_only" (GTZAN) or "no_doubt" (real songs)}; "outside" has {"n", "not_sure", "reasons"}.
"""
from __future__ import annotations

import numpy as np

from codeFeature.config import ENGINES
from codeFeature.engine import confidence
from codeFeature.engine.card import KINDS
from codeFeature.engine.confidence import Thresholds
from codeFeature.training import metrics
from codeFeature.training.augment import VARIANTS
from codeFeature.training.metrics import Run
from codeFeature.training.track_data import TrackData


def _held_out(data: TrackData, runs: list[Run], kind: str) -> list[tuple[Run, np.ndarray]]:
    """Each run of `kind` (the "split" run, or the cv runs for the other kinds) with a mask over its held-out
    tracks: the labelled real songs for "realsongs", the songs of none of the ten for "outside", GTZAN otherwise."""
    wanted = {"realsongs": data.real, "outside": data.outside}.get(kind, data.gtzan)
    return [(r, wanted[r.test_idx]) for r in runs if (r.name == "split") == (kind == "split")]


def choose_rules(data: TrackData, runs: list[Run]) -> tuple[dict[str, Thresholds], Thresholds]:
    """An engine's "not sure" thresholds (confidence.choose_thresholds): for each cv run, chosen on the other cv
    runs' held-out songs (real songs, else GTZAN, and songs of none of the ten), so its verdicts are held out too;
    the shipped rule (also the split run's) on all of them."""
    cv = [r for r in runs if r.name != "split"]

    def chosen(use: list[Run]) -> Thresholds:
        labels, songs = _held_out_predictions(data, use, "realsongs" if data.real.any() else "cv")
        _, others = _held_out_predictions(data, use, "outside")
        return confidence.choose_thresholds(labels, [p.song for p in songs], [p.outside for p in songs],
                                            [p.song for p in others], [p.outside for p in others])

    final = chosen(cv)
    per_run = {r.name: chosen([o for o in cv if o is not r]) for r in cv}
    return {**per_run, **{r.name: final for r in runs if r.name == "split"}}, final


def _held_out_predictions(data: TrackData, runs: list[Run], kind: str,
                          variant: str = "original") -> tuple[np.ndarray, list[metrics.TrackPrediction]]:
    """The labels and `variant` predictions of the held-out tracks of `kind` in `runs`."""
    keep = _held_out(data, runs, kind)
    labels = [data.labels[i] for r, mask in keep for i in r.test_idx[mask]]
    return np.asarray(labels, dtype=int), [p for r, mask in keep for p, k in zip(r.predictions[variant], mask) if k]


def _verdicts(keep: list[tuple[Run, np.ndarray]], rules: dict[str, Thresholds]) -> list[confidence.Verdict]:
    """The verdict of each held-out track in `keep` (original audio), under its run's rule."""
    return [confidence.judge(p.song, rules[r.name], p.outside) for r, mask in keep
            for p, k in zip(r.predictions["original"], mask) if k]


def summarise_runs(data: TrackData, runs: list[Run], kind: str,
                   rules: dict[str, Thresholds] | None = None) -> dict | None:
    """The figures of `kind` (see card.KINDS) from an engine's runs; None if they hold out no such track. With
    `rules` (run name -> Thresholds), also how the "not sure" rule does (original audio)."""
    keep = _held_out(data, runs, kind)
    idx = np.concatenate([r.test_idx[mask] for r, mask in keep]) if keep else np.array([], dtype=int)
    if len(idx) == 0:
        return None
    summary: dict = {"held_out": KINDS[kind],
                     "runs": [{"name": r.name, "held_out_tracks": int(mask.sum()), "best_epoch": r.best_epoch,
                               "seconds": r.seconds} for r, mask in keep]}
    if kind == "outside":
        verdicts = _verdicts(keep, rules or {})
        summary.update(n=len(idx), not_sure=round(float(np.mean([not v.confident for v in verdicts])), 4),
                       reasons={reason: sum(v.reason == reason for v in verdicts) for reason in ("outside", "close")})
        return summary
    labels = data.labels[idx]
    predictions = {variant: _held_out_predictions(data, runs, kind, variant)[1] for variant in VARIANTS}
    for variant, predicted in predictions.items():
        summary[variant] = metrics.evaluate_tracks(labels, predicted)
    original = predictions["original"]
    if kind == "realsongs":
        clear = np.array([not data.tracks[i].doubt for i in idx])
        summary["no_doubt"] = metrics.evaluate_tracks(labels[clear], [p for p, c in zip(original, clear) if c])["track"]
    else:
        full = np.array([data.tracks[i].clip is not None for i in idx])
        summary["original_full_clips_only"] = metrics.evaluate_tracks(
            labels[full], [p for p, f in zip(original, full) if f])["track"]
    if rules is not None:
        summary["confidence"] = confidence.selective(labels, [p.song for p in original], _verdicts(keep, rules))
    return summary


def evaluate_runs(data: TrackData, runs: list[Run], rules: dict[str, Thresholds] | None = None) -> dict:
    """An engine's summaries of KINDS (those that exist; "outside" only with `rules`)."""
    return {kind: summary for kind in KINDS if (kind != "outside" or rules is not None)
            and (summary := summarise_runs(data, runs, kind, rules)) is not None}


def robust_score(evaluation: dict) -> float:
    """What picks the ensemble weight and the default engine: the mean of (a) GTZAN held-out macro recall averaged
    over the audio variants (CV if there is one, else the split) and (b) held-out real-song accuracy, of those
    measured. Real songs are what people upload; the GTZAN variants keep loud and lossy audio in the score."""
    parts = []
    summary = metrics.headline(evaluation)
    if summary:
        parts.append(float(np.mean([summary[v]["track"]["macro_recall"] for v in VARIANTS])))
    if "realsongs" in evaluation:
        parts.append(evaluation["realsongs"]["original"]["track"]["accuracy"])
    return float(np.mean(parts)) if parts else 0.0


GTZAN_FLOOR = 0.78  # the default engine keeps at least this accuracy on GTZAN's artist-filtered split


def choose_default(evaluations: dict[str, dict]) -> str:
    """The default engine: among the engines whose artist-filtered GTZAN accuracy (when measured) is at least
    GTZAN_FLOOR (all of them if none is), the best held-out real-song accuracy (what people upload), then the best
    `robust_score`, then the cheaper engine (the ensemble runs both networks)."""
    def split_ok(engine: str) -> bool:
        split = evaluations[engine].get("split")
        return split is None or split["original"]["track"]["accuracy"] >= GTZAN_FLOOR

    def key(engine: str) -> tuple[float, float, int]:
        real = evaluations[engine].get("realsongs")
        accuracy = real["original"]["track"]["accuracy"] if real else 0.0
        return accuracy, robust_score(evaluations[engine]), -ENGINES.index(engine)
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
