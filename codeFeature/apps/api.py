"""HTTP API: POST a song, get its genres as JSON. FastAPI on uvicorn, around the same GenreClassifier as the page and
the CLI (this module only receives files and turns results and errors into HTTP).

    python -m codeFeature.serve [--host 127.0.0.1] [--port 8000] [--engine E] [--max-upload-mb 200]
                                [--max-concurrent N] [--queue N] [--model-dir DIR]

- POST /v1/classify[?engine=cnn|musicnn]: the audio as the multipart field `file`, or
  as the raw body (audio/*, video/*, application/octet-stream; a Content-Disposition filename names it) -> 200
  and the object `python -m codeFeature.predict --json` prints for that file, with the uploaded file's name as "file".
- GET /v1/health -> 200 {"status": "ok"} once the default engine is loaded and warmed up; 503 before that.
- GET /v1/engines -> the engines, the default, what each measured (metrics.json) and a digest of each model file.
- OpenAPI docs at /docs.
Errors are {"error": "<one line>"}: 413 over the size limit (checked as the body streams in), 415 a content type that
cannot be audio, 422 audio that cannot be judged (the CLI's message), 503 with Retry-After while loading or when
`max_concurrent` analyses run and `queue` more wait, 500 for anything unexpected (logged here, not sent).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from codeFeature.audio import audio_io
from codeFeature.config import AUDIO_EXTENSIONS, MODEL_DIR
from codeFeature.engine.engines import ENGINES, help_text
from codeFeature.engine.model_folder import ModelFolder
from codeFeature.engine.registry import Classifiers
from codeFeature.errors import GenreClassifierError, ModelFilesError

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2  # what a 503 asks the client to wait
_COPY_CHUNK = 1 << 20
_AUDIO_TYPES = ("audio/", "video/")
_RAW_TYPES = ("application/octet-stream", "application/ogg")
_MULTIPART = "multipart/form-data"
_MULTIPART_OVERHEAD = 64 * 1024  # room for a form's boundaries and part headers beside the file
_UNSUPPORTED = ("Send the audio as a multipart field named 'file', or as the raw body with an audio/* or "
                "application/octet-stream Content-Type")
_UPLOAD_BODY = {  # the request body, for the OpenAPI docs (the endpoint reads it itself, to stream it with a limit)
    "required": True,
    "content": {
        _MULTIPART: {"schema": {"type": "object", "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "audio/*": {"schema": {"type": "string", "format": "binary"}},
    },
}


@dataclass(frozen=True)
class ServerSettings:
    """How the server runs: where the models are, the default engine (None: engines.json's), the largest upload in
    bytes, how many analyses run at once and how many more may wait."""

    model_dir: Path = MODEL_DIR
    engine: str | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    max_concurrent: int = max(1, os.cpu_count() or 1)
    queue: int = 16


class ApiError(Exception):
    """An answer other than 200: HTTP status, the one-line message, and whether to ask the client to retry."""

    def __init__(self, status: int, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retry = retry


class Gate:
    """At most `running` analyses at once and `waiting` more admitted to wait for a turn; beyond that, requests are
    turned away (503) at once rather than queued without end. Used from the event loop only."""

    def __init__(self, running: int, waiting: int) -> None:
        self.limiter = anyio.CapacityLimiter(running)
        self.capacity = running + waiting
        self.admitted = 0

    @contextmanager
    def admit(self) -> Iterator[anyio.CapacityLimiter]:
        if self.admitted >= self.capacity:
            raise ApiError(503, "The server is busy with other songs; try again in a few seconds.", retry=True)
        self.admitted += 1
        try:
            yield self.limiter
        finally:
            self.admitted -= 1


def create_app(settings: ServerSettings = ServerSettings(), classifiers: Classifiers | None = None) -> FastAPI:
    """The API app. It loads the default engine in the background when the server starts (`classifiers`: the
    engines to serve, by default those of `settings`). Raises ModelFilesError if the model folder cannot be
    opened (ModelFolder.open)."""
    if classifiers is None:
        classifiers = Classifiers(ModelFolder.open(settings.model_dir), settings.engine)
    gate = Gate(settings.max_concurrent, settings.queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        classifiers.start()
        yield

    app = FastAPI(title="Genre classifier", version="1", lifespan=lifespan,
                  description="POST a song, get its genre as percentages over ten genres, per 3-s segment too.")

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, str(exc), exc.retry)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return _error(422, f"Invalid request: {where}: {first.get('msg', 'invalid')}.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "Something went wrong on the server; the problem has been logged.")

    @app.get("/v1/health", summary="200 once the default engine is loaded and warmed up, 503 before")
    def health() -> JSONResponse:
        if classifiers.ready:
            return JSONResponse({"status": "ok", "engine": classifiers.default})
        if classifiers.error is not None:
            return JSONResponse({"status": "error", "error": classifiers.error}, status_code=503)
        return JSONResponse({"status": "loading"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.get("/v1/engines", summary="The engines, the default, what each measured and a digest of each model file")
    def engines() -> dict:
        cards = classifiers.folder.card.engines  # as the folder was when the server started
        return {"default": classifiers.default,
                "engines": {engine: {**cards[engine].to_dict(), "loaded": classifiers.loaded(engine)}
                            for engine in ENGINES if engine in cards}}

    @app.post("/v1/classify", summary="Classify one song (multipart field 'file', or the raw body)",
              openapi_extra={"requestBody": _UPLOAD_BODY},
              responses={413: {"description": "Over the size limit"}, 415: {"description": "Not an audio type"},
                         422: {"description": "Audio that cannot be judged"},
                         503: {"description": "Loading or busy; see Retry-After"}})
    async def classify(request: Request, engine: str | None = Query(None, description=" | ".join(ENGINES))) -> dict:
        chosen = engine or classifiers.default
        if chosen not in ENGINES:
            raise ApiError(422, f"Unknown engine {engine!r}: choose one of {', '.join(ENGINES)}.")
        if not classifiers.ready:
            raise ApiError(503, classifiers.error or "The models are still loading; try again in a few seconds.",
                           retry=classifiers.error is None)
        with gate.admit() as limiter:
            async with _received(_limited(request, settings.max_upload_bytes)) as (path, name):
                try:
                    prediction = await anyio.to_thread.run_sync(_classify, classifiers, chosen, path, name,
                                                                limiter=limiter)
                except ModelFilesError as exc:
                    raise ApiError(503, str(exc)) from exc
                except GenreClassifierError as exc:
                    raise ApiError(422, str(exc)) from exc
        return prediction

    return app


def _classify(classifiers: Classifiers, engine: str, path: Path, name: str) -> dict:
    """The CLI's --json object for the file at `path`, named `name` (runs in a worker thread)."""
    return classifiers.get(engine).classify(path, name).to_dict()


def _error(status: int, message: str, retry: bool = False) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if retry else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _limited(request: Request, limit: int) -> Request:
    """The same request whose body stops with a 413 ApiError once more than `limit` bytes of audio have come in (a
    declared Content-Length over the limit stops it before any byte is read)."""
    too_large = ApiError(413, f"The file is larger than the {limit / 1024 / 1024:g} MB this server accepts.")
    if request.headers.get("content-type", "").lower().startswith(_MULTIPART):
        limit += _MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    received = 0

    async def receive() -> dict:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large
        return message

    return Request(request.scope, receive)


@asynccontextmanager
async def _received(request: Request) -> AsyncIterator[tuple[Path, str]]:
    """Store the request's audio in a private temporary file; yield (its path, the name the client gave it). The
    file and its folder are deleted when the block ends. Raises ApiError 415/422 for a body that cannot be audio."""
    content_type = request.headers.get("content-type", "application/octet-stream")
    kind = content_type.split(";")[0].strip().lower()
    if kind == _MULTIPART:
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, "The form has no file field named 'file' holding the audio.")
            _check_type(upload.content_type or "application/octet-stream")
            name = _file_name(upload.filename)
            with audio_io.temporary_path(_suffix(name)) as path:
                await anyio.to_thread.run_sync(_copy, upload, path)
                yield path, name
        return
    _check_type(kind)
    disposition = parse_options_header(request.headers.get("content-disposition", ""))[1]
    name = _file_name(disposition.get(b"filename", b"").decode("utf-8", errors="replace"))
    with audio_io.temporary_path(_suffix(name)) as path:
        with open(path, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        yield path, name


def _check_type(content_type: str) -> None:
    kind = content_type.split(";")[0].strip().lower()
    if not (kind.startswith(_AUDIO_TYPES) or kind in _RAW_TYPES):
        raise ApiError(415, f"{_UNSUPPORTED} (got {kind or 'none'}).")


def _copy(upload: UploadFile, path: Path) -> None:
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out, _COPY_CHUNK)


