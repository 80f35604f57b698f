"""When an engine is not sure of a song, and why. One rule, used by serving and by every evaluation.

A song is *not* confident for the first of these reasons that holds:
- "outside": the genre head says it is none of the ten genres with a probability of at least `max_outside`
  (engines with the head; its message names the song's strongest MSD tags of SOUNDS_LIKE_TAGS, where there are);
- "close": its top two genres are less than `min_margin` apart.
Both thresholds are chosen per engine by the training command with `choose_thresholds`, on songs held out of the
models that judged them (see train.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codeFeature.config import MIN_SOURCE_SONGS, MSD_TAGS, SOUNDS_LIKE_MIN, SOUNDS_LIKE_TAGS
from codeFeature.models.song import top_k

_SOUNDS_LIKE = np.array([MSD_TAGS.index(tag) for tag in SOUNDS_LIKE_TAGS])
MARGIN_GRID = tuple(round(0.05 * k, 2) for k in range(17))  # 0.00, 0.05, ... 0.80
OUTSIDE_GRID = (*(round(0.05 * k, 2) for k in range(2, 13)), 1.0)  # 0.10 ... 0.60, and 1.0: never
MIN_COVERAGE = 0.65  # choose_thresholds keeps at least this share of held-out in-genre songs confident


@dataclass(frozen=True)
class Thresholds:
    """An engine's "not sure" rule: below `min_margin` between the top two genres, or at least `max_outside` for
    "none of the ten" (1.0: never, as for an engine without the genre head)."""

    min_margin: float = 0.0
    max_outside: float = 1.0


@dataclass(frozen=True)
class Verdict:
    """Whether a song's answer can be trusted: `reason` is None, "outside" or "close"; `sounds_like` are the song's
    strongest MSD tags of styles outside the ten (most likely first) when the reason is "outside"."""

    confident: bool
    reason: str | None = None
    sounds_like: tuple[str, ...] = ()


def margin(probabilities: np.ndarray) -> float:
    """The top genre's probability minus the runner-up's."""
    first, second = np.asarray(probabilities)[top_k(probabilities, 2)]
    return float(first - second)


def sounds_like(tags: np.ndarray | None, most: int = 3) -> tuple[str, ...]:
    """The song's strongest (50,) MSD tags of SOUNDS_LIKE_TAGS that reach SOUNDS_LIKE_MIN, most likely first."""
    if tags is None:
        return ()
    tags = np.asarray(tags)
    ranked = _SOUNDS_LIKE[np.argsort(-tags[_SOUNDS_LIKE], kind="stable")]
    return tuple(MSD_TAGS[i] for i in ranked if tags[i] >= SOUNDS_LIKE_MIN)[:most]


def judge(probabilities: np.ndarray, thresholds: Thresholds, outside: float | None = None,
          tags: np.ndarray | None = None) -> Verdict:
    """The Verdict for a song's (genres,) probabilities, its probability of being none of the ten (`outside`, from
    the genre head; None for the CNN) and its (50,) MSD tag likelihoods (for the message)."""
    if outside is not None and outside >= thresholds.max_outside:
        return Verdict(False, "outside", sounds_like(tags))
    if margin(probabilities) < thresholds.min_margin:
        return Verdict(False, "close")
    return Verdict(True)


def explain(verdict: Verdict, probabilities: dict[str, float]) -> str | None:
    """The one-line "not sure" message for a person (None when confident); `probabilities` maps genre -> p."""
    if verdict.confident:
        return None
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)
    (top, p_top), (second, p_second) = ranked[:2]
    if verdict.reason == "outside":
        style = (f"this sounds like {' · '.join(verdict.sounds_like)}, which is" if verdict.sounds_like
                 else "this may be")
        return f"Not sure: {style} none of the ten genres; closest: {top} {p_top:.0%}."
    return f"Not sure: {top} ({p_top:.0%}) and {second} ({p_second:.0%}) are close; the song may mix both styles."


def selective(labels: Sequence[int], songs: Sequence[np.ndarray], verdicts: Sequence[Verdict]) -> dict:
    """Selective accuracy of held-out songs: {"coverage": share confident, "accuracy": top-1 accuracy of the
    confident ones, "confident": their number, "n": all}."""
    confident = np.array([v.confident for v in verdicts], dtype=bool)
    right = np.array([int(np.argmax(p)) == label for label, p in zip(labels, songs)], dtype=bool)
    return {"n": int(len(right)), "confident": int(confident.sum()),
            "coverage": round(float(confident.mean()), 4) if len(right) else 0.0,
            "accuracy": round(float(right[confident].mean()), 4) if confident.any() else 0.0}


def not_sure_share(songs: Sequence[np.ndarray], outside: Sequence[float | None], thresholds: Thresholds) -> float:
    """The share of songs (of none of the ten genres) the rule calls not sure."""
    verdicts = [judge(p, thresholds, o) for p, o in zip(songs, outside)]
    return float(np.mean([not v.confident for v in verdicts])) if verdicts else 0.0


def choose_thresholds(labels: Sequence[int], songs: Sequence[np.ndarray], outside: Sequence[float | None],
                      outside_songs: Sequence[np.ndarray] = (), outside_outside: Sequence[float | None] = (),
                      min_coverage: float = MIN_COVERAGE, groups: Sequence[str] | None = None) -> Thresholds:
    """The rule for held-out in-genre songs (`labels`, `songs` probabilities, `outside` probabilities or None; from
    the source `groups[i]`, all one source when None) and held-out songs of none of the ten (`outside_songs`,
    `outside_outside`): among the rules on the grids that keep at least `min_coverage` of the in-genre songs of
    every source of MIN_SOURCE_SONGS songs or more confident (of all of them where no source is that large), the one
    with the most right confident answers (the mean over those sources) plus the largest share of the other songs
    called not sure (ties: more coverage). Engines without "outside" (all None) only get a margin."""
    labels = np.asarray(labels, dtype=int)
    groups = np.asarray(groups if groups is not None else [""] * len(labels), dtype=object)
    judged = [groups == g for g in sorted(set(groups)) if np.sum(groups == g) >= MIN_SOURCE_SONGS]
    judged = judged or [np.ones(len(labels), dtype=bool)]
    has_outside = any(o is not None for o in outside)
    best, best_key = Thresholds(), (-1.0, -1.0)
    for max_outside in (OUTSIDE_GRID if has_outside else (1.0,)):
        for min_margin in MARGIN_GRID:
            rule = Thresholds(min_margin, max_outside)
            verdicts = [judge(p, rule, o) for p, o in zip(songs, outside)]
            sure = [selective(labels[mask], [songs[i] for i in np.flatnonzero(mask)],
                              [verdicts[i] for i in np.flatnonzero(mask)]) for mask in judged]
            if min(s["coverage"] for s in sure) < min_coverage:
                continue
            key = (float(np.mean([s["accuracy"] for s in sure])) + not_sure_share(outside_songs, outside_outside, rule),
                   float(np.mean([s["coverage"] for s in sure])))
            if key > best_key:
                best, best_key = rule, key
    return best
