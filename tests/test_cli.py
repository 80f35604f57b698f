"""apps/cli.py (`python -m codeFeature.predict`): the --json contract, human output, exit codes, and every bad input
from the issue list."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from conftest import BAD, synth_song, write_audio, write_bad_inputs

from codeFeature.config import GENRES, MODEL_DIR

PROJECT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    env = None
    if tmpdir is not None:
        import os
        env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "codeFeature.predict", *args], capture_output=True, text=True,
                          cwd=PROJECT, env=env, timeout=300)


def _one_hour_wav(path: Path) -> Path:
    """A one-hour 8 kHz mono WAV (~58 MB), written in blocks without holding it in memory twice."""
    rate, block = 8000, synth_song(60.0, rate=8000)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        pcm = (block * 32767).astype("<i2").tobytes()
        for _ in range(60):
            out.writeframes(pcm)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind of input the issue names, good and bad, in one folder."""
    d = tmp_path_factory.mktemp("inputs")
    song = synth_song(30.0)
    files = {
        "mp3": write_audio(d / "song.mp3", song),
        "rate_8k": write_audio(d / "rate8k.wav", synth_song(10.0, rate=8000), rate=8000),
        "rate_96k": write_audio(d / "rate96k.wav", synth_song(10.0, rate=96000), rate=96000),
        "u8": write_audio(d / "u8.wav", song, codec_args=("-c:a", "pcm_u8")),
        "s24": write_audio(d / "s24.wav", song, codec_args=("-c:a", "pcm_s24le")),
        "s32": write_audio(d / "s32.wav", song, codec_args=("-c:a", "pcm_s32le")),
        "float": write_audio(d / "float.wav", song, codec_args=("-c:a", "pcm_f32le")),
        "six_channels": write_audio(d / "surround.wav", song, channels=6),
        "one_hour": _one_hour_wav(d / "hour.wav"),
    }
    truncated = write_audio(d / "truncated.mp3", song)
    truncated.write_bytes(truncated.read_bytes()[:60_000])
    files["truncated"] = truncated
    return {**files, **write_bad_inputs(d)}


GOOD = ["mp3", "rate_8k", "rate_96k", "u8", "s24", "s32", "float", "six_channels", "one_hour", "truncated"]


