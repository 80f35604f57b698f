"""How the commands stop: SIGINT and SIGTERM (to the process or its group) end a command as Ctrl-C does, and a step
that must not be cut in half (writing one file's tags and its record) holds them until it is done. One module for
the CLI, the batch job, library tagging and the beets plugin."""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _install(handler: Callable | int) -> dict[int, Callable | int | None]:
    """Set `handler` for both stop signals; returns the handlers they had."""
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


def _restore(previous: dict[int, Callable | int | None]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def stop_on_signals() -> None:
    """Make SIGINT and SIGTERM end the command as Ctrl-C does (KeyboardInterrupt in the main thread), also when it was
    started with SIGINT ignored (as a non-interactive shell starts a background job). For a command's main() only:
    it sets process-wide handlers and keeps them (`signals_stop` puts the old ones back)."""
    _install(signal.default_int_handler)


@contextmanager
def signals_stop() -> Iterator[None]:
    """`stop_on_signals` inside the block, for code running in someone else's process (the beets plugin): the
    handlers before are put back after."""
    previous = _install(signal.default_int_handler)
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive inside the block take effect (as KeyboardInterrupt) when it ends. Off the main
    thread, where Python delivers no signal, it holds nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = _install(lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        _restore(previous)
    if caught:
        raise KeyboardInterrupt
