"""tagging/job.py without Ray: the featurising task's rows, results as rows, the summary line (test_batch runs the job
on Ray)."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from conftest import synth_song, write_audio

from codeFeature.config import GENRES, N_SEGMENTS
from codeFeature.engine.classifier import Featurised
from codeFeature.engine.prediction import Failure, Prediction
from codeFeature.hashing import sha1_of
from codeFeature.tagging.job import JobSettings, Summary, hash_and_featurise, result_row

SETTINGS = JobSettings(engine="cnn", models=None, workers=2, model_digest="sha256:00")
PROJECT = Path(__file__).resolve().parent.parent


def test_sha1_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 1_000_000)
    assert sha1_of(path) == hashlib.sha1(b"abc" * 1_000_000).hexdigest()


def test_a_song_is_hashed_and_featurised_without_its_audio(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "song.flac", synth_song(6.0))
    row = hash_and_featurise({"path": str(path)}, "cnn", frozenset())
    assert row["sha1"] == sha1_of(path) and not row["skipped"] and row["error"] == ""
    song = pickle.loads(row["featurised"])
    assert isinstance(song, Featurised) and song.segments.audio.size == 0 and len(song.segments.starts) == N_SEGMENTS
    assert song.features["mfcc"].shape[0] == N_SEGMENTS and "log_mel" not in song.features


def test_done_bad_and_missing_files(tmp_path: Path) -> None:
    song = write_audio(tmp_path / "song.wav", synth_song(4.0))
    skipped = hash_and_featurise({"path": str(song)}, "cnn", frozenset({sha1_of(song)}))
    assert skipped["skipped"] and skipped["featurised"] == b""
    (tmp_path / "empty.mp3").write_bytes(b"")
    assert hash_and_featurise({"path": str(tmp_path / "empty.mp3")}, "cnn", frozenset())["error"] == \
        "The file is empty."
    missing = hash_and_featurise({"path": str(tmp_path / "gone.mp3")}, "cnn", frozenset())
    assert missing["error"].startswith("The file cannot be read") and missing["sha1"] == ""


def test_results_become_rows() -> None:
    probabilities = {genre: 0.1 for genre in GENRES}
    probabilities["pop"] = 0.123456789  # kept at full precision (the JSON form rounds)
    prediction = Prediction("/a.mp3", probabilities, (), 30.0, 0.5, "cnn", (("pop", 0.9), ("80s", 0.5)), False,
                            "Not sure: close call.")
    good = result_row("/a.mp3", "ab", prediction, SETTINGS)
    assert (good.genre, good.tags, good.confident, good.error) == ("pop", ["pop", "80s"], False, None)
    assert good.record()["prob_pop"] == 0.123456789 and good.model_digest == "sha256:00" and good.engine == "cnn"
    bad = result_row("/b.mp3", "cd", Failure("/b.mp3", "The file is empty."), SETTINGS)
    assert bad.error == "The file is empty." and bad.genre is None and bad.record()["prob_pop"] is None


def test_summary_line() -> None:
    summary = Summary(classified=8, errors=2, skipped=3, seconds=5.0)
    assert summary.line() == ("done: 10 songs in 5.0 s (2.00 songs/s), 8 classified, 2 errors, 3 skipped "
                              "(already in the results)")
    assert Summary(interrupted=True).line().startswith("interrupted: 0 songs")


_HOLD_A_CPU = """
import json, os, sys
from codeFeature.engine.prediction import Failure, Prediction
from codeFeature.cpu_claim import claim_one_cpu
claim = claim_one_cpu()
print(json.dumps(sorted(os.sched_getaffinity(0)) if claim else None), flush=True)
sys.stdin.read()  # hold the claim until the test closes stdin
"""


def test_judges_on_one_machine_claim_different_cpus() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    holders, claimed = [], []
    try:
        for _ in range(len(cpus) + 1):  # one at a time, each holding its claim
            holders.append(subprocess.Popen([sys.executable, "-c", _HOLD_A_CPU], cwd=PROJECT, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True))
            claimed.append(json.loads(holders[-1].stdout.readline()))
        assert sorted(c[0] for c in claimed[:-1]) == cpus and all(len(c) == 1 for c in claimed[:-1])
        assert claimed[-1] is None  # every CPU taken: the last one runs unpinned
    finally:
        for holder in holders:
            holder.communicate("", timeout=30)
    again = subprocess.Popen([sys.executable, "-c", _HOLD_A_CPU], cwd=PROJECT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert json.loads(again.stdout.readline()) == [cpus[0]]  # the claims went with their processes
    again.communicate("", timeout=30)
