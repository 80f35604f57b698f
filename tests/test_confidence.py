"""engine/confidence.py: the "not sure" rule (close call, none of the ten genres), its messages, and choosing it."""
from __future__ import annotations

import numpy as np
import pytest

from codeFeature.config import GENRES, MSD_TAGS
from codeFeature.engine.confidence import (
    Thresholds,
    Verdict,
    choose_thresholds,
    explain,
    judge,
    margin,
    selective,
    sounds_like,
)


def _probs(**given: float) -> np.ndarray:
    p = np.array([given.get(g, 0.0) for g in GENRES])
    return p + (1 - p.sum()) / len(GENRES)


def _tags(**given: float) -> np.ndarray:
    tags = np.full(len(MSD_TAGS), 0.02)
    for tag, value in given.items():
        tags[MSD_TAGS.index(tag.replace("_", " "))] = value
    return tags


def test_close_top_two_are_not_sure() -> None:
    assert margin(_probs(pop=0.4, rock=0.35)) == pytest.approx(0.05)
    assert judge(_probs(pop=0.4, rock=0.35), Thresholds(0.3)) == Verdict(False, "close")
    assert judge(_probs(pop=0.8, rock=0.1), Thresholds(0.3)) == Verdict(True)
    message = explain(Verdict(False, "close"), dict(zip(GENRES, _probs(pop=0.4, rock=0.35).tolist())))
    assert message.startswith("Not sure: pop (") and "rock (" in message and "close" in message


def test_songs_the_head_calls_none_of_the_ten_are_not_sure_and_named_by_their_tags() -> None:
    soul = _tags(soul=0.5, rnb=0.3, pop=0.4, female_vocalists=0.6)
    verdict = judge(_probs(pop=0.9), Thresholds(0.3, 0.4), outside=0.55, tags=soul)
    assert verdict == Verdict(False, "outside", ("soul", "rnb"))
    message = explain(verdict, dict(zip(GENRES, _probs(pop=0.41).tolist())))
    assert message.startswith("Not sure: this sounds like soul · rnb, which is none of the ten genres")
    assert message.endswith("closest: pop 47%.")  # 0.41 + 0.59 / 10
    plain = judge(_probs(pop=0.9), Thresholds(0.3, 0.4), outside=0.55, tags=_tags(pop=0.8))
    assert plain == Verdict(False, "outside") and "this may be none of the ten" in explain(plain, {"pop": 0.9,
                                                                                                  "rock": 0.1})
    # Below the threshold, or an engine without the head (outside None): the margin decides.
    assert judge(_probs(rock=0.9), Thresholds(0.3, 0.4), outside=0.3, tags=soul).confident
    assert judge(_probs(rock=0.9), Thresholds(0.3, 0.0)).confident
    assert explain(Verdict(True), {}) is None
    assert sounds_like(None) == () and sounds_like(_tags(folk=0.9, acoustic=0.5, ambient=0.2, soul=0.16)) == (
        "folk", "acoustic", "ambient")


def test_selective_figures() -> None:
    labels = [0, 0, 0, 1]
    songs = [_probs(blues=0.9), _probs(blues=0.6, classical=0.3), _probs(blues=0.45, classical=0.4),
             _probs(blues=0.52, classical=0.4)]  # the last one is wrong
    figures = selective(labels, songs, [judge(p, Thresholds(0.2)) for p in songs])
    assert figures == {"n": 4, "confident": 2, "coverage": 0.5, "accuracy": 1.0}


def test_the_chosen_rule_keeps_the_coverage_and_catches_the_other_songs() -> None:
    # Margins 0.9, 0.3, 0.5 and 0.03 (the last one is wrong); "outside" probabilities 0.05 for these songs.
    labels = [0, 0, 0, 1]
    songs = [_probs(blues=0.9), _probs(blues=0.6, classical=0.3), _probs(blues=0.7, classical=0.2),
             _probs(blues=0.45, classical=0.42)]
    outside = [0.05] * 4
    # The smallest margin that leaves out the wrong answer keeps 3 of 4 (above the 65 % coverage), all right.
    assert choose_thresholds(labels, songs, [None] * 4) == Thresholds(0.05, 1.0)
    assert choose_thresholds(labels, songs, [None] * 4, min_coverage=1.0) == Thresholds(0.0, 1.0)
    # Songs of none of the ten with a high "outside" probability and wide margins: a threshold on "outside" that
    # catches them without touching the in-genre songs.
    others, others_outside = [_probs(pop=0.9)] * 3, [0.5, 0.6, 0.7]
    rule = choose_thresholds(labels, songs, outside, others, others_outside)
    assert 0.05 < rule.max_outside <= 0.5 and rule.min_margin == pytest.approx(0.05)
