"""The machine a benchmark ran on, as every benchmark prints it: CPU model, vector units, cores, Python, date."""
from __future__ import annotations

import datetime
import os
import platform
import sys


def describe() -> str:
    """One line: "machine: AMD EPYC (AVX2, no AVX-512), 2 cores; python 3.11.7; 2026-12-06"."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    units = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    return (f"machine: {model} ({units}), {os.cpu_count()} cores; python {sys.version.split()[0]}; "
            f"{datetime.date.today().isoformat()}")
