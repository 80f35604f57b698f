"""apps/batch.py: a library folder classified on Ray Data (Ray started for the job, and a real `ray start --head`
cluster), one row per file equal to the classifier's, errors as rows, resuming after Ctrl-C, tag writing."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, synth_song, write_audio, write_bad_inputs

from codeFeature.audio import audio_io
from codeFeature.config import GENRES, MODEL_DIR, SERVING_TOLERANCE
from codeFeature.engine.card import read_card
from codeFeature.engine.classifier import Failure, GenreClassifier
from codeFeature.hashing import sha1_of
from codeFeature.tagging.file_tags import TAG_NAMES, read_genres, write_genres
from codeFeature.tagging.results import read_results

PROJECT = Path(__file__).resolve().parent.parent
ENGINE = "cnn"  # the cheapest engine: these tests are about the job, test_classifier about the engines
GOOD = {"a.mp3": (), "b.flac": (), "c.ogg": ("-c:a", "libvorbis"), "d.opus": (), "e.m4a": (), "f.wav": (),
        "sub/g.mp3": (), "sub/h.mp3": ()}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve files: eight songs in six formats (two in a subfolder) and four that cannot be judged."""
    root = tmp_path_factory.mktemp("library")
    for i, (name, codec) in enumerate(GOOD.items()):
        (root / name).parent.mkdir(exist_ok=True)
        write_audio(root / name, synth_song(8.0, seed=i, base_hz=110.0 * 1.3 ** i), codec_args=codec)
    (root / "bad").mkdir()
    bad = write_bad_inputs(root / "bad")
    for key in ("random", "header_only"):
        bad.pop(key).unlink()
    (root / "notes.txt").write_text("not audio, not picked up")
    return root


def run_batch(*args: str, tmpdir: Path, wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "codeFeature.batch", *args]
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    if not wait:
        return subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def expected(library: Path) -> dict[str, object]:
    """What the classifier itself says of each file of the library (the CLI's code path)."""
    paths = sorted(p for p in library.rglob("*") if p.suffix != ".txt" and p.is_file())
    return {str(r.file): r for r in GenreClassifier(engine=ENGINE).classify_many(paths)}


