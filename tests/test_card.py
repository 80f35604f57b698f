"""engine/card.py: metrics.json read into typed figures per engine (one reader, with a schema), and file digests."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from codeFeature.config import METRICS_JSON, MODEL_DIR
from codeFeature.engine.engines import ENGINES
from codeFeature.engine import card as model_card
from codeFeature.errors import ModelFilesError


def test_cards_of_the_shipped_models() -> None:
    card = model_card.read_card(MODEL_DIR)
    cards = card.engines
    metrics = json.loads((MODEL_DIR / METRICS_JSON).read_text())
    assert list(cards) == list(ENGINES)  # the engines offered everywhere, in the engine table's order
    head = cards["musicnn"]
    assert head.ears == tuple(metrics["engines"]["musicnn"]["ears"]) and head.ears
    assert [(row.design, row.ears) for row in head.ablation if row.shipped] == [(head.design, head.ears)]
    assert [row.design for row in head.ablation] == list(metrics["engines"]["musicnn"]["ablation"])
    assert (card.default_engine, card.gtzan_tracks) == (metrics["default_engine"], metrics["data"]["tracks"])
    for engine, card in cards.items():
        evaluation = metrics["engines"][engine]["evaluation"]
        assert list(card.files) == metrics["engines"][engine]["files"]
        assert list(card.measured) == [k for k in model_card.EVALUATIONS if k in evaluation]
        real, cv = card.measured["realsongs"], card.measured["cv"]
        assert (real.tracks, real.accuracy) == (evaluation["realsongs"]["original"]["track"]["n"],
                                                evaluation["realsongs"]["original"]["track"]["accuracy"])
        assert cv.accuracy == evaluation["cv"]["original"]["track"]["accuracy"]
        assert cv.confident_share == evaluation["cv"]["confidence"]["coverage"]
        assert cv.full_clips_accuracy == evaluation["cv"]["original_full_clips_only"]["accuracy"]
        assert cv.loud_lossy_accuracy == evaluation["cv"]["modern_lossy"]["track"]["accuracy"]
        assert cv.folds == len(evaluation["cv"]["runs"]) and real.full_clips_accuracy is None
        per_class = evaluation["realsongs"]["original"]["track"]["per_class"]
        assert real.recall == {g: c["recall"] if c["support"] else None for g, c in per_class.items()}
        assert card.to_dict()["measured"]["cv"]["macro_recall"] == cv.macro_recall
        assert (real.no_doubt_accuracy, real.no_doubt_tracks) == (evaluation["realsongs"]["no_doubt"]["accuracy"],
                                                                   evaluation["realsongs"]["no_doubt"]["n"])
        assert card.outside.tracks == evaluation["outside"]["n"] == metrics["data"]["realsongs"]["outside"]
        sources = evaluation["sources"]
        assert list(card.sources) == list(sources) and "GTZAN" in card.sources
        for group, figures in card.sources.items():
            assert (figures.tracks, figures.accuracy) == (sources[group]["original"]["track"]["n"],
                                                          sources[group]["original"]["track"]["accuracy"])
        assert set(card.sources_outside) == {g for g, summary in sources.items() if "outside" in summary}
        assert sum(o.tracks for o in card.sources_outside.values()) == card.outside.tracks
        by_artist = evaluation["cv_sources"]
        assert list(card.cv_sources) == list(by_artist) and "GTZAN" in card.cv_sources
        assert {g: f.tracks for g, f in card.cv_sources.items()} == \
            {g: s["original"]["track"]["n"] for g, s in by_artist.items()}
        words = card.in_words()
        assert f"{real.accuracy:.0%} of {real.tracks} real songs" in words and f"{card.outside.not_sure:.0%}" in words


def test_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "weights.h5"
    path.write_bytes(b"x" * 3_000_000)
    assert model_card.file_digest(path) == "sha256:" + hashlib.sha256(b"x" * 3_000_000).hexdigest()


@pytest.mark.parametrize("damage", ["missing", "not json", "no engines", "older schema", "missing model file"])
def test_unreadable_metrics_is_a_model_files_error(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "models"
    shutil.copytree(MODEL_DIR, folder)
    metrics = folder / METRICS_JSON
    if damage == "missing":
        metrics.unlink()
    elif damage == "not json":
        metrics.write_text("{")
    elif damage == "no engines":
        metrics.write_text('{"schema": %d}' % model_card.SCHEMA)
    elif damage == "older schema":
        metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "schema": model_card.SCHEMA - 1}))
    else:
        (folder / "model_cnn.weights.h5").unlink()
    with pytest.raises(ModelFilesError, match="model_cnn.weights.h5" if damage == "missing model file" else
                       "metrics.json is missing" if damage == "missing" else "metrics.json was not written by this "
                       "version"):
        model_card.read_card(folder)
