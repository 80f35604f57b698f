"""Shared test helpers: synthesised audio (no dataset, no network) written in any format with the bundled ffmpeg."""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _keras_on_tensorflow() -> None:
    """This test process trains models, so Keras runs here on TensorFlow (as in the training command); the models
    still run on OpenVINO (models.runtime converts them). KERAS_BACKEND is set only for the import: the programs the
    tests start (CLI, API, page) get the serving default, Keras on OpenVINO without TensorFlow."""
    before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras  # noqa: F401
    if before is None:
        del os.environ["KERAS_BACKEND"]
    else:
        os.environ["KERAS_BACKEND"] = before


_keras_on_tensorflow()

from codeFeature.audio import audio_io  # noqa: E402
from codeFeature.config import GENRES  # noqa: E402

RATE = 22050


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def synth_song(seconds: float, rate: int = RATE, seed: int = 0, base_hz: float = 220.0,
               beat_hz: float = 2.0) -> np.ndarray:
    """A 'song': a chord of harmonics on `base_hz`, a drum-like click train at `beat_hz`, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    chord = sum(np.sin(2 * np.pi * base_hz * k * t) / k for k in (1, 2, 3, 5))
    clicks = np.zeros_like(t)
    period = int(rate / beat_hz)
    for start in range(0, len(t), period):
        burst = rng.normal(0, 1, min(400, len(t) - start)) * np.exp(-np.arange(min(400, len(t) - start)) / 80)
        clicks[start:start + len(burst)] += burst
    y = 0.3 * chord / 2 + 0.3 * clicks + 0.01 * rng.normal(0, 1, len(t))
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1,
                codec_args: tuple[str, ...] = ()) -> Path:
    """Encode float samples (mono, or interleaved-by-copy to `channels`) to `path`; format from its suffix."""
    data = np.repeat(samples[:, None], channels, axis=1).astype("<f4").tobytes()
    cmd = [audio_io.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(rate),
           "-ac", str(channels), "-i", "-", *codec_args, str(path)]
    subprocess.run(cmd, input=data, check=True, capture_output=True)
    return path


# Inputs that cannot be judged, and a phrase of the one-line message each gets (CLI, API, page).
BAD = {"empty": "empty", "random": "not an audio file", "text": "not an audio file",
       "header_only": "not an audio file", "silence": "silent", "too_short": "at least 3 s"}


def write_bad_inputs(folder: Path) -> dict[str, Path]:
    """One file of each kind in BAD, written to `folder`."""
    files = {}
    raw = {
        "empty": ("empty.mp3", b""),
        "random": ("random.wav", np.random.default_rng(1).integers(0, 256, 40_000, dtype=np.uint8).tobytes()),
        "text": ("notes.mp3", b"just text, renamed to .mp3\n" * 50),
        "header_only": ("header.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00"),
    }
    for key, (name, data) in raw.items():
        (folder / name).write_bytes(data)
        files[key] = folder / name
    files["silence"] = write_audio(folder / "silence.wav", np.zeros(10 * RATE, np.float32))
    files["too_short"] = write_audio(folder / "short.wav", synth_song(2.0))
    return files


def write_playlists(folder: Path, targets: list[str]) -> list[Path]:
    """Files that ask a decoder to read other files: for each target (a path, relative to `folder` or absolute, or
    a URL), an HLS playlist and an ffconcat script naming it, each as .m3u8/.ffconcat and renamed to .mp3."""
    files = []
    for i, target in enumerate(targets):
        hls = f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n"
        concat = f"ffconcat version 1.0\nfile '{target}'\n"
        for name, text in ((f"hls{i}.m3u8", hls), (f"hls{i}.mp3", hls), (f"concat{i}.ffconcat", concat),
                           (f"concat{i}.mp3", concat)):
            (folder / name).write_text(text)
            files.append(folder / name)
    return files


def write_ts(path: Path, samples: np.ndarray) -> Path:
    """Samples as AAC in an MPEG-TS file (what HLS playlists list)."""
    return write_audio(path, samples, codec_args=("-c:a", "aac", "-f", "mpegts"))


@pytest.fixture
def song_wav(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "song.wav", synth_song(30.0))


@pytest.fixture
def song_mp3(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "song.mp3", synth_song(30.0, rate=44100), rate=44100, channels=2)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at an empty folder, so a test can assert that nothing was left behind in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def make_dataset(root: Path, per_genre: int = 3, seconds: float = 6.0, excerpts: bool = False) -> Path:
    """A tiny GTZAN-layout folder: each genre its own pitch and tempo, so a model can learn something."""
    for g, genre in enumerate(GENRES):
        for k in range(per_genre):
            song = synth_song(seconds, seed=100 * g + k, base_hz=110.0 * (1.25 ** g), beat_hz=1.0 + 0.4 * g)
            folder = root / "genres_original" / genre
            folder.mkdir(parents=True, exist_ok=True)
            write_audio(folder / f"{genre}.{k:05d}.wav", song)
            if excerpts:
                folder = root / "excerpts_2to3s" / genre
                folder.mkdir(parents=True, exist_ok=True)
                write_audio(folder / f"{genre}.{k + per_genre:05d}.opus", song[:int(2.5 * RATE)], rate=RATE)
    return root


def make_realsongs(root: Path, per_genre: int = 2, seconds: float = 6.0, outside: int = 0) -> Path:
    """A tiny real-song folder (labels.csv + audio/, every other song marked `doubt`, from two sources; with
    `outside`, that many songs of none of the ten genres in outside.csv + outside/): each song by its own artist,
    pitched like make_dataset's (the outside songs far above them)."""
    rows = ["file,genre,artist,title,doubt,source_repo"]
    for g, genre in enumerate(GENRES):
        for k in range(per_genre):
            song = synth_song(seconds, seed=5000 + 100 * g + k, base_hz=110.0 * (1.25 ** g), beat_hz=1.0 + 0.4 * g)
            name = f"audio/{genre}__artist_{g}_{k}__song_{k}.opus"
            (root / "audio").mkdir(parents=True, exist_ok=True)
            write_audio(root / name, song)
            rows.append(f"{name},{genre},Artist {g}-{k},Song {k},{'borderline' if k % 2 else ''},"
                        f"{'first/repo' if g % 2 else 'second/repo'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    if outside:
        rows = ["file,outside_genre,artist,title"]
        (root / "outside").mkdir(parents=True, exist_ok=True)
        for k in range(outside):
            name = f"outside/folk__other_{k}__song_{k}.opus"
            write_audio(root / name, synth_song(seconds, seed=9000 + k, base_hz=2000.0 + 150 * k, beat_hz=5.0))
            rows.append(f"{name},folk,Other {k},Song {k}")
        (root / "outside.csv").write_text("\n".join(rows) + "\n")
    return root
