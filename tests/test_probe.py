"""probe.py: both probe kinds return per-track probabilities that separate clustered embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from codeFeature.config import GENRES
from codeFeature.dataset import TrackFeatures
from codeFeature.probe import probe


@pytest.mark.parametrize("per_song", [False, True])
def test_probe_learns_clusters_and_returns_one_row_per_judged_unit(per_song: bool) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (len(GENRES), 8))
    labels = np.arange(60) % len(GENRES)
    embeddings = [TrackFeatures((centres[g] + rng.normal(0, 1, (3, 10, 8))).astype(np.float16),
                                (centres[g] + rng.normal(0, 1, (3, 4, 8))).astype(np.float16)) for g in labels]
    probs = probe(embeddings, labels, np.arange(40), np.arange(40, 60), per_song)
    assert [p.shape for p in probs] == [(1 if per_song else 10, len(GENRES))] * 20
    predicted = [int(np.argmax(p.mean(axis=0))) for p in probs]
    assert np.mean(np.array(predicted) == labels[40:]) >= 0.9
