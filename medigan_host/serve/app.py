"""The Starlette application of `medigan serve`: the browser app, the JSON API, and the guard in front of both.

Every request passes :class:`Guard` first: on a loopback bind it accepts only loopback ``Host`` headers (a web page
cannot reach the server by re-pointing its own domain at 127.0.0.1), with a token it accepts only requests that carry
it (``Authorization: Bearer TOKEN``, or the cookie set when the page is opened as ``/?token=TOKEN``), and it refuses
bodies over the size limit. Errors are JSON objects ``{"error": "<one line>"}`` with the HTTP status that fits.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .._version import __version__
from ..errors import FrameworkMissingError, MediganError, MediganUsageError, UnknownModelError
from ..registry import runs_remote_code
from .config import ServeConfig, is_loopback
from .openapi import openapi_document
from .previews import GridCache, sample_png
from .runs import RunLimitError, RunManager, RunNotFound, RunStateError, TrustRefused

COOKIE = "medigan_token"
#: The files of the browser app, by URL path: a fixed list, so no request names a file.
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/static/app.css": ("app.css", "text/css; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"), "/static/favicon.svg": ("favicon.svg", "image/svg+xml")}
CONTENT_TYPES = {".png": "image/png", ".npy": "application/octet-stream", ".nii": "application/octet-stream",
                 ".nii.gz": "application/gzip", ".dcm": "application/dicom", ".tif": "image/tiff", ".tiff": "image/tiff",
                 ".json": "application/json", ".jsonl": "application/jsonl"}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
]
#: Search answers kept in memory.
SEARCH_CACHE = 256
FILTERS = ("modality", "anatomy", "framework", "architecture", "dataset", "outputs", "tag", "license")


def content_type(name: str) -> str:
    lowered = name.lower()
    for suffix in sorted(CONTENT_TYPES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return CONTENT_TYPES[suffix]
    return "application/octet-stream"


def status_of(error: BaseException) -> int:
    """The HTTP status for an error raised while answering."""
    if isinstance(error, (RunNotFound, UnknownModelError)):
        return 404
    if isinstance(error, TrustRefused):
        return 403
    if isinstance(error, RunStateError):
        return 409
    if isinstance(error, RunLimitError):
        return 429
    if isinstance(error, MediganUsageError):
        return 400
    if isinstance(error, FrameworkMissingError):
        return 501
    return 500


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: Host check on loopback binds, the token, the request size limit, security headers."""

    def __init__(self, app: Any, config: ServeConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}

        async def guarded_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, guarded_send)
            return
        await self.app(scope, self._limited(receive), guarded_send)

    def _refusal(self, scope: dict[str, Any], headers: dict[str, str]) -> Response | None:
        if self.config.loopback and not self.config.token:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not is_loopback(name):
                return error_response(421, f"this server answers requests to 127.0.0.1 or localhost only, not {host[:100]!r}")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.config.max_request_bytes):
            return error_response(413, f"the request body is larger than this server accepts ({self.config.max_request_bytes} "
                                       "bytes, --max-request-mb); send fewer or smaller inputs")
        if not self.config.token:
            return None
        if self._token_ok(headers):
            return None
        if scope["path"] == "/" and scope["method"] == "GET":
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if given and hmac.compare_digest(given.encode(), self.config.token.encode()):
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(COOKIE, self.config.token, httponly=True, samesite="strict", path="/")
                return response
            return Response(_LOGIN_PAGE, status_code=401, media_type="text/html; charset=utf-8")
        return error_response(401, "this server needs its token on every request: send 'Authorization: Bearer TOKEN' "
                                   "(the page: open /?token=TOKEN once)", {"www-authenticate": "Bearer"})

    def _token_ok(self, headers: dict[str, str]) -> bool:
        token = self.config.token.encode()  # type: ignore[union-attr]
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no token
            return False
        return COOKIE in cookie and hmac.compare_digest(cookie[COOKIE].value.encode(), token)

    def _limited(self, receive: Any) -> Any:
        limit = self.config.max_request_bytes
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        return counted


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than this server accepts ({limit} bytes, --max-request-mb); "
                         "send fewer or smaller inputs")


