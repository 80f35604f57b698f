"""The page in a real browser under load on this machine; prints a table.

    python benchmarks/bench_page.py [--sessions 20] [--uploads 5] [--parallel 4]

Starts `streamlit run main.py` (as the README does) on a free port and drives it with headless Chromium (Debian's,
through Playwright, as tests/test_browser.py does):
- the time from the server's start until /_stcore/health answers, then the first visitor: the page opened right
  after health, a 30-s mp3 uploaded, until its result shows;
- --sessions browser sessions, --parallel at a time, each uploading --uploads generated songs one after another and
  then closing: time from each upload to its result, errors (an error or traceback on the page, or no result within
  120 s), and the server's CPU time per upload (the browsers share the same cores);
- the server's RSS after the first visitor's result, every 20 uploads of the load, and --settle seconds after the
  last session closed (once Streamlit has let the closed sessions go).
Goals (issue #12, default engine, 2 cores): first result <= 5 s after health; p95 and errors reported; RSS <= 900 MB
after 100 uploads in 20 sessions, and not growing after the first 20 (within 5 %).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench_api import free_port, rss_mb, wait_for_health  # noqa: E402
from bench_predict import print_table, synth, write_mp3  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RESULT_TIMEOUT_MS = 120_000
SESSION_TTL_S = 120  # Streamlit keeps a closed session this long for a reconnect (server.disconnectedSessionTTL)
FAILED = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@dataclass
class Load:
    """What the load phase saw: seconds from upload to result, errors, and the server's RSS at milestones."""

    server_pid: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_at: dict[int, float] = field(default_factory=dict)  # uploads done -> MB

    def done(self) -> None:
        """Count an upload as done; every 20th, note the server's RSS."""
        count = len(self.latencies) + len(self.errors)
        if count % 20 == 0:
            self.rss_at[count] = rss_mb(self.server_pid)


