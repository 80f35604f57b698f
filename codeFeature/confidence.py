"""When an engine is not sure of a song, and why. One rule, used by serving and by every evaluation.

A song is *not* confident for the first of these reasons that holds:
- "outside": its MSD tags say it is none of the ten genres: the strongest of OUTSIDE_TAGS (electronic, House,
  folk, ambient, ...) reaches OUTSIDE_MIN_LIKELIHOOD and beats every tag of GENRE_TAGS (engines with tags only);
- "close": its top two genres are less than `min_margin` apart (per engine, chosen by the training command on
  held-out songs with `choose_margin`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import GENRE_TAGS, MSD_TAGS, OUTSIDE_MIN_LIKELIHOOD, OUTSIDE_TAGS
from .song import top_k

_OUTSIDE = np.array([MSD_TAGS.index(tag) for tag in OUTSIDE_TAGS])
_GENRE = np.array([MSD_TAGS.index(tag) for tag in GENRE_TAGS])
MARGIN_GRID = tuple(round(0.05 * k, 2) for k in range(21))  # 0.00, 0.05, ... 1.00
MIN_COVERAGE = 0.70  # choose_margin keeps at least this share of held-out real songs confident


@dataclass(frozen=True)
class Verdict:
    """Whether a song's answer can be trusted: `reason` is None, "outside" or "close"; `outside_tags` are the
    strongest out-of-genre tags (most likely first) when the reason is "outside"."""

    confident: bool
    reason: str | None = None
    outside_tags: tuple[str, ...] = ()


def margin(probabilities: np.ndarray) -> float:
    """The top genre's probability minus the runner-up's."""
    first, second = np.asarray(probabilities)[top_k(probabilities, 2)]
    return float(first - second)


def judge(probabilities: np.ndarray, min_margin: float, tags: np.ndarray | None = None) -> Verdict:
    """The Verdict for a song's (genres,) probabilities and, if the engine has them, its (50,) MSD tag
    likelihoods (mean over the judged segments)."""
    if tags is not None:
        tags = np.asarray(tags)
        strongest = float(tags[_OUTSIDE].max())
        if strongest >= OUTSIDE_MIN_LIKELIHOOD and strongest > float(tags[_GENRE].max()):
            ranked = _OUTSIDE[np.argsort(-tags[_OUTSIDE], kind="stable")]
            named = tuple(MSD_TAGS[i] for i in ranked if tags[i] >= OUTSIDE_MIN_LIKELIHOOD / 2)[:3]
            return Verdict(False, "outside", named)
    if margin(probabilities) < min_margin:
        return Verdict(False, "close")
    return Verdict(True)


def explain(verdict: Verdict, probabilities: dict[str, float]) -> str | None:
    """The one-line "not sure" message for a person (None when confident); `probabilities` maps genre -> p."""
    if verdict.confident:
        return None
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)
    (top, p_top), (second, p_second) = ranked[:2]
    if verdict.reason == "outside":
        return (f"Not sure: this sounds like {' · '.join(verdict.outside_tags)}, which is none of the ten genres; "
                f"closest: {top} {p_top:.0%}.")
    return f"Not sure: {top} ({p_top:.0%}) and {second} ({p_second:.0%}) are close; the song may mix both styles."


def selective(labels: Sequence[int], songs: Sequence[np.ndarray], verdicts: Sequence[Verdict]) -> dict:
    """Selective accuracy of held-out songs: {"coverage": share confident, "accuracy": top-1 accuracy of the
    confident ones, "confident": their number, "n": all}."""
    confident = np.array([v.confident for v in verdicts], dtype=bool)
    right = np.array([int(np.argmax(p)) == label for label, p in zip(labels, songs)], dtype=bool)
    return {"n": int(len(right)), "confident": int(confident.sum()),
            "coverage": round(float(confident.mean()), 4) if len(right) else 0.0,
            "accuracy": round(float(right[confident].mean()), 4) if confident.any() else 0.0}


def choose_margin(labels: Sequence[int], songs: Sequence[np.ndarray],
                  tags: Sequence[np.ndarray | None] | None = None, min_coverage: float = MIN_COVERAGE) -> float:
    """The largest margin on MARGIN_GRID that still leaves at least `min_coverage` of the held-out songs
    confident (the most careful rule that answers most songs outright); `tags` per song, or None."""
    tags = tags if tags is not None else [None] * len(songs)
    best = 0.0
    for threshold in MARGIN_GRID:
        verdicts = [judge(p, threshold, t) for p, t in zip(songs, tags)]
        if selective(labels, songs, verdicts)["coverage"] >= min_coverage:
            best = threshold
    return best