@pytest.fixture(scope="module")
def first_run(library: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("out") / "results.parquet"
    tmpdir = tmp_path_factory.mktemp("tmp")
    result = run_batch(str(library), "--out", str(out), "--engine", ENGINE, "--workers", "2", tmpdir=tmpdir)
    assert list(tmpdir.iterdir()) == [], "temporary files were left behind"
    return out, result


def test_one_row_per_file_equal_to_the_classifier(first_run: tuple[Path, subprocess.CompletedProcess],
                                                  expected: dict[str, object]) -> None:
    out, result = first_run
    assert result.returncode == 1, result.stderr  # some files could not be classified
    assert "Traceback" not in result.stderr
    assert "done: 12 songs" in result.stdout and "8 classified, 4 errors, 0 skipped" in result.stdout
    rows = {row["path"]: row for row in read_results(out).to_pylist()}
    assert set(rows) == set(expected)
    digest = read_card(MODEL_DIR).engines[ENGINE].digest
    for path, want in expected.items():
        row = rows[path]
        assert row["sha1"] == sha1_of(Path(path)) and row["engine"] == ENGINE and row["model_digest"] == digest
        if isinstance(want, Failure):
            assert row["error"] == want.error and row["genre"] is None and row["prob_rock"] is None
            continue
        assert row["error"] is None and row["genre"] == want.genre and row["confident"] == want.confident
        assert row["duration_s"] == pytest.approx(want.duration_s, abs=1e-3)
        got = [row[f"prob_{genre}"] for genre in GENRES]  # the job's backend (OpenVINO) against this process's
        assert got == pytest.approx([want.probabilities[genre] for genre in GENRES], abs=SERVING_TOLERANCE)


def test_errors_are_the_clis_messages(first_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    errors = {Path(row["path"]).name: row["error"] for row in read_results(first_run[0]).to_pylist() if row["error"]}
    assert errors == {"empty.mp3": "The file is empty.",
                      "notes.mp3": "This is not an audio file ffmpeg can read (corrupt, or an unknown format).",
                      "short.wav": "The audio is 2.0 s long; at least 3 s are needed.",
                      "silence.wav": "The audio is silent (or nearly): there is no music to judge."}


def test_dry_run_says_what_it_would_tag_and_changes_nothing(first_run: tuple[Path, subprocess.CompletedProcess],
                                                            library: Path) -> None:
    out, result = first_run
    rows = {Path(row["path"]).name: row for row in read_results(out).to_pylist() if row["error"] is None}
    sure = sum(row["confident"] for name, row in rows.items() if not name.endswith(".wav"))
    unsure = sum(not row["confident"] for name, row in rows.items() if not name.endswith(".wav"))
    if sure:
        assert f"would fill (no genre yet): {sure}" in result.stdout, result.stdout
    if unsure:
        assert f"skipped (not sure): {unsure}" in result.stdout, result.stdout
    assert "failed: 1" in result.stdout and "f.wav" in result.stdout
    assert f"dry run: would tag {sure} files" in result.stdout
    assert all(read_genres(library / name) == () for name in GOOD if not name.endswith(".wav"))


def test_write_tags_fills_untagged_files_keeps_hand_tags_and_undo_puts_all_back(
        first_run: tuple[Path, subprocess.CompletedProcess], library: Path, tmp_path: Path) -> None:
    out, _ = first_run
    taggable = [library / name for name in GOOD if not name.endswith(".wav")]
    hand_tagged = library / "b.flac"
    write_genres(hand_tagged, ["Post-Punk"])  # its owner's genre; the file's hash changes, so it is judged again
    pcm = {path: audio_io.load(path) for path in taggable}
    result = run_batch(str(library), "--out", str(out), "--engine", ENGINE, "--write-tags", "--include-unsure",
                       tmpdir=tmp_path)
    assert "done: 1 songs" in result.stdout and "11 skipped" in result.stdout, result.stdout + result.stderr
    assert "tagged 6 files" in result.stdout and "kept (has a genre): 1" in result.stdout
    genres = {row["path"]: row["genre"] for row in read_results(out).to_pylist()}
    for path in taggable:
        want = ("Post-Punk",) if path == hand_tagged else (TAG_NAMES[genres[str(path)]],)
        assert read_genres(path) == want
        assert np.array_equal(audio_io.load(path), pcm[path])
    again = run_batch(str(library), "--out", str(out), "--engine", ENGINE, tmpdir=tmp_path)
    assert "done: 0 songs" in again.stdout and "12 skipped" in again.stdout and "would tag 0 files" in again.stdout
    undone = run_batch("--undo", "--out", str(out), tmpdir=tmp_path)
    assert undone.returncode == 0 and "undo: 6 files restored, 0 left alone" in undone.stdout, undone.stderr
    for path in taggable:
        assert read_genres(path) == (("Post-Punk",) if path == hand_tagged else ())
        assert np.array_equal(audio_io.load(path), pcm[path])
    assert "undo: 0 files restored" in run_batch("--undo", "--out", str(out), tmpdir=tmp_path).stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_keeps_its_rows_and_a_rerun_adds_the_rest(library: Path, tmp_path: Path,
                                                                   signum: signal.Signals) -> None:
    songs = 72
    many = tmp_path / "many"
    many.mkdir()
    for i in range(songs):  # enough that the job runs past its first part (written after 10 s)
        write_audio(many / f"{i:02d}.mp3", synth_song(6.0, seed=i))
    out, tmpdir = tmp_path / "results.parquet", tmp_path / "tmp"
    tmpdir.mkdir()
    process = run_batch(str(many), "--out", str(out), "--engine", ENGINE, "--workers", "1", tmpdir=tmpdir,
                        wait=False)
    deadline = time.monotonic() + 300
    while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signum)
    started = time.monotonic()
    stdout, stderr = process.communicate(timeout=60)
    assert time.monotonic() - started < 10 and process.returncode == 130, stderr
    assert "interrupted:" in stdout and "Traceback" not in stderr
    kept = read_results(out).num_rows
    assert 1 <= kept < songs
    assert list(tmpdir.iterdir()) == [] and [p for p in out.iterdir() if p.name.startswith(".")] == []
    rerun = run_batch(str(many), "--out", str(out), "--engine", ENGINE, tmpdir=tmpdir)
    assert f"{kept} skipped" in rerun.stdout, rerun.stdout + rerun.stderr
    rows = read_results(out).to_pylist()
    assert sorted(row["path"] for row in rows) == sorted(str(p) for p in many.glob("*.mp3"))



@pytest.fixture
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real one-node Ray cluster (`ray start --head`) on this machine, with token authentication (its token in
    the environment, as the driver needs it); its address. Stopped with `ray stop`."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(16))
    port = free_port()
    temp = Path(f"/tmp/rt{os.getpid()}")  # Ray's socket paths must stay short
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_the_same_job_on_a_running_cluster(ray_cluster: str, library: Path, tmp_path: Path,
                                           first_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out = tmp_path / "cluster.parquet"
    result = run_batch(str(library), "--out", str(out), "--engine", ENGINE, "--address", ray_cluster, tmpdir=tmp_path)
    assert "done: 12 songs" in result.stdout, result.stdout + result.stderr
    local = {row["path"]: row for row in read_results(first_run[0]).to_pylist() if row["sha1"]}
    for row in read_results(out).to_pylist():
        want = local[row["path"]]
        assert row["error"] == want["error"] and row["genre"] == want["genre"]
        assert [row[f"prob_{g}"] for g in GENRES] == pytest.approx([want[f"prob_{g}"] for g in GENRES], abs=1e-5)