def test_json_contract_for_every_input(inputs: dict[str, Path], tmp_path: Path) -> None:
    names = GOOD + list(BAD)
    result = run_cli("--json", *(str(inputs[n]) for n in names), tmpdir=tmp_path)
    assert result.returncode == 1  # some failed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(inputs[n]) for n in names]
    for name, line in zip(names, lines):
        if name in GOOD:
            assert set(line) >= {"file", "genre", "probabilities", "segments", "elapsed_s"}, name
            assert line["genre"] in GENRES and list(line["probabilities"]) == list(GENRES)
            assert sum(line["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
            assert len(line["segments"]) == 10
            assert set(line["segments"][0]) >= {"start", "end", "probabilities"}
        else:
            assert set(line) == {"file", "error"}, name
            assert BAD[name] in line["error"].lower() and "\n" not in line["error"], (name, line["error"])
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_one_hour_file_is_sampled_across_its_length(inputs: dict[str, Path]) -> None:
    result = run_cli("--json", str(inputs["one_hour"]))
    line = json.loads(result.stdout)
    starts = [s["start"] for s in line["segments"]]
    assert starts[0] == pytest.approx(10.0) and starts[-1] == pytest.approx(3600 - 13.0, abs=0.1)


def test_human_output_and_exit_zero(inputs: dict[str, Path]) -> None:
    result = run_cli("--engine", "musicnn", str(inputs["mp3"]))
    assert result.returncode == 0, result.stderr
    first, second, third, *rest = result.stdout.splitlines()
    assert first.startswith(f"{inputs['mp3']}: ") and "%" in first and "30.0 s of audio" in first
    assert "classified by musicnn" in first
    assert second.strip().startswith("segments:") and len(second.split()) == 11
    assert third.strip().startswith("sounds like: ") and third.count(" · ") == 2
    assert rest == [] or (len(rest) == 1 and rest[0].strip().startswith("Not sure: "))


@pytest.mark.parametrize("engine", ["cnn", "musicnn"])
def test_engine_choice(inputs: dict[str, Path], engine: str) -> None:
    result = run_cli("--json", "--engine", engine, str(inputs["mp3"]))
    line = json.loads(result.stdout)
    assert result.returncode == 0 and line["engine"] == engine and line["genre"] in GENRES
    assert (line["tags"] == {}) == (engine == "cnn")
    assert isinstance(line["confident"], bool) and (line["doubt"] is None) == line["confident"]


def test_unknown_engine_is_a_usage_error(inputs: dict[str, Path]) -> None:
    result = run_cli("--engine", "svm", str(inputs["mp3"]))
    assert result.returncode == 2 and "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_folder_input_and_bad_file_in_human_mode(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.flac", synth_song(5.0))
    (tmp_path / "b.mp3").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("not picked up")
    result = run_cli(str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(str(tmp_path / "a.flac"))
    assert lines[-1] == f"{tmp_path / 'b.mp3'}: error: The file is empty."


def test_missing_model_file_exits_2_with_a_message(tmp_path: Path, inputs: dict[str, Path]) -> None:
    folder = tmp_path / "models"
    shutil.copytree(MODEL_DIR, folder)
    (folder / "genre_head.weights.h5").unlink()
    result = run_cli("--model-dir", str(folder), str(inputs["mp3"]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "A model file named in" in result.stderr and "genre_head.weights.h5" in result.stderr


def test_every_command_stops_at_start_on_an_unreadable_model_folder_with_one_message(
        tmp_path: Path, inputs: dict[str, Path]) -> None:
    """The CLI, the API, the batch job and the report open the folder first (ModelFolder.open): the same line."""
    empty = tmp_path / "no-models"
    empty.mkdir()
    want = f"error: No usable model folder at {empty}: engines.json is missing or was not written by this version"
    commands = {"predict": [str(inputs["mp3"])], "serve": ["--port", "0"],
                "batch": [str(inputs["mp3"]), "--out", str(tmp_path / "out.parquet")], "report": []}
    for command, args in commands.items():
        result = subprocess.run([sys.executable, "-m", f"codeFeature.{command}", *args, "--model-dir", str(empty)],
                                capture_output=True, text=True, cwd=PROJECT, timeout=120)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and lines and lines[-1].startswith(want), (command, result.stderr)
        assert "Traceback" not in result.stderr and not (tmp_path / "out.parquet").exists(), command


def test_empty_folder(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path))
    assert result.returncode == 1 and "no audio files" in result.stderr


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_cli_mid_run_with_one_line(tmp_path: Path, signum: str) -> None:
    """Sent to the process alone, even one started with SIGINT ignored (a background job of a non-interactive
    shell, as supervisors and test harnesses start it): the CLI stops at once, keeps what it printed, says so in one
    line, no traceback, nothing left in its temp folder."""
    import os
    import signal
    import time

    songs = [write_audio(tmp_path / f"{i:02d}.mp3", synth_song(6.0, seed=i)) for i in range(4)]
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    with open(tmp_path / "stderr.txt", "w+") as stderr_file:
        process = subprocess.Popen([sys.executable, "-m", "codeFeature.predict", *map(str, songs * 25)], cwd=PROJECT,
                                   env={**os.environ, "TMPDIR": str(tmpdir)}, stdout=subprocess.PIPE,
                                   stderr=stderr_file, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        first = process.stdout.readline()  # the first song is done: the models are loaded and running
        process.send_signal(getattr(signal, signum))
        started = time.monotonic()
        process.wait(timeout=60)
        stopped_after = time.monotonic() - started
        # read through the same buffered reader as `first` (communicate() would skip what readline buffered)
        printed = first + process.stdout.read()
        process.stdout.close()
        stderr_file.seek(0)
        stderr = stderr_file.read()
    assert stopped_after < 5 and process.returncode == 130, stderr
    files = [line for line in printed.splitlines() if line.strip() and not line.startswith(" ")]
    assert 1 <= len(files) < 100 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (f"interrupted: {len(files)} of 100 files done (their results are "
                                               f"above); the rest were not classified")
    assert list(tmpdir.iterdir()) == []
