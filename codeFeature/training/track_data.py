"""The training data as typed records: `TrackData`, every track (GTZAN, real songs, songs of none of the ten genres)
with its label, kind, artist and source group, built once by the training command and passed to every step; and
`CnnData`, the same tracks with the CNN's cached MFCC inputs, loaded only by the CNN's steps."""
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
    """Per track (same order throughout): `tracks`, `labels` (genre index, or OUTSIDE_LABEL), `real` (a labelled
    real song, not GTZAN), `outside` (a real song of none of the ten genres) and `sources` (its source group,
    sources.source_groups)."""

    tracks: list[Track]
    labels: np.ndarray
    real: np.ndarray
    outside: np.ndarray
    sources: np.ndarray

    @classmethod
    def build(cls, tracks: list[Track]) -> TrackData:
        """The TrackData of `tracks`."""
        outside = np.array([realsongs.is_outside(t) for t in tracks], dtype=bool)
        labels = np.array([OUTSIDE_LABEL if o else t.label for t, o in zip(tracks, outside)], dtype=int)
        real = np.array([realsongs.is_real(t) for t in tracks], dtype=bool)
        return cls(tracks=tracks, labels=labels, real=real, outside=outside, sources=source_groups(tracks))

    @property
    def gtzan(self) -> np.ndarray:
        return ~self.real & ~self.outside

    @property
    def artists(self) -> np.ndarray:
        return np.array([t.artist or t.track_id for t in self.tracks])


@dataclass(frozen=True)
class CnnData(TrackData):
    """TrackData with the CNN's inputs per track: `features` (its cached MFCCs, dataset.load_features) and `pools`
    (every cached segment of every variant, float16: what training crops are drawn from)."""

    features: list[TrackFeatures] = ()
    pools: list[np.ndarray] = ()

    @classmethod
    def of(cls, data: TrackData, features: list[TrackFeatures]) -> CnnData:
        """`data`'s tracks with their MFCC `features` (in the same order)."""
        if len(features) != len(data.tracks):
            raise ValueError(f"{len(features)} feature records for {len(data.tracks)} tracks")
        pools = [np.concatenate([f.crops.reshape(-1, *f.crops.shape[2:]), f.eval.reshape(-1, *f.eval.shape[2:])])
                 for f in features]
        return cls(tracks=data.tracks, labels=data.labels, real=data.real, outside=data.outside,
                   sources=data.sources, features=features, pools=pools)
