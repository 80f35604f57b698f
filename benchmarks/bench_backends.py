"""The two routes to the same OpenVINO models against each other on the same songs and files; prints a table.

    python benchmarks/bench_backends.py [FILE_OR_DIR ...] [--engine E]

Default input: ../shared/realsongs/audio when it exists (real recordings), else 20 generated 30-s mp3s.
Every process runs the models on OpenVINO (models.runtime): a serving process reads the files with Keras on its
OpenVINO backend; training, where Keras runs on TensorFlow, converts the TensorFlow graph. This classifies every
song both ways: in this process (Keras on TensorFlow, as training evaluates), and with
`python -m codeFeature.predict --json` (Keras on OpenVINO; it prints 4 decimals). It reports how many songs get the same
genre and the same "not sure" verdict (so every accuracy figure is the same), the largest probability differences
(goal: config.SERVING_TOLERANCE, plus the CLI's rounding), and the time each took for the whole folder.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"  # this process is the reference, as training runs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench_predict import print_table, synth, write_mp3  # noqa: E402

from codeFeature.apps.cli import expand  # noqa: E402
from codeFeature.config import GENRES, SERVING_TOLERANCE  # noqa: E402
from codeFeature.engine.engines import ENGINES  # noqa: E402
from codeFeature.engine.classifier import GenreClassifier, Prediction  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)

REALSONGS = PROJECT.parent / "shared" / "realsongs" / "audio"
ROUNDING = 5e-5  # the CLI prints probabilities to 4 decimals


def served(paths: list[Path], engine: str) -> tuple[dict[str, dict], float]:
    """The CLI's JSON object per file (Keras on OpenVINO), and the seconds the command took."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "codeFeature.predict", "--json", "--engine", engine,
                             *map(str, paths)], cwd=PROJECT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    return {o["file"]: o for o in objects}, seconds


def largest_differences(want: Prediction, got: dict) -> tuple[float, float]:
    """(song-level, segment-level) largest absolute probability difference."""
    song = max(abs(want.probabilities[g] - got["probabilities"][g]) for g in GENRES)
    segments = max(abs(s.probabilities[g] - o["probabilities"][g])
                   for s, o in zip(want.segments, got["segments"], strict=True) for g in GENRES)
    return song, segments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="*", metavar="FILE_OR_DIR")
    parser.add_argument("--engine", choices=ENGINES, default=None, help="default: the default engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genre-bench-backends-") as tmp:
        inputs = args.inputs or ([str(REALSONGS)] if REALSONGS.is_dir() else [])
        paths = expand(inputs) if inputs else [write_mp3(Path(tmp) / f"song{i:02d}.mp3", synth(30.0, seed=i))
                                               for i in range(20)]
        reference = GenreClassifier(engine=args.engine)
        engine = reference.engine
        started = time.perf_counter()
        wanted = {str(r.file): r for r in reference.classify_many(paths)}
        tf_seconds = time.perf_counter() - started
        got, ov_seconds = served(paths, engine)
    classified = [p for p, r in wanted.items() if isinstance(r, Prediction)]
    same_genre = sum(wanted[p].genre == got[p].get("genre") for p in classified)
    same_verdict = sum(wanted[p].confident == got[p].get("confident") for p in classified)
    differences = [largest_differences(wanted[p], got[p]) for p in classified]
    song_diff = max((d[0] for d in differences), default=0.0)
    segment_diff = max((d[1] for d in differences), default=0.0)
    limit = SERVING_TOLERANCE + ROUNDING
    source = ", ".join(inputs) if inputs else "20 generated 30-s mp3s"
    print(describe())
    print(f"engine: {engine}; {len(paths)} files from {source}; {len(classified)} classified\n")
    print_table(["measure", "result", "goal"], [
        ("same genre, both routes", f"{same_genre} / {len(classified)}", "all",
         same_genre == len(classified)),
        ("same 'not sure' verdict", f"{same_verdict} / {len(classified)}", "all", same_verdict == len(classified)),
        ("largest difference, song probabilities", f"{song_diff:.1e}", f"<= {limit:.1e}", song_diff <= limit),
        ("largest difference, segment probabilities", f"{segment_diff:.1e}", f"<= {limit:.1e}",
         segment_diff <= limit),
        ("converted from TensorFlow, in-process, models loaded", f"{tf_seconds:.1f} s", "(informative)", True),
        ("Keras on OpenVINO, the CLI from its start", f"{ov_seconds:.1f} s", "(informative)", True),
    ])


if __name__ == "__main__":
    main()
