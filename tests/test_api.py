"""apps/api.py (HTTP API): a real uvicorn server on a free 127.0.0.1 port, talked to with httpx: health while loading
and after, the CLI's JSON for the same file, every bad input, content types, the size limit, concurrency, hardened
decoding (no request may leave the server), engines and digests, a clean stop with nothing left in temp folders."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import (
    BAD,
    free_port,
    synth_song,
    write_audio,
    write_bad_inputs,
    write_playlists,
    write_ts,
)

from codeFeature.apps.api import ServerSettings, create_app
from codeFeature.config import GENRES, METRICS_JSON, MODEL_DIR
from codeFeature.engine.engines import ENGINES
from codeFeature.engine.model_folder import ModelFolder
from codeFeature.engine.registry import Classifiers
from codeFeature.engine.settings import EngineSettings

PROJECT = Path(__file__).resolve().parent.parent
MAX_UPLOAD_MB = 1
MAX_CONCURRENT, QUEUE = 2, 6  # 8 requests at once fit, exactly


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    tmpdir: Path
    first_health: httpx.Response  # the first answer /v1/health gave, while the models were loading



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m codeFeature.serve` on a free port, its TMPDIR a private folder; stopped with SIGINT at the end,
    which must end it within a few seconds and leave that folder empty."""
    tmpdir = tmp_path_factory.mktemp("server_tmp")
    log = tmp_path_factory.mktemp("server_log") / "server.log"
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "codeFeature.serve", "--port", str(port), "--max-upload-mb", str(MAX_UPLOAD_MB),
             "--max-concurrent", str(MAX_CONCURRENT), "--queue", str(QUEUE)],
            cwd=PROJECT, env={**os.environ, "TMPDIR": str(tmpdir)}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        first = _wait_until_ready(url, process)
        yield Server(url, process, tmpdir, first)
    finally:
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=30)
    assert time.monotonic() - started < 5, "the server took too long to stop"
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")
    assert list(tmpdir.iterdir()) == [], "temporary files were left behind"


def _wait_until_ready(url: str, process: subprocess.Popen, timeout: float = 180.0) -> httpx.Response:
    """Poll /v1/health until 200; return the first answer it gave."""
    first = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server stopped"
        try:
            answer = httpx.get(f"{url}/v1/health", timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        first = first or answer
        if answer.status_code == 200:
            return first
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def _classify(url: str, path: Path, **params: str) -> httpx.Response:
    with open(path, "rb") as handle:
        return httpx.post(f"{url}/v1/classify", files={"file": (path.name, handle)}, params=params, timeout=120)


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("song") / "song.mp3", synth_song(30.0, rate=44100), rate=44100,
                       channels=2)


def test_health_says_loading_then_ok(server: Server) -> None:
    assert server.first_health.status_code == 503
    assert server.first_health.json() == {"status": "loading"} and server.first_health.headers["retry-after"]
    answer = httpx.get(f"{server.url}/v1/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_same_json_as_the_cli_for_the_same_file(server: Server, song: Path) -> None:
    cli = subprocess.run([sys.executable, "-m", "codeFeature.predict", "--json", str(song)], cwd=PROJECT,
                         capture_output=True, text=True, timeout=300)
    expected = json.loads(cli.stdout)
    multipart = _classify(server.url, song)
    raw = httpx.post(f"{server.url}/v1/classify", content=song.read_bytes(), timeout=120,
                     headers={"content-type": "audio/mpeg", "content-disposition": 'attachment; filename="a b.mp3"'})
    for answer, name in ((multipart, "song.mp3"), (raw, "a b.mp3")):
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert list(got) == list(expected)  # same keys, same order
        assert got["file"] == name and got["elapsed_s"] > 0
        assert {**got, "file": None, "elapsed_s": None} == {**expected, "file": None, "elapsed_s": None}


def test_engine_choice(server: Server, song: Path) -> None:
    answer = _classify(server.url, song, engine="cnn")
    assert answer.status_code == 200 and answer.json()["engine"] == "cnn" and answer.json()["tags"] == {}
    assert answer.json()["genre"] in GENRES
    unknown = _classify(server.url, song, engine="svm")
    assert unknown.status_code == 422 and "svm" in unknown.json()["error"]


def test_bad_inputs_get_the_clis_message(server: Server, tmp_path: Path) -> None:
    inputs = write_bad_inputs(tmp_path)
    cli = subprocess.run([sys.executable, "-m", "codeFeature.predict", "--json", *map(str, inputs.values())],
                         cwd=PROJECT, capture_output=True, text=True, timeout=300)
    cli_errors = [json.loads(line)["error"] for line in cli.stdout.splitlines()]
    for (kind, path), cli_error in zip(inputs.items(), cli_errors):
        answer = _classify(server.url, path)
        assert answer.status_code == 422, (kind, answer.text)
        assert answer.json() == {"error": cli_error} and BAD[kind] in cli_error.lower(), kind


def test_content_types(server: Server, song: Path) -> None:
    for content_type in ("text/plain", "application/json", "image/png", "application/x-www-form-urlencoded"):
        answer = httpx.post(f"{server.url}/v1/classify", content=song.read_bytes(),
                            headers={"content-type": content_type})
        assert answer.status_code == 415 and "multipart field named 'file'" in answer.json()["error"], content_type
    as_text = httpx.post(f"{server.url}/v1/classify", files={"file": ("song.mp3", song.read_bytes(), "text/plain")})
    assert as_text.status_code == 415
    octets = httpx.post(f"{server.url}/v1/classify", content=song.read_bytes(),
                        headers={"content-type": "application/octet-stream"}, timeout=120)
    assert octets.status_code == 200 and octets.json()["file"] == "upload"
    no_field = httpx.post(f"{server.url}/v1/classify", files={"audio": ("song.mp3", song.read_bytes())})
    assert no_field.status_code == 422 and "'file'" in no_field.json()["error"]


def test_size_limit_is_checked_while_streaming(server: Server) -> None:
    big = os.urandom(3 * MAX_UPLOAD_MB * 1024 * 1024)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    message = f"larger than the {MAX_UPLOAD_MB} MB"
    for answer in (httpx.post(f"{server.url}/v1/classify", files={"file": ("big.mp3", big)}),
                   httpx.post(f"{server.url}/v1/classify", content=big, headers={"content-type": "audio/mpeg"}),
                   httpx.post(f"{server.url}/v1/classify", content=chunks(), headers={"content-type": "audio/mpeg"})):
        assert answer.status_code == 413 and message in answer.json()["error"]


def test_eight_requests_at_once_are_all_answered(server: Server, song: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _classify(server.url, song), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len({json.dumps(a.json()["probabilities"]) for a in answers}) == 1


def test_beyond_the_queue_the_server_says_busy(server: Server, song: Path) -> None:
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda _: _classify(server.url, song), range(24)))
    codes = [a.status_code for a in answers]
    assert set(codes) == {200, 503} and codes.count(200) >= MAX_CONCURRENT + QUEUE
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["retry-after"].isdigit() and "busy" in busy.json()["error"]


