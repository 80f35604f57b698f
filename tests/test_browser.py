"""The page in a real browser: `streamlit run main.py` on 127.0.0.1, driven by Playwright in Debian's Chromium.

Skips (with the reason) where Chromium or Playwright is missing, except under CI (CI=true), where it must run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, synth_song, write_audio

from codeFeature.config import GENRES

PROJECT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    if CHROMIUM is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    return None


if _missing() and os.environ.get("CI") != "true":
    pytest.skip(_missing(), allow_module_level=True)



@pytest.fixture(scope="module")
def server():
    assert _missing() is None, _missing()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "main.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("streamlit did not come up: " + process.stdout.read().decode(errors="replace")[-2000:])
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def page(server: str):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(server)
        page.get_by_text("What genre is this song?").wait_for(timeout=60_000)
        yield page
        browser.close()


def _upload(page, path: Path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))


def test_upload_an_mp3_and_see_the_genre_and_chart(page, tmp_path: Path) -> None:
    song = write_audio(tmp_path / "song.mp3", synth_song(30.0, rate=44100), rate=44100, channels=2)
    started = time.monotonic()
    _upload(page, song)
    headline = page.locator("h2").filter(has_text="%").first
    headline.wait_for(timeout=120_000)
    first = time.monotonic() - started
    genre = headline.inner_text().split("·")[0].strip().lower()
    assert genre in GENRES
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    charts.first.wait_for(timeout=30_000)
    assert charts.count() >= 2 and charts.first.is_visible()
    page.get_by_text("Through the song").wait_for()
    page.screenshot(path=str(tmp_path / "result.png"), full_page=True)
    assert (tmp_path / "result.png").stat().st_size > 10_000
    print(f"first upload to result: {first:.2f} s")


def test_garbage_upload_shows_an_error_not_a_traceback(page, tmp_path: Path) -> None:
    bad = tmp_path / "not_a_song.mp3"
    bad.write_bytes(b"this is text pretending to be an mp3\n" * 100)
    _upload(page, bad)
    alert = page.locator('[data-testid="stAlert"]').first
    alert.wait_for(timeout=60_000)
    assert "not an audio file" in alert.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
