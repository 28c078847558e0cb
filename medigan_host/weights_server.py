"""A local HTTP server that serves weights files from memory, for download tests of the host and of plugins."""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class WeightsServer:
    """Serves files held in memory over HTTP on 127.0.0.1, in a background thread (a context manager).

    ``files`` maps URL paths (``"/g.safetensors"``) to bytes; more can be added to ``server.files`` while it
    runs. ``drop_after`` maps a path to a byte count: its response announces the full ``Content-Length`` but the
    connection is closed after that many bytes, like a server that dies mid-download. ``requests`` lists the
    paths asked for, so a test can show that nothing was downloaded.
    """

    def __init__(self, files: Mapping[str, bytes] | None = None, drop_after: Mapping[str, int] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.drop_after: dict[str, int] = dict(drop_after or {})
        self.requests: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="medigan-weights-server", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        """The http:// URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def __enter__(self) -> WeightsServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
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
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            cut = server.drop_after.get(path)
            if cut is None:
                self.wfile.write(data)
                return
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature of the base class
            pass

    return Handler
