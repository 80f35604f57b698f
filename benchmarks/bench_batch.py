"""Batch jobs on Ray Data on this machine; prints a table.

    python benchmarks/bench_batch.py [--songs 200] [--engine E]

Makes --songs 30-s mp3s (as bench_predict.py does), then times
- `python -m codeFeature.batch DIR --out ... --workers 1` and `--workers 2` (Ray started for each job, as a user
  runs it), each into a fresh results folder;
- `python -m codeFeature.predict --json DIR` on the same files;
and reports songs/s of each, over the whole command (start-up included, as a user waits for it) and at steady state
(the extra songs over the extra time of a second run on a quarter of the files, so start-up cancels out).
Goals (issue #11): 2 workers >= 1.7 x 1 worker and >= the CLI's songs/s, at steady state.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench_predict import print_table, synth, write_mp3  # noqa: E402

from codeFeature.engine.engines import ENGINES  # noqa: E402
from codeFeature.engine.model_folder import ModelFolder  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)

_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT, env=_ENV, capture_output=True)
    return time.perf_counter() - started


def rates(make_command, folder: Path, few: Path, songs: int, few_songs: int) -> tuple[float, float]:
    """(songs/s over the whole command, songs/s at steady state) of the command for `folder` and for `few`."""
    whole = seconds(make_command(folder))
    part = seconds(make_command(few))
    return songs / whole, (songs - few_songs) / (whole - part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=200)
    parser.add_argument("--engine", choices=ENGINES, default=ModelFolder.open().default_engine)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genre-bench-batch-") as tmp:
        folder, few = Path(tmp) / "songs", Path(tmp) / "few"
        folder.mkdir()
        few.mkdir()
        for i in range(args.songs):
            path = write_mp3(folder / f"song{i:04d}.mp3", synth(30.0, seed=1000 + i))
            if i < args.songs // 4:
                os.link(path, few / path.name)
        runs = iter(range(1000))

        def batch(workers: int):
            return lambda where: [sys.executable, "-m", "codeFeature.batch", str(where), "--engine", args.engine,
                                  "--workers", str(workers), "--out", str(Path(tmp) / f"out{next(runs)}.parquet")]

        cli = rates(lambda where: [sys.executable, "-m", "codeFeature.predict", "--json", "--engine", args.engine,
                                   str(where)], folder, few, args.songs, args.songs // 4)
        one = rates(batch(1), folder, few, args.songs, args.songs // 4)
        two = rates(batch(2), folder, few, args.songs, args.songs // 4)
    print(describe())
    print(f"engine: {args.engine}; {args.songs} x 30-s mp3\n")
    rows = [("CLI (predict --json)", cli, "(reference)", True),
            ("batch, 1 worker", one, "(reference)", True),
            ("batch, 2 workers", two, f">= {1.7 * one[1]:.2f} (1.7 x 1 worker)", two[1] >= 1.7 * one[1]),
            ("batch, 2 workers vs CLI", two, f">= {cli[1]:.2f} (the CLI)", two[1] >= cli[1])]
    print_table(["command", "songs/s (whole run)", "songs/s (steady)", "goal"],
                [(name, f"{whole:.2f}", f"{steady:.2f}", goal, ok) for name, (whole, steady), goal, ok in rows])


if __name__ == "__main__":
    main()
