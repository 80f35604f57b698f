"""Prediction speed and memory on this machine; prints a table.

    python benchmarks/bench_predict.py [--songs 40] [--repeats 5] [--engines cnn,musicnn]

Makes its own test audio (synthesised, encoded with the bundled ffmpeg through pydub) in a temporary folder:
a 30-s and a 10-minute mp3, and a folder of 30-s mp3s. Measures, for every engine,
- warm latency per song (models loaded, numba compiled): median of --repeats runs of `GenreClassifier.classify`;
- throughput over the folder with `classify_many` (songs per second);
- the CLI's cold start (`python -m codeFeature.predict --engine E`, one 30-s mp3, a new process) and its peak memory;
- the multiply-adds of its networks per song (ten segments; models/ears.count_macs, the genre head's are negligible);
and once, each in a new process with the default engine: the library as a user writes it (`GenreClassifier()`, then
`.classify(song)`; then `.classify_many` over more songs) against the CLI (`python -m codeFeature.predict`) on the
same files: the first answer (imports + models + one song), the time per further song, and the peak resident memory
(issue #19: the library within 10 % of the CLI on all three); and the peak of this process (all engines loaded)
after all of the above.
Goals: the default engine (issue #12) warm <= 0.15 s per song and >= 10 songs/s, CLI cold start <= 4 s, CLI peak
<= 900 MB; cnn (issue #2) warm <= 0.15 s, 10-minute file within 1.2x of the 30-s file, >= 15 songs/s.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from codeFeature import Failure, GenreClassifier, ModelFolder  # noqa: E402
from codeFeature.audio import audio_io  # noqa: E402
from codeFeature.config import MODEL_JSON, MODEL_WEIGHTS, N_SEGMENTS  # noqa: E402
from codeFeature.engine.engines import ENGINES  # noqa: E402
from codeFeature.engine.engines import engine as engine_record  # noqa: E402
from codeFeature.models.ears import count_macs, ear  # noqa: E402
from codeFeature.models.keras_files import load_keras  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)

_LATENCY_GOALS = {"cnn": 0.15}  # warm s per 30-s song
_THROUGHPUT_GOALS = {"cnn": 15.0}  # songs/s
_DEFAULT_ENGINE_GOALS = (0.15, 10.0)  # whichever engine is the default: warm seconds, songs/s
_CLI_GOALS = (4.0, 900.0)  # cold start seconds, peak MB
_LIBRARY_VS_CLI = 1.10  # the library's first answer, per-song time and peak memory: at most this times the CLI's
_FURTHER_SONGS = 8  # songs after the first, for the per-song time of a new process


def synth(seconds: float, rate: int = 44100, seed: int = 0) -> np.ndarray:
    """A stereo 'song' (chord, clicks, noise) as int16 frames."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    base = 110 * 2 ** (rng.integers(0, 24) / 12)
    y = sum(np.sin(2 * np.pi * base * k * t) / k for k in (1, 2, 3)) * 0.2
    y += (np.sin(2 * np.pi * 2 * t) > 0.99) * rng.normal(0, 0.3, len(t)) + rng.normal(0, 0.01, len(t))
    y = np.clip(y / np.max(np.abs(y)) * 0.8, -1, 1)
    return (np.repeat(y[:, None], 2, axis=1) * 32767).astype("<i2")


def write_mp3(path: Path, frames: np.ndarray, rate: int = 44100) -> Path:
    """Encode int16 stereo frames to mp3 with pydub (which runs the bundled ffmpeg)."""
    audio_io.ffmpeg_exe()  # points pydub at the bundled ffmpeg
    segment = audio_io.AudioSegment(frames.tobytes(), sample_width=2, frame_rate=rate, channels=2)
    segment.export(path, format="mp3", bitrate="192k")
    return path


