"""confidence.py: the "not sure" rule (close call, outside the ten genres), its messages, and choosing it."""
from __future__ import annotations

import numpy as np
import pytest

from codeFeature.config import GENRES, MSD_TAGS
from codeFeature.confidence import Verdict, choose_margin, explain, judge, margin, selective


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
    assert judge(_probs(pop=0.4, rock=0.35), 0.3) == Verdict(False, "close")
    assert judge(_probs(pop=0.8, rock=0.1), 0.3) == Verdict(True)
    message = explain(Verdict(False, "close"), dict(zip(GENRES, _probs(pop=0.4, rock=0.35).tolist())))
    assert message.startswith("Not sure: pop (") and "rock (" in message and "close" in message


def test_songs_outside_the_ten_genres_are_not_sure_and_named() -> None:
    electronic = _tags(electronic=0.6, dance=0.4, House=0.35, pop=0.2)
    verdict = judge(_probs(pop=0.9), 0.3, electronic)
    assert verdict == Verdict(False, "outside", ("electronic", "House"))
    message = explain(verdict, dict(zip(GENRES, _probs(pop=0.41).tolist())))
    assert message.startswith("Not sure: this sounds like electronic · House, which is none of the ten genres")
    assert message.endswith("closest: pop 47%.")  # 0.41 + 0.59 / 10
    # A genre tag as strong as the outside ones, or outside tags that are only faint: no veto.
    assert judge(_probs(rock=0.9), 0.3, _tags(electronic=0.5, rock=0.6)).confident
    assert judge(_probs(rock=0.9), 0.3, _tags(folk=0.2)).confident
    assert explain(Verdict(True), {}) is None


def test_selective_figures_and_the_chosen_margin() -> None:
    labels = [0, 0, 0, 1]
    songs = [_probs(blues=0.9), _probs(blues=0.6, classical=0.3), _probs(blues=0.45, classical=0.4),
             _probs(blues=0.52, classical=0.4)]  # the last one is wrong
    figures = selective(labels, songs, [judge(p, 0.2) for p in songs])
    assert figures == {"n": 4, "confident": 2, "coverage": 0.5, "accuracy": 1.0}
    # Margins are 0.9, 0.3, 0.05, 0.12: 0.1 is the largest grid value keeping >= 70 % (3 of 4) confident.
    assert choose_margin(labels, songs) == pytest.approx(0.1)
    assert choose_margin(labels, songs, min_coverage=0.5) == pytest.approx(0.3)