_LOGIN_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>medigan serve: token needed</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<main><h1>This medigan server needs its token</h1>
<p>Open the address printed by <code>medigan serve</code>, which ends in <code>/?token=…</code>, or ask whoever runs the
server for it.</p></main></body></html>"""


def create_app(config: ServeConfig, manager: RunManager | None = None) -> Any:
    """The ASGI application for ``config``: runs recovered at start-up, stopped (to resume later) at shutdown."""
    manager = manager or RunManager(config)
    grids = GridCache()
    api = _Api(config, manager, grids)

    @asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        await run_in_threadpool(manager.recover)
        yield
        await run_in_threadpool(manager.close, True)

    routes = [
        Route("/", api.static, methods=["GET"]),
        Route("/static/{name}", api.static, methods=["GET"]),
        Route("/api/server", api.server, methods=["GET"]),
        Route("/api/openapi.json", api.openapi, methods=["GET"]),
        Route("/api/models", api.models, methods=["GET"]),
        Route("/api/models/{model}", api.model, methods=["GET"]),
        Route("/api/models/{model}/grid.png", api.grid, methods=["GET"]),
        Route("/api/runs", api.runs, methods=["GET"]),
        Route("/api/runs", api.start, methods=["POST"]),
        Route("/api/runs/{run}", api.run, methods=["GET"]),
        Route("/api/runs/{run}/events", api.events, methods=["GET"]),
        Route("/api/runs/{run}/cancel", api.cancel, methods=["POST"]),
        Route("/api/runs/{run}/resume", api.resume, methods=["POST"]),
        Route("/api/runs/{run}/manifest", api.manifest, methods=["GET"]),
        Route("/api/runs/{run}/files", api.files, methods=["GET"]),
        Route("/api/runs/{run}/files/{path:path}", api.file, methods=["GET"]),
        Route("/api/runs/{run}/preview/{index:int}.png", api.preview, methods=["GET"]),
        Route("/api/runs/{run}/zip", api.zip, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        404: lambda request, exc: error_response(404, f"no such page or API endpoint: {request.url.path[:200]}; "
                                                      "see /api/openapi.json"),
        405: lambda request, exc: error_response(405, f"{request.method} is not allowed on {request.url.path[:200]}; "
                                                      "see /api/openapi.json"),
        _TooLarge: lambda request, exc: error_response(413, str(exc)),
    })
    app.state.manager = manager
    app.state.config = config
    return Guard(app, config)


def _answer(handler: Any) -> Any:
    """Turn medigan errors raised by ``handler`` into JSON errors."""

    async def wrapped(self: _Api, request: Request) -> Response:
        try:
            return await handler(self, request)
        except _TooLarge:
            raise
        except (MediganError, TimeoutError) as error:
            status = status_of(error)
            headers = {"retry-after": "5"} if status == 429 else None
            return error_response(status, str(error), headers)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


class _Api:
    def __init__(self, config: ServeConfig, manager: RunManager, grids: GridCache) -> None:
        self.config = config
        self.manager = manager
        self.grids = grids
        #: Answers of GET /api/models by (catalog, its size, query string): a search is pure, so a repeated one is free.
        self._searches: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    # -- the browser app ------------------------------------------------------------------------------------
    async def static(self, request: Request) -> Response:
        found = STATIC.get(request.url.path)
        if found is None:
            return error_response(404, f"no such file: {request.url.path[:200]}")
        name, media = found
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        return Response(data, media_type=media, headers={"cache-control": "no-cache"})

    @_answer
    async def server(self, request: Request) -> Response:
        """The server's version, limits and settings."""
        return JSONResponse({"name": "medigan serve", "version": __version__, "limits": self.config.limits(),
                             "trust_remote_code": self.config.trust_remote_code, "engine": self.config.engine,
                             "token_required": bool(self.config.token), "runs_folder": str(self.config.runs.resolve())})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(__version__))

    # -- models --------------------------------------------------------------------------------------------
    @_answer
    async def models(self, request: Request) -> Response:
        from ..catalog.search import search_models

        params = request.query_params
        unknown = sorted(set(params) - {"q", "conditional", "limit", *FILTERS})
        if unknown:
            raise MediganUsageError(f"unknown query parameter {unknown[0]!r}; use q, conditional, limit or a filter: "
                                    f"{', '.join(FILTERS)}")
        filters = {name: params.getlist(name) for name in FILTERS if params.getlist(name) and any(params.getlist(name))}
        conditional = _boolean(params.get("conditional"), "conditional")
        limit = _integer(params.get("limit"), "limit", 1, 10_000) if params.get("limit") else None
        catalog = self.manager.catalog()
        key = (id(catalog), len(catalog), str(request.query_params))
        if key in self._searches:
            return Response(self._searches[key], media_type="application/json")
        results = await run_in_threadpool(lambda: search_models(params.get("q") or None, conditional=conditional, limit=limit,
                                                                catalog=catalog, **filters))
        data = results.to_dict()
        data["results"] = [{**self._summary(hit.entry), "score": None if hit.score is None else round(hit.score, 4)}
                           for hit in results.hits]
        entries = list(catalog)
        data["facets"] = {name: sorted({str(getattr(e.card, name)) for e in entries if getattr(e.card, name)})
                          for name in ("modality", "framework", "outputs", "anatomy")}
        data["total"] = len(entries)
        response = JSONResponse(data)
        self._searches[key] = response.body
        while len(self._searches) > SEARCH_CACHE:
            self._searches.popitem(last=False)
        return response

    def _summary(self, entry: Any) -> dict[str, Any]:
        card = entry.card
        remote = runs_remote_code(card)
        return {"id": card.id, "name": card.name, "modality": card.modality, "anatomy": card.anatomy,
                "framework": card.framework, "outputs": card.outputs, "input": card.input,
                "image_size": list(card.image_size), "channels": card.channels, "conditions": card.to_dict()["conditions"],
                "description": card.description, "plugin": entry.plugin, "remote_code": remote,
                "runnable": not remote or self.config.trust_remote_code}

    @_answer
    async def model(self, request: Request) -> Response:
        from ..formats.writers import writer_catalog

        entry = self.manager.entry(request.path_params["model"])
        card = entry.card
        formats = []
        for writer in writer_catalog():
            try:
                writer.check(card)
            except MediganError:
                continue
            formats.append(writer.name)
        from ..generation.engine import default_format

        summary = self._summary(entry)
        reason = "" if summary["runnable"] else ("this model runs code downloaded with it; the server was started without "
                                                 "--trust-remote-code")
        return JSONResponse({**summary, "card": card.to_dict(), "plugin_version": entry.plugin_version,
                             "formats": formats, "default_format": default_format(card), "needs_inputs": card.needs_inputs,
                             "refused": reason})

    @_answer
    async def grid(self, request: Request) -> Response:
        entry = self.manager.entry(request.path_params["model"])
        self.manager.check_trust(entry)
        params = request.query_params
        n = _integer(params.get("n", "8"), "n", 1, self.config.max_grid)
        seed = _integer(params.get("seed", "0"), "seed", 0, 2**53 - 1)
        data = await run_in_threadpool(self.grids.get, entry, n, seed, self.config.device, self.config.trust_remote_code)
        return Response(data, media_type="image/png", headers={"cache-control": "max-age=3600"})

    # -- runs ----------------------------------------------------------------------------------------------
    @_answer
    async def runs(self, request: Request) -> Response:
        return JSONResponse({"runs": [self._run(run) for run in self.manager.list()]})

    def _run(self, run: Any) -> dict[str, Any]:
        data = run.to_dict()
        base = f"/api/runs/{run.id}"
        data["urls"] = {"self": base, "events": f"{base}/events", "files": f"{base}/files", "manifest": f"{base}/manifest",
                        "zip": f"{base}/zip", "cancel": f"{base}/cancel", "resume": f"{base}/resume"}
        return data

    @_answer
    async def start(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise MediganUsageError("send the run as JSON with 'Content-Type: application/json'")
        body = await request.body()
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise MediganUsageError(f"the request body is not JSON ({exc})") from exc
        run = await run_in_threadpool(self.manager.start, payload)
        return JSONResponse(self._run(run), status_code=202, headers={"location": f"/api/runs/{run.id}"})

    @_answer
    async def run(self, request: Request) -> Response:
        return JSONResponse(self._run(self.manager.get(request.path_params["run"])))

    @_answer
    async def events(self, request: Request) -> Response:
        run = self.manager.get(request.path_params["run"])

        async def stream() -> Any:
            last = None
            idle = 0.0
            while True:
                state = json.dumps(self._run(run))
                if state != last:
                    last, idle = state, 0.0
                    yield f"event: progress\ndata: {state}\n\n"
                elif idle >= 15.0:
                    idle = 0.0
                    yield ": still here\n\n"
                if run.status not in ("queued", "running"):
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)
                idle += 0.1

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    @_answer
    async def cancel(self, request: Request) -> Response:
        return JSONResponse(self._run(self.manager.cancel(request.path_params["run"])), status_code=202)

    @_answer
    async def resume(self, request: Request) -> Response:
        run = await run_in_threadpool(self.manager.resume, request.path_params["run"])
        return JSONResponse(self._run(run), status_code=202)

    @_answer
    async def manifest(self, request: Request) -> Response:
        records = await run_in_threadpool(self.manager.manifest, request.path_params["run"])
        return JSONResponse({"run": request.path_params["run"], "records": records})

    @_answer
    async def files(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        files = await run_in_threadpool(self.manager.files, run_id)
        return JSONResponse({"run": run_id, "files": [{"path": rel, "size": size, "content_type": content_type(rel),
                                                       "url": f"/api/runs/{run_id}/files/{rel}"} for rel, size in files]})

    @_answer
    async def file(self, request: Request) -> Response:
        run_id, rel = request.path_params["run"], request.path_params["path"]
        path = await run_in_threadpool(self.manager.file, run_id, rel)
        kind = content_type(rel)
        inline = kind.startswith("image/") or kind in ("application/json", "application/jsonl")
        disposition = f'{"inline" if inline else "attachment"}; filename="{Path(rel).name}"'
        return FileResponse(path, media_type=kind, headers={"content-disposition": disposition})

    @_answer
    async def preview(self, request: Request) -> Response:
        run_id, index = request.path_params["run"], request.path_params["index"]
        records = await run_in_threadpool(self.manager.manifest, run_id)
        record = next((r for r in records if r["index"] == index), None)
        if record is None:
            raise RunNotFound(f"run {run_id} has no finished sample {index}")
        files = record.get("files") if isinstance(record.get("files"), dict) else {}
        image = self.manager.file(run_id, files.get("image", ""))
        mask = self.manager.file(run_id, files["mask"]) if files.get("mask") else None
        card = self.manager.entry(self.manager.get(run_id).request["model"]).card
        data = await run_in_threadpool(sample_png, card, image, mask)
        return Response(data, media_type="image/png", headers={"cache-control": "max-age=3600"})

    @_answer
    async def zip(self, request: Request) -> Response:
        run_id = request.path_params["run"]
        entries = list(self.manager.zip_entries(run_id))
        return StreamingResponse(_zip_stream(entries), media_type="application/zip",
                                 headers={"content-disposition": f'attachment; filename="medigan-run-{run_id}.zip"'})


def _boolean(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise MediganUsageError(f"{name} must be true or false, got {value[:40]!r}")


def _integer(value: str | None, name: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise MediganUsageError(f"{name} must be a whole number from {low} to {high}, got {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise MediganUsageError(f"{name} must be a whole number from {low} to {high}, got {number}")
    return number


class _Sink(io.RawIOBase):
    """A write-only, non-seekable stream whose bytes are taken out as they come (zipfile then writes data descriptors)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _zip_stream(entries: list[tuple[str, Path]], chunk: int = 1 << 20) -> Iterator[bytes]:
    """The ZIP of ``entries``, produced while it is sent (memory bounded by ``chunk``)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        for name, path in entries:
            stored = name.lower().endswith((".png", ".gz", ".zip"))  # already compressed
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with open(path, "rb") as source, archive.open(info, "w", force_zip64=True) as target:
                while block := source.read(chunk):
                    target.write(block)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    yield sink.take()