def warm_latency(classifier: GenreClassifier, path: Path, repeats: int) -> float:
    classifier.classify(path)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        classifier.classify(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_TIMED = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(json.dumps({"code": code, "seconds": time.perf_counter() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


_LIBRARY = """
import sys
from codeFeature import GenreClassifier
classifier = GenreClassifier()
classifier.classify(sys.argv[1])
for result in classifier.classify_many(sys.argv[2:]):
    pass
"""


def timed_process(command: list[str]) -> tuple[float, float]:
    """(seconds, peak MB) of `command` in a new process. It is started from a small Python process: a child started
    from this one would count this process's memory in its peak (Linux keeps the peak across fork and exec)."""
    timed = subprocess.run([sys.executable, "-c", _TIMED, *command], cwd=PROJECT, check=True, capture_output=True,
                           text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    result = json.loads(timed.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed with exit status {result['code']}")
    return result["seconds"], result["peak_mb"]


def new_process_figures(command: list[str], first: Path, further: list[Path]) -> tuple[float, float, float]:
    """(first answer s, s per further song, peak MB) of `command` + files in new processes: one run with `first`
    alone, one with `first` and `further` (the difference over len(further) is the per-song time)."""
    alone, _ = timed_process([*command, str(first)])
    total, peak = timed_process([*command, str(first), *map(str, further)])
    return alone, (total - alone) / len(further), peak


def library_vs_cli(first: Path, further: list[Path], default: str) -> list[tuple[str, str, str, bool]]:
    """Table rows: the library in a new process against the CLI, within _LIBRARY_VS_CLI on every figure."""
    library = new_process_figures([sys.executable, "-c", _LIBRARY], first, further)
    cli = new_process_figures([sys.executable, "-m", "codeFeature.predict", "--json"], first, further)
    rows = [(f"CLI cold start, one 30-s mp3 ({default})", f"{cli[0]:.2f} s", f"<= {_CLI_GOALS[0]:g} s",
             cli[0] <= _CLI_GOALS[0]),
            (f"CLI peak memory ({default})", f"{cli[2]:.0f} MB", f"<= {_CLI_GOALS[1]:g} MB", cli[2] <= _CLI_GOALS[1])]
    for i, (what, unit) in enumerate([("first answer", "s"), ("time per further song", "s"), ("peak memory", "MB")]):
        ratio = library[i] / cli[i]
        rows.append((f"library GenreClassifier() vs CLI: {what}", f"{library[i]:.{0 if unit == 'MB' else 2}f} {unit} "
                     f"vs {cli[i]:.{0 if unit == 'MB' else 2}f} {unit} ({ratio:.2f}x)",
                     f"<= {_LIBRARY_VS_CLI:.2f}x", ratio <= _LIBRARY_VS_CLI))
    return rows


def macs_per_song(classifier: GenreClassifier) -> int:
    """Multiply-adds of the networks of `classifier`'s engine for one song's N_SEGMENTS segments."""
    macs = sum(ear(name).macs for name in classifier.ears)
    if not engine_record(classifier.engine).head:
        macs += count_macs(load_keras(classifier.model_dir / MODEL_JSON, classifier.model_dir / MODEL_WEIGHTS))
    return N_SEGMENTS * macs


def engine_rows(classifier: GenreClassifier, short: Path, long: Path, songs: list[Path], repeats: int,
                default: bool) -> list[tuple[str, str, str, bool]]:
    """Warm latency (30-s and 10-min mp3), batch throughput, the CLI's cold start and peak memory and the
    multiply-adds per song of one engine, as table rows."""
    engine = classifier.engine
    cold, peak = timed_process([sys.executable, "-m", "codeFeature.predict", "--json", "--engine", engine, str(short)])
    classifier.warm_up()
    warm_short = warm_latency(classifier, short, repeats)
    warm_long = warm_latency(classifier, long, repeats)
    started = time.perf_counter()
    results = list(classifier.classify_many(songs))
    throughput = len(results) / (time.perf_counter() - started)
    assert not any(isinstance(r, Failure) for r in results)
    goal, rate = _DEFAULT_ENGINE_GOALS if default else (_LATENCY_GOALS.get(engine), _THROUGHPUT_GOALS.get(engine))
    name = f"{engine} (default)" if default else engine
    return [
        (f"{name}: warm latency, 30-s mp3", f"{warm_short:.3f} s", f"<= {goal} s" if goal else "(informative)",
         goal is None or warm_short <= goal),
        (f"{name}: warm latency, 10-min mp3", f"{warm_long:.3f} s ({warm_long / warm_short:.2f}x)",
         "<= 1.2x the 30-s file", warm_long <= 1.2 * warm_short),
        (f"{name}: throughput, {len(songs)} x 30-s mp3", f"{throughput:.1f} songs/s",
         f">= {rate:g} songs/s" if rate else "(informative)", rate is None or throughput >= rate),
        (f"{name}: CLI cold start, one 30-s mp3", f"{cold:.2f} s", f"<= {_CLI_GOALS[0]:g} s" if default
         else "(informative)", not default or cold <= _CLI_GOALS[0]),
        (f"{name}: CLI peak memory", f"{peak:.0f} MB", "(informative)", True),
        (f"{name}: multiply-adds per song", f"{macs_per_song(classifier) / 1e9:.2f} G", "(informative)", True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="genre-bench-") as tmp:
        folder = Path(tmp)
        short = write_mp3(folder / "song_30s.mp3", synth(30.0))
        long = write_mp3(folder / "song_10min.mp3", synth(600.0, seed=1))
        batch = folder / "batch"
        batch.mkdir()
        songs = [write_mp3(batch / f"song{i:03d}.mp3", synth(30.0, seed=10 + i)) for i in range(args.songs)]

        default = ModelFolder.open().default_engine
        rows += library_vs_cli(short, songs[:_FURTHER_SONGS], default)  # first: this process is still small
        for engine in args.engines.split(","):
            rows += engine_rows(GenreClassifier(engine=engine), short, long, songs, args.repeats, engine == default)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak memory of this process (all engines)", f"{peak_mb:.0f} MB", "(informative)", True))
    print_table(["measure", "result", "goal"], rows)


def print_table(header: list[str], rows: list[tuple]) -> None:
    """Rows of (columns..., ok) under `header`, columns as wide as their longest entry, an ok column, the machine."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *(row[:-1] for row in rows))]
    print(" ".join(f"{title:<{width}}" for title, width in zip(header, widths)) + " ok")
    for *cells, ok in rows:
        print(" ".join(f"{cell:<{width}}" for cell, width in zip(cells, widths)) + (" yes" if ok else " NO"))
    print(f"\n{describe()}")


if __name__ == "__main__":
    main()
