"""The settings of `medigan serve` and the rules they must keep: loopback by default, a token for any other bind."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MediganUsageError

#: The environment variable that gives the token when ``--token`` is not given.
TOKEN_ENV = "MEDIGAN_SERVE_TOKEN"
#: Shortest token accepted: a guessable token is no protection.
MIN_TOKEN_LENGTH = 16
DEFAULT_MAX_SAMPLES = 1000
DEFAULT_MAX_RUNS = 2
DEFAULT_MAX_REQUEST_MB = 64.0
ENGINES = ("local", "ray")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class ServeConfig:
    """What `medigan serve` was started with (see :meth:`checked`)."""

    runs: Path
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    trust_remote_code: bool = False
    max_samples: int = DEFAULT_MAX_SAMPLES
    max_runs: int = DEFAULT_MAX_RUNS
    max_request_bytes: int = int(DEFAULT_MAX_REQUEST_MB * 2**20)
    batch_size: int = 16
    device: str = "auto"
    engine: str = "local"
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    #: Grid sizes the card view may ask for.
    max_grid: int = 16
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @classmethod
    def checked(cls, runs: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
                **options: object) -> ServeConfig:
        """The settings, or a MediganUsageError saying what is wrong and what to do.

        The token is ``token``, else ``MEDIGAN_SERVE_TOKEN``; it is required unless ``host`` is a loopback address."""
        if not isinstance(host, str) or not host.strip():
            raise MediganUsageError("--host must be an address or host name to listen on, e.g. 127.0.0.1")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise MediganUsageError(f"--port must be a port number from 0 to 65535, got {port!r}")
        if token is None:
            token = os.environ.get(TOKEN_ENV) or None
        if token is not None:
            token = token.strip()
            if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token) or not token.isprintable():
                raise MediganUsageError(f"the token must be at least {MIN_TOKEN_LENGTH} printable characters without spaces; "
                                        "make one with: python -c 'import secrets; print(secrets.token_urlsafe())'")
        if token is None and not is_loopback(host):
            raise MediganUsageError(f"listening on {host!r} lets other machines reach the server: give a token with --token "
                                    f"or {TOKEN_ENV} (every request must then carry it), or listen on 127.0.0.1")
        for name in ("max_samples", "max_runs", "batch_size", "max_grid"):
            value = options.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise MediganUsageError(f"--{name.replace('_', '-')} must be a whole number of at least 1, got {value!r}")
        size = options.get("max_request_bytes")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1024):
            raise MediganUsageError(f"the request size limit must be at least 1 KiB, got {size!r} bytes")
        engine = options.get("engine", "local")
        if engine not in ENGINES:
            raise MediganUsageError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
        if engine == "local":
            given = [f"--{name.replace('_', '-')}" for name in ("address", "workers", "gpus_per_worker") if options.get(name) is not None]
            if given:
                raise MediganUsageError(f"{', '.join(given)} only apply to the ray engine; add --engine ray")
        path = Path(runs).expanduser()
        if path.exists() and not path.is_dir():
            raise MediganUsageError(f"--runs {str(path)!r} is a file; give a folder for the runs")
        settings = {k: v for k, v in options.items() if v is not None}
        return cls(runs=path, host=host.strip(), port=port, token=token, **settings)  # type: ignore[arg-type]

    def limits(self) -> dict[str, object]:
        """The limits a client may ask about (``GET /api/server``)."""
        return {"max_samples": self.max_samples, "max_runs": self.max_runs, "max_request_bytes": self.max_request_bytes,
                "max_grid": self.max_grid}
