"""Where the training songs come from, as the groups that leave-one-source-out evaluation holds out and that the
genre head's weights and choices balance.

A song's source is its repository (realsongs' `source_repo`; GTZAN is one source). A source with fewer than
MIN_SOURCE_SONGS labelled songs is too small to be judged on its own: such sources are held out together, as
SMALL_SOURCES.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from codeFeature.config import GENRES, MIN_SOURCE_SONGS
from codeFeature.training.dataset import Track

GTZAN_SOURCE = "GTZAN"
SMALL_SOURCES = "small sources"


def source_of(track: Track) -> str:
    """The source a track comes from: its repository, or GTZAN."""
    return track.source or GTZAN_SOURCE


def source_groups(tracks: Sequence[Track]) -> np.ndarray:
    """Per track, its source group: its source, or SMALL_SOURCES where that source has fewer than MIN_SOURCE_SONGS
    labelled songs (of the ten genres; outside songs go with their source)."""
    labelled = Counter(source_of(t) for t in tracks if t.genre in GENRES)
    return np.array([source_of(t) if labelled[source_of(t)] >= MIN_SOURCE_SONGS else SMALL_SOURCES
                     for t in tracks], dtype=object)