def _file_name(given: str | None) -> str:
    """The last part of a client-given file name ("upload" if none)."""
    return PurePosixPath((given or "").replace("\\", "/")).name or "upload"


def _suffix(name: str) -> str:
    """The name's audio file ending, if it is one we know (it names the temporary copy; ffmpeg reads the content)."""
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if suffix in AUDIO_EXTENSIONS else ""


def build_parser() -> argparse.ArgumentParser:
    """The command's options (its --help; docs/ lists the same, checked by tests/test_docs.py)."""
    parser = argparse.ArgumentParser(prog="python -m codeFeature.serve", description="Serve the classifier over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    parser.add_argument("--engine", choices=ENGINES,
                        help=f"the default engine: {help_text()}. Default: the best measured (class_xls/engines.json)")
    parser.add_argument("--max-upload-mb", type=float, default=200.0,
                        help="largest upload accepted, in MB (default: %(default)g)")
    parser.add_argument("--max-concurrent", type=int, default=ServerSettings.max_concurrent,
                        help="analyses run at once (default: one per core)")
    parser.add_argument("--queue", type=int, default=ServerSettings.queue,
                        help="requests that may wait for a turn; more are answered 503 with Retry-After "
                             "(default: %(default)s)")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="folder with the model files")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_concurrent < 1 or args.queue < 0 or args.max_upload_mb <= 0:
        parser.error("--max-concurrent must be >= 1, --queue >= 0 and --max-upload-mb > 0")
    settings = ServerSettings(args.model_dir, args.engine, int(args.max_upload_mb * 1024 * 1024),
                              args.max_concurrent, args.queue)
    try:
        app = create_app(settings)
    except GenreClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run(app, host=args.host, port=args.port, timeout_graceful_shutdown=2, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
