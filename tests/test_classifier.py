"""engine/classifier.py: the Prediction contract on real model output of every engine; silence; uploads; batches."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import synth_song, write_audio

from codeFeature.config import (
    GENRES,
    HEAD_JSON,
    MODEL_DIR,
    MODEL_JSON,
    MODEL_WEIGHTS,
    MSD_TAGS,
    N_SEGMENTS,
    SAMPLE_RATE,
    SERVING_BACKEND,
    SERVING_TOLERANCE,
)
from codeFeature.engine.classifier import Failure, GenreClassifier, Prediction
from codeFeature.engine.engines import ENGINES
from codeFeature.engine.settings import EngineSettings
from codeFeature.errors import ModelFilesError, SilentAudioError
from codeFeature.models.song import audible_mean


@pytest.fixture(scope="module")
def classifier() -> GenreClassifier:
    return GenreClassifier()


@pytest.fixture(scope="module")
def engines() -> dict[str, GenreClassifier]:
    return {engine: GenreClassifier(engine=engine) for engine in ENGINES}


def _check(prediction: Prediction) -> None:
    assert list(prediction.probabilities) == list(GENRES)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction.genre == max(prediction.probabilities, key=prediction.probabilities.get)
    assert len(prediction.segments) == N_SEGMENTS
    for segment in prediction.segments:
        assert sum(segment.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert segment.end - segment.start == pytest.approx(3.0)
    segments = np.array([list(s.probabilities.values()) for s in prediction.segments if not s.silent])
    if prediction.engine == "cnn":  # the mean of the audible segments' probabilities
        song = segments.mean(axis=0)
    else:  # the genre head: linear over the mean input, so the softmax of the mean segment logits
        song = np.exp(np.log(segments).mean(axis=0))
        song /= song.sum()
    np.testing.assert_allclose(list(prediction.probabilities.values()), song, atol=1e-5)
    assert 0 < prediction.elapsed_s < 60


def test_classify_a_file(classifier: GenreClassifier, song_mp3: Path) -> None:
    prediction = classifier.classify(song_mp3)
    _check(prediction)
    assert prediction.file == str(song_mp3) and prediction.duration_s == pytest.approx(30.0, abs=0.1)
    assert [s.start for s in prediction.segments] == pytest.approx([3.0 * i for i in range(10)], abs=0.01)


def test_same_audio_as_bytes_or_file_object_gives_the_same_answer(classifier: GenreClassifier, song_mp3: Path,
                                                                  private_tmp: Path) -> None:
    data = song_mp3.read_bytes()
    from_path = classifier.classify(song_mp3).probabilities
    from_bytes = classifier.classify(data, name="x.mp3", suffix=".mp3")
    from_object = classifier.classify(io.BytesIO(data), name="x.mp3", suffix=".mp3")
    assert from_bytes.file == "x.mp3"
    for genre in GENRES:
        assert from_bytes.probabilities[genre] == pytest.approx(from_path[genre], abs=1e-6)
        assert from_object.probabilities[genre] == pytest.approx(from_path[genre], abs=1e-6)
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("engine", ["cnn", "musicnn"])
def test_silent_segments_are_left_out_and_all_silent_is_an_error(engines: dict[str, GenreClassifier], engine: str,
                                                                   tmp_path: Path) -> None:
    song = synth_song(30.0)
    song[:9 * SAMPLE_RATE] = 0.0
    prediction = engines[engine].classify(write_audio(tmp_path / "late_start.wav", song))
    assert [s.silent for s in prediction.segments] == [True] * 3 + [False] * 7
    _check(prediction)  # the song comes from the audible segments only
    if engine == "cnn":  # ... by the one song-level rule that evaluation uses too
        segments = np.array([[s.probabilities[g] for g in GENRES] for s in prediction.segments])
        expected = audible_mean(segments, [s.silent for s in prediction.segments])
        assert [prediction.probabilities[g] for g in GENRES] == pytest.approx(expected.tolist(), abs=1e-9)
        assert not np.allclose(expected, segments.mean(axis=0))
    with pytest.raises(SilentAudioError, match="silent"):
        engines[engine].classify(write_audio(tmp_path / "silence.wav", np.zeros(10 * SAMPLE_RATE, np.float32)))


def test_default_engine_is_the_one_training_chose(classifier: GenreClassifier) -> None:
    assert classifier.engine == EngineSettings.read(MODEL_DIR).default_engine and classifier.engine in ENGINES


def test_every_engine_classifies_by_its_own_song_rule(engines: dict[str, GenreClassifier], song_mp3: Path) -> None:
    results = {engine: classifier.classify(song_mp3) for engine, classifier in engines.items()}
    for engine, prediction in results.items():
        _check(prediction)
        assert prediction.engine == engine
    assert results["cnn"].tags == ()
    tags = results["musicnn"].tags
    assert len(tags) == 5 and all(tag in MSD_TAGS and 0 <= p <= 1 for tag, p in tags)
    assert [p for _, p in tags] == sorted((p for _, p in tags), reverse=True)


def test_unknown_engine_or_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="engine must be one of"):
        GenreClassifier(engine="svm")
    with pytest.raises(ModelFilesError, match="engines.json is missing"):  # a folder with the CNN files only
        for name in (MODEL_JSON, MODEL_WEIGHTS):
            (tmp_path / name).write_bytes((MODEL_DIR / name).read_bytes())
        GenreClassifier(tmp_path)
    folder = tmp_path / "models"
    shutil.copytree(MODEL_DIR, folder)
    (folder / HEAD_JSON).write_text("{damaged")
    assert GenreClassifier(folder, "cnn").engine == "cnn"  # an engine loads only its own files
    with pytest.raises(ModelFilesError, match="could not be loaded"):
        GenreClassifier(folder, engine="musicnn")


def test_to_dict_is_the_cli_contract(classifier: GenreClassifier, song_wav: Path) -> None:
    result = classifier.classify(song_wav).to_dict()
    assert set(result) == {"file", "genre", "probabilities", "segments", "duration_s", "elapsed_s", "engine",
                           "tags", "confident", "doubt"}
    assert set(result["segments"][0]) == {"start", "end", "silent", "probabilities"}
    assert result["genre"] in GENRES and isinstance(result["confident"], bool)
    assert (result["doubt"] is None) == result["confident"]


def test_classify_many_keeps_order_and_reports_failures(classifier: GenreClassifier, tmp_path: Path) -> None:
    good = [write_audio(tmp_path / f"s{i}.wav", synth_song(8.0, seed=i)) for i in range(3)]
    short = write_audio(tmp_path / "short.wav", synth_song(1.0))
    results = list(classifier.classify_many([good[0], short, good[1], tmp_path / "missing.mp3", good[2]]))
    assert [type(r).__name__ for r in results] == ["Prediction", "Failure", "Prediction", "Failure", "Prediction"]
    assert isinstance(results[1], Failure) and results[1].file == str(short)
    assert "at least 3 s" in results[1].error and "No such file" in results[3].error
    single = classifier.classify(good[1].read_bytes(), suffix=".wav").probabilities  # as the page and API give it
    assert results[2].file == str(good[1]) and results[2].probabilities == pytest.approx(single, abs=1e-6)


_SERVING_PROCESS = """
import json, sys
import openvino
from codeFeature import GenreClassifier
out = {}
for engine in sys.argv[2:]:
    classifier = GenreClassifier(engine=engine)
    models = [m for m in (classifier.cnn, classifier.head, *classifier.ears.values()) if m is not None]
    out["compiled"] = all(isinstance(m._compiled, openvino.CompiledModel) for m in models)
    p = classifier.classify(sys.argv[1])
    out[engine] = {"song": p.probabilities, "segments": [s.probabilities for s in p.segments], "tags": p.tags}
