"""One CPU per worker process: OpenVINO sizes its thread pool to the process's CPUs, so workers side by side (batch
judges, training's feature workers) each run their models on one core instead of fighting over all of them (two
pinned workers do ~1.5x the work of two unpinned)."""
from __future__ import annotations

import os
import socket

_HELD: list[socket.socket] = []  # this process's claim, kept open for its lifetime (see `claim_for_life`)


def claim_one_cpu() -> socket.socket | None:
    """Pin this process to one of its CPUs that no other process on this machine has claimed, and return the claim
    (None, unpinned, if every CPU is taken). The claim is an abstract Unix socket named after the CPU: held while the
    socket is open, gone with the process, no file left behind."""
    for cpu in sorted(os.sched_getaffinity(0)):
        claim = socket.socket(socket.AF_UNIX)
        try:
            claim.bind(f"\0genre-classifier-judge-cpu-{cpu}")
        except OSError:  # another worker holds this CPU
            claim.close()
            continue
        os.sched_setaffinity(0, {cpu})
        return claim
    return None


def claim_for_life() -> None:
    """`claim_one_cpu` for a pool worker's initializer: the claim lasts as long as the process."""
    claim = claim_one_cpu()
    if claim is not None:
        _HELD.append(claim)