def cpu_seconds(pid: int) -> float:
    """CPU time a process and its finished children (ffmpeg) have used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime, stime, cutime, cstime


def start_server() -> tuple[subprocess.Popen, str, float]:
    """`streamlit run main.py` on a free 127.0.0.1 port: (process, URL, seconds until /_stcore/health said ok)."""
    port = free_port()
    return wait_for_health([sys.executable, "-m", "streamlit", "run", "main.py", "--server.headless", "true",
                            "--server.address", "127.0.0.1", "--server.port", str(port),
                            "--browser.gatherUsageStats", "false"], f"http://127.0.0.1:{port}", "/_stcore/health")


async def upload_and_wait(page, song: Path, seconds: float) -> str | None:
    """Upload `song` (`seconds` long) into the open page and wait for its result; None, or what went wrong."""
    await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(song))
    result = page.get_by_text(f"{seconds:.1f} s of audio, analysed in")
    try:
        await result.or_(page.locator(FAILED)).first.wait_for(timeout=RESULT_TIMEOUT_MS)
    except Exception as exc:  # noqa: BLE001 - a timeout is a failed upload, counted, not fatal
        return f"no result: {type(exc).__name__}"
    if await page.locator(FAILED).count():
        return "error on the page: " + (await page.locator(FAILED).first.inner_text())[:200]
    return None


async def open_page(browser, url: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 1400})
    page = await context.new_page()
    await page.goto(url)
    await page.get_by_text("What genre is this song?").wait_for(timeout=60_000)
    return context, page


async def session(browser, url: str, songs: list[tuple[Path, float]], load: Load) -> None:
    """One visitor: open the page, upload each song in turn (timing each), close."""
    context, page = await open_page(browser, url)
    try:
        for song, seconds in songs:
            started = time.perf_counter()
            error = await upload_and_wait(page, song, seconds)
            if error is None:
                load.latencies.append(time.perf_counter() - started)
            else:
                load.errors.append(error)
            load.done()
    finally:
        await context.close()


@dataclass
class Run:
    """The whole benchmark: start-up, the first visitor, and the load phase."""

    ready: float  # seconds from the server's start to health
    first_result: float  # seconds from health to the first visitor's result
    rss_first: float  # MB after it
    load: Load
    rss_settled: float = float("nan")  # MB once the closed sessions have expired
    server_cpu: float = float("nan")  # CPU seconds the server used during the load


async def drive(first: Path, songs: list[tuple[Path, float]], sessions: int, parallel: int, settle: float) -> Run:
    """Start the browser (the visitor's is already open), then the server; the first visitor right after health;
    then the load; then `settle` seconds idle. The server is stopped at the end."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        process, url, ready = start_server()
        try:
            healthy_at = time.perf_counter()
            context, page = await open_page(browser, url)
            error = await upload_and_wait(page, first, 30.0)
            first_result = time.perf_counter() - healthy_at
            if error:
                raise RuntimeError(f"the first visitor got no result: {error}")
            await context.close()
            run = Run(ready, first_result, rss_mb(process.pid), Load(process.pid))
            turns = asyncio.Semaphore(parallel)
            cpu_before = cpu_seconds(process.pid)

            async def one(index: int) -> None:
                async with turns:
                    rotated = songs[index % len(songs):] + songs[:index % len(songs)]
                    await session(browser, url, rotated, run.load)

            await asyncio.gather(*(one(i) for i in range(sessions)))
            run.server_cpu = cpu_seconds(process.pid) - cpu_before
            if settle > 0:
                await asyncio.sleep(settle)
                run.rss_settled = rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
        await browser.close()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=5, help="songs per session")
    parser.add_argument("--parallel", type=int, default=4, help="sessions at a time")
    parser.add_argument("--settle", type=float, default=SESSION_TTL_S + 10,
                        help="seconds to wait after the load before a last RSS reading (0: none)")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("Chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="genre-bench-page-") as tmp:
        first = write_mp3(Path(tmp) / "first.mp3", synth(30.0, seed=99))
        # Lengths differ by a second, so each result is told apart by its "N.N s of audio" line.
        songs = [(write_mp3(Path(tmp) / f"song{i}.mp3", synth(25.0 + i, seed=i)), 25.0 + i)
                 for i in range(args.uploads)]
        run = asyncio.run(drive(first, songs, args.sessions, args.parallel, args.settle))
    load = run.load
    total = args.sessions * args.uploads
    latencies = sorted(load.latencies)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
    rss_20, rss_all = load.rss_at.get(20, float("nan")), load.rss_at.get(total, float("nan"))
    print_table(["measure", "result", "goal"], [
        ("server start -> health", f"{run.ready:.1f} s", "(informative)", True),
        ("health -> first visitor's result (30-s mp3)", f"{run.first_result:.2f} s", "<= 5 s",
         run.first_result <= 5),
        (f"load: {args.sessions} sessions x {args.uploads} uploads, {args.parallel} at a time",
         f"p50 {statistics.median(latencies) if latencies else float('nan'):.2f} s, p95 {p95:.2f} s, "
         f"max {max(latencies, default=float('nan')):.2f} s", "(informative)", True),
        ("server CPU time per upload during the load", f"{run.server_cpu / total:.2f} s", "(informative)", True),
        ("errors", f"{len(load.errors)}" + (f" ({load.errors[0]})" if load.errors else ""), "0", not load.errors),
        ("server RSS after the first result", f"{run.rss_first:.0f} MB", "(informative)", True),
        ("server RSS after 20 uploads", f"{rss_20:.0f} MB", "<= 900 MB", rss_20 <= 900),
        (f"server RSS after {total} uploads", f"{rss_all:.0f} MB ({100 * (rss_all / rss_20 - 1):+.1f} % since 20)",
         "<= 900 MB, <= +5 %", rss_all <= 900 and rss_all <= 1.05 * rss_20),
        (f"server RSS {args.settle:.0f} s after the last session closed", f"{run.rss_settled:.0f} MB",
         "(informative)", True),
    ])
    print(describe())
    print("server RSS every 20 uploads: " + ", ".join(f"{n}: {mb:.0f} MB" for n, mb in sorted(load.rss_at.items())))


if __name__ == "__main__":
    main()
