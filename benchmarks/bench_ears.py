"""What each pretrained network (models/ears.py) costs per song on this machine; prints a table.

    python benchmarks/bench_ears.py [--repeats 20]

Per network of config.EARS: parameters, multiply-adds per 3-s segment (counted from the Keras graph by
`ears.count_macs`) and per song (ten segments), and the warm time to run a song's ten log-mel patches through it as
served (models.runtime.InferenceModel on OpenVINO): the median of --repeats runs. The genre head's ablation
(README, Measured accuracy) weighs each set of networks by these costs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from codeFeature.config import EARS, MODEL_DIR, MUSICNN_INPUT_SHAPE, N_SEGMENTS  # noqa: E402
from codeFeature.models.ears import count_macs, ear, load_ear  # noqa: E402
from codeFeature.models.keras_files import load_keras  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    patches = np.random.default_rng(0).uniform(0, 3, (N_SEGMENTS, *MUSICNN_INPUT_SHAPE)).astype(np.float32)
    print(describe() + "\n")
    print("| network | parameters | multiply-adds per segment | per song | warm ms per song (10 segments) |")
    print("|---|---|---|---|---|")
    for name in EARS:
        spec = ear(name)
        keras_model = load_keras(*spec.files(MODEL_DIR))
        model = load_ear(name, MODEL_DIR)
        model(patches)  # compile and warm up
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            model(patches)
            times.append(time.perf_counter() - started)
        macs = count_macs(keras_model)
        print(f"| {name} | {keras_model.count_params():,} | {macs / 1e9:.2f} G | {macs * N_SEGMENTS / 1e9:.1f} G | "
              f"{statistics.median(times) * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
