"""The shipped engines on fixed generated clips against committed expected outputs (tests/data/regression.json):
any unintended change of a model file, a feature setting, the decode route or a song-level rule fails here.

The clips are made from fixed seeds (a WAV at 44.1 kHz stereo and a FLAC at 48 kHz mono: both lossless, so the
files are the same on every machine, and both resampled by the decode route). The expected outputs are what
`GenreClassifier` gives (here, as in the tests, with Keras on TensorFlow; the served route agrees within
SERVING_TOLERANCE, see test_classifier.py). After an intended change (retraining writes new model files), write them
again with

    python tests/test_regression.py

and commit the file with the models.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import synth_song, write_audio  # noqa: E402

from codeFeature import ENGINES, GenreClassifier, ModelFolder, Prediction  # noqa: E402
from codeFeature.config import SERVING_TOLERANCE  # noqa: E402

EXPECTED = Path(__file__).resolve().parent / "data" / "regression.json"
# name: (suffix, rate, channels, seconds, seed, chord root in Hz, beats per second)
CLIPS = {"low_slow": (".wav", 44_100, 2, 30.0, 11, 110.0, 1.5),
         "high_fast": (".flac", 48_000, 1, 12.0, 12, 440.0, 3.0)}


def make_clips(folder: Path) -> dict[str, Path]:
    """The fixed clips, written into `folder`."""
    return {name: write_audio(folder / f"{name}{suffix}", synth_song(seconds, rate, seed, root, beats), rate, channels)
            for name, (suffix, rate, channels, seconds, seed, root, beats) in CLIPS.items()}


def outputs(prediction: Prediction) -> dict:
    """What the regression compares: song and segment probabilities, tag likelihoods, the verdict."""
    return {"probabilities": prediction.probabilities,
            "segments": [segment.probabilities for segment in prediction.segments],
            "tags": dict(prediction.tags), "confident": prediction.confident}


def test_the_shipped_engines_give_the_committed_outputs(tmp_path: Path) -> None:
    expected = json.loads(EXPECTED.read_text())
    assert expected["models"] == {engine: card.digest for engine, card in ModelFolder.open().card.engines.items()}, \
        "the model files changed: write tests/data/regression.json again (see this file's doc)"
    clips = make_clips(tmp_path)
    for engine in ENGINES:
        classifier = GenreClassifier(engine=engine)
        for name, path in clips.items():
            got, want = outputs(classifier.classify(path)), expected["outputs"][engine][name]
            assert got["probabilities"] == pytest.approx(want["probabilities"], abs=SERVING_TOLERANCE), (engine, name)
            for segment, wanted in zip(got["segments"], want["segments"], strict=True):
                assert segment == pytest.approx(wanted, abs=SERVING_TOLERANCE), (engine, name)
            assert list(got["tags"]) == list(want["tags"]), (engine, name)
            assert list(got["tags"].values()) == pytest.approx(list(want["tags"].values()), abs=SERVING_TOLERANCE)
            assert got["confident"] == want["confident"], (engine, name)


def write_expected() -> None:
    """Write tests/data/regression.json from this process (run as a script)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="genre-regression-") as folder:
        clips = make_clips(Path(folder))
        result = {"models": {engine: card.digest for engine, card in ModelFolder.open().card.engines.items()},
                  "outputs": {engine: {name: outputs(GenreClassifier(engine=engine).classify(path))
                                       for name, path in clips.items()} for engine in ENGINES}}
    EXPECTED.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {EXPECTED}: {len(ENGINES)} engines x {len(CLIPS)} clips")


if __name__ == "__main__":
    write_expected()
