"""Local HTTP servers that serve weights files from memory, for download tests of the host and of plugins.

- :class:`WeightsServer` serves files at URL paths (for cards whose weights entry has a ``url``), and can misbehave
  on purpose (drop the connection, trickle, stall, never end) to test the bounds of downloads.
- :class:`RecordServer` is a fake Zenodo: ``GET /api/records/<id>`` answers the record's files (``key``,
  ``checksum`` ``md5:…``, ``size``, ``links.self``) as Zenodo's REST API does, and serves them. Point
  ``MEDIGAN_ZENODO_URL`` at ``server.base_url`` and a card entry ``{"doi": "10.5281/zenodo.<id>", "filename": …}``
  downloads from it::

      with RecordServer({7031735: {"00001_DCGAN_MMG_CALC_ROI.zip": zip_bytes}}) as server:
          monkeypatch.setenv("MEDIGAN_ZENODO_URL", server.base_url)
          fetch_weights(card)

- :class:`HubServer` is a fake Hugging Face Hub: ``HEAD``/``GET /<repo>/resolve/<revision>/<filename>`` answer with
  the headers ``huggingface_hub`` reads (``X-Repo-Commit``, ``ETag``, ``Content-Length``; for LFS files a redirect to
  a separate "CDN" server with ``X-Linked-Etag`` (the sha256) and ``X-Linked-Size``). Point ``HF_ENDPOINT`` at
  ``server.base_url``.

All listen on 127.0.0.1 on an ephemeral port, in a background thread, and every loop they run is bounded.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class WeightsServer:
    """Serves files held in memory over HTTP on 127.0.0.1, in a background thread (a context manager).

    ``files`` maps URL paths (``"/g.safetensors"``) to bytes; more can be added to ``server.files`` while it
    runs. ``drop_after`` maps a path to a byte count: its response announces the full ``Content-Length`` but the
    connection is closed after that many bytes, like a server that dies mid-download. ``behaviour`` maps a path to
    how it misbehaves: ``"trickle"`` (announces the full length, sends one byte every ``trickle_interval``
    seconds), ``"stall"`` (sends the first 1 KiB, then nothing until the server stops), ``"endless"`` (no
    ``Content-Length``; repeats the file's bytes until the client hangs up, at most ``endless_limit`` bytes).
    ``requests`` lists the paths asked for, so a test can show that nothing was downloaded; ``sent`` counts the
    bytes of file bodies written, so a test can show where a download was stopped.
    """

    def __init__(self, files: Mapping[str, bytes] | None = None, drop_after: Mapping[str, int] | None = None,
                 behaviour: Mapping[str, str] | None = None, *, trickle_interval: float = 0.05,
                 endless_limit: int = 1 << 30) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.drop_after: dict[str, int] = dict(drop_after or {})
        self.behaviour: dict[str, str] = dict(behaviour or {})
        self.trickle_interval = trickle_interval
        self.endless_limit = endless_limit
        self.requests: list[str] = []
        self.sent = 0
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="medigan-weights-server", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        """The http:// URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    def __enter__(self) -> WeightsServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


def _handler(server: WeightsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            path = self.path.split("?", 1)[0]
            server.requests.append(path)
            data = server.files.get(path)
            if data is None:
                self.send_error(404, "no such file")
                return
            how = server.behaviour.get(path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if path.startswith("/api/records/") and
                             path.count("/") == 3 else "application/octet-stream")
            if how == "endless":
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                if how is not None:
                    self._misbehave(how, data)
                    return
                cut = server.drop_after.get(path)
                if cut is None:
                    self._send(data)
                    return
                self._send(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:  # the client hung up: what a bounded download does
                self.close_connection = True

        def _send(self, data: bytes) -> None:
            self.wfile.write(data)
            server.sent += len(data)

        def _misbehave(self, how: str, data: bytes) -> None:
            self.close_connection = True
            if how == "trickle":
                for i in range(len(data)):
                    if server._stopping.wait(server.trickle_interval):
                        return
                    self._send(data[i:i + 1])
                    self.wfile.flush()
            elif how == "stall":
                self._send(data[:1024])
                self.wfile.flush()
                server._stopping.wait(120)
            elif how == "endless":
                piece, written = (data or b"\0") * max(1, 65536 // max(1, len(data))), 0
                while written < server.endless_limit and not server._stopping.is_set():
                    self._send(piece)
                    written += len(piece)
            else:
                raise ValueError(f"unknown behaviour {how!r}")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature of the base class
            pass

    return Handler


class RecordServer(WeightsServer):
    """A fake Zenodo record API: ``records`` maps record ids to ``{file name: bytes}`` (a context manager).

    ``GET /api/records/<id>`` answers ``{"id": …, "files": [{"key", "size", "checksum": "md5:…", "links":
    {"self": …}}]}`` and each file is served at ``/api/records/<id>/files/<key>/content``, the link the record
    gives. The published md5 and size are those of the bytes given here; to serve other bytes under the same
    record (a tampered or truncated file), change ``server.files[server.file_path(id, key)]`` afterwards. All of
    :class:`WeightsServer`'s misbehaviours apply to those paths too.
    """

    def __init__(self, records: Mapping[int | str, Mapping[str, bytes]], **options) -> None:
        super().__init__(**options)
        self.records = {str(record): dict(files) for record, files in records.items()}
        for record, files in self.records.items():
            listing = [{"id": f"{record}-{i}", "key": key, "size": len(data),
                        "checksum": "md5:" + hashlib.md5(data, usedforsecurity=False).hexdigest(),
                        "links": {"self": self.url(self.file_path(record, key))}}
                       for i, (key, data) in enumerate(files.items())]
            self.files[self.record_path(record)] = json.dumps({"id": int(record), "doi": f"10.5281/zenodo.{record}",
                                                               "files": listing}).encode()
            for key, data in files.items():
                self.files[self.file_path(record, key)] = data

    @property
    def base_url(self) -> str:
        """What ``MEDIGAN_ZENODO_URL`` is set to for this server."""
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def record_path(record: int | str) -> str:
        return f"/api/records/{record}"

    @staticmethod
    def file_path(record: int | str, key: str) -> str:
        return f"/api/records/{record}/files/{key}/content"


class HubServer(WeightsServer):
    """A fake Hugging Face Hub (a context manager): ``repos`` maps ``"org/repo"`` to ``{commit sha: {path: bytes}}``.

    ``refs`` maps ``"org/repo"`` to ``{branch: commit}`` (a branch resolves to its commit, as on the Hub). Files whose
    name ends in one of ``lfs_suffixes`` are LFS files: the Hub answers them with a 302 to ``server.cdn`` (another
    server, so huggingface_hub stops there and reads the metadata of the redirect) carrying ``X-Linked-Etag`` = the
    sha256 and ``X-Linked-Size``; other files are served directly with their git blob sha1 as ``ETag``. Unknown
    repositories, revisions and files get a 404 with the ``X-Error-Code`` the Hub sends. ``gated`` lists
    repositories that answer 401 unless the request carries ``Authorization: Bearer <token>``. The CDN is a
    :class:`WeightsServer` whose misbehaviours apply to ``/lfs/<sha256>`` paths.
    """

    LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack", ".ts")

    def __init__(self, repos: Mapping[str, Mapping[str, Mapping[str, bytes]]], *,
                 refs: Mapping[str, Mapping[str, str]] | None = None, lfs_suffixes: tuple[str, ...] | None = None,
                 gated: Mapping[str, str] | None = None, **options) -> None:
        super().__init__(**options)
        self.repos = {repo: {rev: dict(files) for rev, files in revisions.items()} for repo, revisions in repos.items()}
        self.refs = {repo: dict(branches) for repo, branches in (refs or {}).items()}
        self.lfs_suffixes = tuple(lfs_suffixes if lfs_suffixes is not None else self.LFS_SUFFIXES)
        self.gated = dict(gated or {})
        self.cdn = WeightsServer()
        for revisions in self.repos.values():
            for files in revisions.values():
                for name, data in files.items():
                    if self.is_lfs(name):
                        self.cdn.files[self.lfs_path(data)] = data

    @property
    def base_url(self) -> str:
        """What ``HF_ENDPOINT`` is set to for this server."""
        return f"http://127.0.0.1:{self.port}"

    def is_lfs(self, name: str) -> bool:
        return name.endswith(self.lfs_suffixes)

    @staticmethod
    def lfs_path(data: bytes) -> str:
        return f"/lfs/{hashlib.sha256(data).hexdigest()}"

    def __enter__(self) -> HubServer:
        self.cdn.__enter__()
        return super().__enter__()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        super().__exit__(kind, error, tb)
        self.cdn.__exit__(kind, error, tb)

    def resolve(self, path: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the Hub's answer to ``/<org>/<repo>/resolve/<revision>/<file>``."""
        from urllib.parse import unquote

        parts = path.split("/")
        if len(parts) < 6 or parts[0] or parts[3] != "resolve":
            return 404, {"X-Error-Code": "EntryNotFound"}, b""
        repo, revision, name = f"{parts[1]}/{parts[2]}", unquote(parts[4]), unquote("/".join(parts[5:]))
        if repo not in self.repos:
            return 401, {"X-Error-Code": "RepoNotFound"}, b""  # the Hub answers 401 for unknown repositories
        if repo in self.gated and authorization != f"Bearer {self.gated[repo]}":
            return 401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to this repository is restricted"}, b""
        commit = self.refs.get(repo, {}).get(revision, revision)
        files = self.repos[repo].get(commit)
        if files is None:
            return 404, {"X-Error-Code": "RevisionNotFound"}, b""
        data = files.get(name)
        if data is None:
            return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}, b""
        headers = {"X-Repo-Commit": commit}
        if self.is_lfs(name):
            sha = hashlib.sha256(data).hexdigest()
            headers.update({"Location": self.cdn.url(self.lfs_path(data)), "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                            "X-Linked-Size": str(len(data)), "Content-Length": "0"})
            return 302, headers, b""
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
        headers.update({"ETag": f'"{blob}"', "Content-Length": str(len(data))})
        return 200, headers, data

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class HubHandler(_handler(self)):
            def do_HEAD(self) -> None:  # noqa: N802 - the name http.server dispatches to
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path = self.path.split("?", 1)[0]
                hub.requests.append(f"{self.command} {path}")
                status, headers, data = hub.resolve(path, self.headers.get("Authorization"))
                self.send_response(status)
                headers.setdefault("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if body and data:
                    try:
                        self._send(data)
                    except OSError:
                        self.close_connection = True

        return HubHandler