class _Recorder(BaseHTTPRequestHandler):
    """An HTTP server's handler that records every request it gets (none may come)."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(Path(self.server.audio).read_bytes())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bait_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server offering a real song: (its URL of that song, the requests it received)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.audio = str(write_audio(tmp_path / "bait.wav", synth_song(10.0)))
    _Recorder.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/bait.wav", _Recorder.requests
    httpd.shutdown()


def test_playlists_and_scripts_cannot_make_the_decoder_read_elsewhere(server: Server, tmp_path: Path,
                                                                      bait_server: tuple[str, list[str]]) -> None:
    url, requests = bait_server
    local = write_ts(tmp_path / "local.ts", synth_song(10.0))
    for path in write_playlists(tmp_path, [url, str(local), f"file:{local}"]):
        answer = httpx.post(f"{server.url}/v1/classify", files={"file": (path.name, path.read_bytes(), "audio/mpeg")})
        assert answer.status_code == 422 and "not an audio file" in answer.json()["error"], (path, answer.text)
    assert requests == []


def test_engines_say_what_answered(server: Server) -> None:
    answer = httpx.get(f"{server.url}/v1/engines")
    assert answer.status_code == 200
    body = answer.json()
    assert body["default"] == EngineSettings.read(MODEL_DIR).default_engine
    assert set(body["engines"]) == set(ENGINES) and body["engines"][body["default"]]["loaded"] is True
    metrics = json.loads((MODEL_DIR / METRICS_JSON).read_text())
    for engine, card in body["engines"].items():
        for name, digest in card["files"].items():
            assert digest == "sha256:" + hashlib.sha256((MODEL_DIR / name).read_bytes()).hexdigest()
        real = metrics["engines"][engine]["evaluation"]["realsongs"]
        assert card["measured"]["realsongs"]["accuracy"] == real["original"]["track"]["accuracy"]
        assert card["measured"]["realsongs"]["confident_share"] == real["confidence"]["coverage"]
        assert card["measured"]["realsongs"]["no_doubt_accuracy"] == real["no_doubt"]["accuracy"]
        outside = metrics["engines"][engine]["evaluation"]["outside"]
        assert card["outside"]["not_sure"] == outside["not_sure"] and card["outside"]["tracks"] == outside["n"]
        assert card["in_words"].startswith(f"Right on {real['original']['track']['accuracy']:.0%} of "
                                           f"{real['original']['track']['n']} real songs")
    assert httpx.get(f"{server.url}/docs").status_code == 200
    assert "/v1/classify" in httpx.get(f"{server.url}/openapi.json").json()["paths"]


def test_unknown_routes_answer_json(server: Server) -> None:
    assert httpx.get(f"{server.url}/nowhere").json() == {"error": "Not Found"}
    assert httpx.get(f"{server.url}/v1/classify").status_code == 405


class _Broken(Classifiers):
    """Ready at once, and every analysis fails in a way nobody planned for."""

    ready = True

    def get(self, engine: str):  # noqa: ANN201
        raise RuntimeError("/secret/path/in/a/traceback")


def test_an_unexpected_error_is_a_plain_500(song: Path) -> None:
    app = create_app(ServerSettings(), _Broken(ModelFolder.open(MODEL_DIR), "cnn"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.post("/v1/classify", files={"file": ("s.mp3", song.read_bytes())})

    import anyio

    answer = anyio.run(post)
    assert answer.status_code == 500
    assert answer.json() == {"error": "Something went wrong on the server; the problem has been logged."}


def test_sigterm_stops_a_busy_server_quickly(tmp_path: Path, song: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "codeFeature.serve", "--port", str(port), "--engine", "cnn"],
                               cwd=PROJECT, env={**os.environ, "TMPDIR": str(tmp_path)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process)
        with ThreadPoolExecutor(4) as pool:
            pending = [pool.submit(_classify, url, song) for _ in range(4)]
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            process.wait(timeout=30)
            assert time.monotonic() - started < 5
            for future in pending:  # each was answered or cut off; none hangs
                try:
                    future.result(timeout=30)
                except httpx.TransportError:
                    pass
    finally:
        process.kill()
    assert list(tmp_path.iterdir()) == []