import keras
out["backend"] = keras.backend.backend()
out["tensorflow_imported"] = "tensorflow" in sys.modules
print(json.dumps(out))
"""


def test_a_plain_classifier_is_on_the_fast_path_and_agrees_with_tensorflow(engines: dict[str, GenreClassifier],
                                                                            song_mp3: Path) -> None:
    """A fresh process that just uses GenreClassifier (no setup, nothing to know) runs the models on OpenVINO with
    Keras on its OpenVINO backend, never importing TensorFlow; this test process, like training, has Keras on
    TensorFlow, whose graph is converted to OpenVINO. Every probability and tag likelihood agrees within
    SERVING_TOLERANCE."""
    import json
    import subprocess
    import sys

    import keras

    assert keras.backend.backend() == "tensorflow"
    served = json.loads(subprocess.run([sys.executable, "-c", _SERVING_PROCESS, str(song_mp3), *ENGINES],
                                       cwd=Path(__file__).resolve().parent.parent, check=True, capture_output=True,
                                       text=True, timeout=300).stdout)
    assert served["backend"] == SERVING_BACKEND and not served["tensorflow_imported"] and served["compiled"]
    for engine, classifier in engines.items():
        want, got = classifier.classify(song_mp3), served[engine]
        assert got["song"] == pytest.approx(want.probabilities, abs=SERVING_TOLERANCE)
        for segment, probabilities in zip(want.segments, got["segments"], strict=True):
            assert probabilities == pytest.approx(segment.probabilities, abs=SERVING_TOLERANCE)
        assert [tag for tag, _ in got["tags"]] == [tag for tag, _ in want.tags]
        assert [p for _, p in got["tags"]] == pytest.approx([p for _, p in want.tags], abs=SERVING_TOLERANCE)
