"""The HTTP API under load on this machine; prints a table.

    python benchmarks/bench_api.py [--requests 200] [--clients 8] [--songs 20] [--engine E]

Makes its own 30-s mp3s (as bench_predict.py does), then:
- runs `python -m codeFeature.predict --json` over them and over a quarter of them: the CLI's steady songs/s (the
  extra songs over the extra time, so start-up does not count);
- starts `python -m codeFeature.serve` on a free port and times how long until /v1/health says 200;
- sends --requests POSTs of those files from --clients concurrent clients (httpx, one connection each) and reports
  requests/s, p50/p95/max latency, errors (anything but 200), and the server's RSS before and after the run.
Goals (issue #10, default engine, 2 cores): 0 errors, p95 <= 1.5 s, requests/s >= 0.9 x the CLI's songs/s,
RSS growth <= 10 %, ready <= 15 s.
"""
from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench_predict import print_table, synth, write_mp3  # noqa: E402

from codeFeature.engine.engines import ENGINES  # noqa: E402
from codeFeature.engine.model_folder import ModelFolder  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)

_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def cli_songs_per_second(songs: list[Path], engine: str) -> float:
    """The CLI's steady throughput: two runs, over all of `songs` and over a quarter of them; the extra songs over
    the extra time (start-up and pipeline fill cancel out)."""
    def seconds(paths: list[Path]) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "codeFeature.predict", "--json", "--engine", engine, *map(str, paths)],
                       cwd=PROJECT, check=True, capture_output=True, env=_ENV)
        return time.perf_counter() - started

    few = songs[:len(songs) // 4]
    return (len(songs) - len(few)) / (seconds(songs) - seconds(few))


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(engine: str, *options: str) -> tuple[subprocess.Popen, str, float]:
    """`python -m codeFeature.serve` on a free port with `options`: (process, base URL, seconds until /v1/health
    said 200)."""
    port = free_port()
    return wait_for_health([sys.executable, "-m", "codeFeature.serve", "--port", str(port), "--engine", engine,
                            *options], f"http://127.0.0.1:{port}", "/v1/health")


def wait_for_health(command: list[str], url: str, health: str) -> tuple[subprocess.Popen, str, float]:
    """Start a server `command` in the project (output discarded) and wait until `url` + `health` answers 200:
    (process, url, seconds it took)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV)
    while time.perf_counter() - started < 300:
        if process.poll() is not None:
            raise RuntimeError("the server stopped while starting")
        try:
            if httpx.get(f"{url}{health}", timeout=5).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not become ready")


def load(url: str, songs: list[Path], requests: int, clients: int) -> tuple[list[float], int, float]:
    """`requests` POSTs of `songs` (in turn) from `clients` threads: (latencies in s, errors, wall seconds)."""
    bodies = [(path.name, path.read_bytes()) for path in songs]
    todo: queue.Queue[int] = queue.Queue()
    for i in range(requests):
        todo.put(i)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as session:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                try:
                    ok = session.post("/v1/classify", files={"file": bodies[i % len(bodies)]}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - started)
                    errors[0] += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-cli", type=float, metavar="SONGS_PER_S", help="use this CLI figure, do not measure")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--engine", choices=ENGINES, default=ModelFolder.open().default_engine)
    parser.add_argument("--max-concurrent", type=int, help="the server's option (default: the server's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genre-bench-api-") as tmp:
        songs = [write_mp3(Path(tmp) / f"song{i:03d}.mp3", synth(30.0, seed=100 + i)) for i in range(args.songs)]
        cli_rate = args.skip_cli or cli_songs_per_second(songs, args.engine)
        options = ("--max-concurrent", str(args.max_concurrent)) if args.max_concurrent else ()
        process, url, ready_s = start_server(args.engine, *options)
        try:
            load(url, songs[:2], 2 * args.clients, args.clients)  # every code path once, under concurrency
            before = rss_mb(process.pid)
            latencies, errors, wall = load(url, songs, args.requests, args.clients)
            after = rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    rate = len(latencies) / wall
    p50, p95 = statistics.quantiles(latencies, n=100)[49], statistics.quantiles(latencies, n=100)[94]
    growth = after / before - 1
    rows = [
        ("server ready (health 200) after start", f"{ready_s:.1f} s", "<= 15 s", ready_s <= 15),
        (f"requests ({args.clients} clients, 30-s mp3s)", f"{len(latencies)}", "", True),
        ("errors", f"{errors}", "0", errors == 0),
        ("requests/s", f"{rate:.2f}", f">= {0.9 * cli_rate:.2f} (0.9 x CLI)", rate >= 0.9 * cli_rate),
        ("CLI songs/s, same files and engine", f"{cli_rate:.2f}", "(reference)", True),
        ("latency p50", f"{p50:.2f} s", "(informative)", True),
        ("latency p95", f"{p95:.2f} s", "<= 1.5 s", p95 <= 1.5),
        ("latency max", f"{max(latencies):.2f} s", "(informative)", True),
        ("server RSS before / after", f"{before:.0f} / {after:.0f} MB", "", True),
        ("server RSS growth over the run", f"{100 * growth:+.1f} %", "<= 10 %", growth <= 0.10),
    ]
    print(describe())
    print(f"engine: {args.engine}; server options: {' '.join(options) or '(defaults)'}\n")
    print_table(["measure", "result", "goal"], rows)


if __name__ == "__main__":
    main()
