"""The training data as one typed record: every track (GTZAN, real songs, songs of none of the ten genres) with its
cached features, label and kind. Built once by the training command and passed to every step."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codeFeature.config import GENRES
from codeFeature.training import realsongs
from codeFeature.training.dataset import Track, TrackFeatures
from codeFeature.training.sources import source_groups

OUTSIDE_LABEL = len(GENRES)  # the label of a song of none of the ten genres


@dataclass(frozen=True)
class TrackData:
    """Per track (same order throughout): `tracks`, `features` (the CNN's MFCC inputs), `labels` (genre index, or
    OUTSIDE_LABEL), `pools` (every cached segment of every variant, float16: what training crops are drawn from),
    `real` (a labelled real song, not GTZAN), `outside` (a real song of none of the ten genres) and `sources` (its
    source group, sources.source_groups)."""

    tracks: list[Track]
    features: list[TrackFeatures]
    labels: np.ndarray
    pools: list[np.ndarray]
    real: np.ndarray
    outside: np.ndarray
    sources: np.ndarray

    @classmethod
    def build(cls, tracks: list[Track], features: list[TrackFeatures]) -> TrackData:
        """The TrackData of `tracks` and their `features` (dataset.load_features)."""
        pools = [np.concatenate([f.crops.reshape(-1, *f.crops.shape[2:]), f.eval.reshape(-1, *f.eval.shape[2:])])
                 for f in features]
        outside = np.array([realsongs.is_outside(t) for t in tracks], dtype=bool)
        labels = np.array([OUTSIDE_LABEL if o else t.label for t, o in zip(tracks, outside)], dtype=int)
        real = np.array([realsongs.is_real(t) for t in tracks], dtype=bool)
        return cls(tracks, features, labels, pools, real, outside, source_groups(tracks))

    @property
    def gtzan(self) -> np.ndarray:
        return ~self.real & ~self.outside

    @property
    def artists(self) -> np.ndarray:
        return np.array([t.artist or t.track_id for t in self.tracks])
