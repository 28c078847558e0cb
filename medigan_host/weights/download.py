"""Downloading: one bounded, streamed download of a URL into a temporary file (size bound, stall timeout,
overall deadline), the lock that lets several processes download a file once, the room check, what killed
downloads left behind, the progress bar, and what a network failure was, in a few words."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..cards import ModelCard
from ..errors import MediganUsageError, WeightsError
from .cache import CACHE_ENV, cache_root, version_folder

_DOWNLOAD_CHUNK = 1 << 16


#: The longest a network failure's own text may take in a message (urllib3 nests its reasons several times over).
NETWORK_REASON_CHARS = 160


def network_reason(exc: BaseException) -> str:
    """What went wrong on the network, in a few words: the innermost cause urllib3 and requests wrap (name
    resolution, a refused connection, a timeout, TLS, an HTTP status), else the error's own first line, shortened."""
    import socket
    import ssl

    chain: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo and len(chain) < 20:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is seen for seen in chain):
            continue
        chain.append(current)
        todo += [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
    text = " ".join(str(e) for e in chain).lower()
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"the server answered HTTP {response.status_code} {getattr(response, 'reason', '') or ''}".rstrip()
    if any(isinstance(e, socket.gaierror) for e in chain) or "name resolution" in text or "failed to resolve" in text \
            or "name or service not known" in text or "nodename nor servname" in text:
        return "the server's name could not be resolved (no network, or no DNS)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return "the connection was refused"
    if any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain) or "timed out" in text:
        return "no answer in time (timed out)"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "certificate" in text:
        return "the secure (TLS) connection failed"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "connection reset" in text:
        return "the connection was reset"
    first = (str(exc).splitlines() or [""])[0]
    first = first if len(first) <= NETWORK_REASON_CHARS else first[:NETWORK_REASON_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _is_network_error(exc: BaseException) -> bool:
    import requests
    import urllib3

    return isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError, OSError))


def _stalled(exc: BaseException) -> bool:
    import requests
    import urllib3

    return isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError))


def _broke_off(exc: BaseException) -> bool:
    import requests
    import urllib3

    return isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError,
                            urllib3.exceptions.ReadTimeoutError))


# -- downloads with bounds -----------------------------------------------------------------------------------
#: Seconds a download may go without receiving a byte before it is given up (the stall timeout).
STALL_ENV = "MEDIGAN_DOWNLOAD_STALL_TIMEOUT"
#: Seconds one download may take in all (the overall deadline), however steadily the bytes trickle in.
DEADLINE_ENV = "MEDIGAN_DOWNLOAD_DEADLINE"
DEFAULT_STALL_TIMEOUT = 60.0
DEFAULT_DEADLINE = 6 * 3600.0
_CONNECT_TIMEOUT = 15.0


class _DownloadRefused(Exception):
    """A download stopped by one of its bounds (size, deadline); its text completes 'the download of URL …'."""


def download_limits() -> tuple[float, float]:
    """(stall timeout, overall deadline) in seconds, from ``MEDIGAN_DOWNLOAD_STALL_TIMEOUT`` / ``MEDIGAN_DOWNLOAD_DEADLINE``."""
    return _seconds(STALL_ENV, DEFAULT_STALL_TIMEOUT), _seconds(DEADLINE_ENV, DEFAULT_DEADLINE)


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not (seconds > 0 and seconds != float("inf")):
        raise MediganUsageError(f"{name}={value!r} is not a positive number of seconds; set it to e.g. 60, or unset it")
    return seconds


#: The most bytes one download may bring when neither the card nor the server's record declares the file's size.
MAX_BYTES_ENV = "MEDIGAN_DOWNLOAD_MAX_BYTES"
DEFAULT_MAX_BYTES = 20 << 30
#: Room a download always leaves free on the cache disk.
DISK_MARGIN = 256 << 20


@dataclass(frozen=True)
class _Bound:
    """The most bytes a download may bring, and what the refusal says that number is."""

    limit: int
    what: str


def download_max_bytes() -> int:
    """``MEDIGAN_DOWNLOAD_MAX_BYTES`` (default 20 GiB): the bound of a download whose size nothing declares."""
    value = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_BYTES
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise MediganUsageError(f"{MAX_BYTES_ENV}={value!r} is not a positive whole number of bytes; set it to e.g. "
                                f"{DEFAULT_MAX_BYTES} (20 GiB), or unset it")
    return int(value)


def _undeclared_bound(target: Path) -> _Bound:
    """The bound of a download of unknown size: :func:`download_max_bytes`, never more than the free disk less
    :data:`DISK_MARGIN`."""
    most = download_max_bytes()
    try:
        room = shutil.disk_usage(target.parent).free - DISK_MARGIN
    except OSError:
        room = most
    if room < most:
        return _Bound(max(room, 0), f"the disk of {target.parent} has free (less a margin of {DISK_MARGIN >> 20} MiB); "
                                    "free some space or set MEDIGAN_CACHE_DIR to a disk with room")
    return _Bound(most, f"medigan downloads when neither the card nor the server declares the size ({MAX_BYTES_ENV}; "
                        "raise it for a larger file)")


def _stream(url: str, tmp: Path, bound: _Bound, name: str, progress: bool | None,
            headers: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Download ``url`` into ``tmp`` within the bounds; return (size, md5, sha256) of what was written.

    ``headers`` go with the request (a Hub token); requests drops ``Authorization`` when a redirect leaves the host.
    """
    import requests

    stall, deadline = download_limits()
    started = time.monotonic()
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    received = 0
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    with requests.get(url, stream=True, timeout=(min(_CONNECT_TIMEOUT, stall), stall),
                      headers={**(headers or {}), "Accept-Encoding": "identity"}) as response:
        response.raise_for_status()
        announced = response.headers.get("Content-Length", "")
        announced_size = int(announced) if announced.isdigit() else None
        limit = bound.limit
        if announced_size is not None and announced_size > limit:
            raise _DownloadRefused(f"announces {announced_size:,} bytes, more than the {limit:,} bytes {bound.what}; "
                                   "it was not downloaded")
        try:
            if show:
                bar = _ProgressBar(name, announced_size or limit)
            with open(tmp, "wb") as handle:
                while True:
                    if time.monotonic() - started > deadline:
                        raise _DownloadRefused(f"took longer than the {deadline:g} s deadline ({DEADLINE_ENV}) after "
                                               f"{received:,} bytes, so it was stopped")
                    chunk = response.raw.read1(_DOWNLOAD_CHUNK, decode_content=True)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > limit:
                        raise _DownloadRefused(f"sent more than the {limit:,} bytes {bound.what}, so it was stopped "
                                               "there")
                    handle.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return received, md5.hexdigest(), sha.hexdigest()


class _ProgressBar:
    """A tqdm bar on stderr (``total``, ``update``, ``reset``, ``close``).

    Always true in a boolean test: a tqdm whose total is still 0 is falsy.
    """

    def __init__(self, filename: str, size: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=size, desc=filename, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                         leave=True, ascii=os.name == "nt")

    def __bool__(self) -> bool:
        return True

    @property
    def total(self) -> float | None:
        return self._bar.total

    @total.setter
    def total(self, value: int) -> None:
        self._bar.total = value or self._bar.total  # servers that send no Content-Length report 0
        self._bar.refresh()

    def update(self, n: int) -> None:
        self._bar.update(n)

    def reset(self) -> None:
        self._bar.reset(total=self._bar.total)

    def close(self) -> None:
        self._bar.close()


def _check_room(card: ModelCard, entry: Mapping[str, Any], target: Path, size: int | None) -> None:
    if not size:
        return
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        return
    if free - DISK_MARGIN < size:
        raise WeightsError(f"disk full: {target.parent} has {free:,} bytes free, but {entry['filename']!r} of model "
                           f"{card.id!r} needs {size:,} (and medigan leaves {DISK_MARGIN >> 20} MiB free); nothing was "
                           f"downloaded. Free some space or set {CACHE_ENV} to a disk with room")


def _remove_partials(target: Path) -> None:
    """Delete what killed downloads of ``target`` left (called with its download lock held, so none is live)."""
    prefix = f".{target.name}."
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*{atomic.TMP_SUFFIX}"):
        if leftover.name.startswith(prefix) and leftover.name[len(prefix):-len(atomic.TMP_SUFFIX)].isdigit():
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _download_lock(card: ModelCard, entry: Mapping[str, Any], target: Path) -> Iterator[None]:
    """One download of a file at a time, across processes: a lock file under ``<cache>/.locks/``."""
    import filelock

    lock_path = cache_root() / ".locks" / card.id / version_folder(card.version) / f"{entry['filename']}.lock"
    stall, deadline = download_limits()
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(lock_path), timeout=deadline + stall)
        lock.acquire()
    except filelock.Timeout:
        raise WeightsError(f"model {card.id!r}: another process has been downloading {entry['filename']!r} for longer "
                           f"than the download deadline ({DEADLINE_ENV}); if none is running, delete {lock_path} and try "
                           "again") from None
    except OSError as exc:
        if atomic.is_disk_full(exc):
            raise WeightsError(f"disk full: cannot create the download lock {lock_path}: {exc}; free some space or set "
                               f"{CACHE_ENV} to a disk with room") from exc
        raise WeightsError(f"cannot create the weights cache folder {lock_path.parent}: {exc}; set {CACHE_ENV} to a "
                           "writable folder") from exc
    try:
        yield
    finally:
        lock.release()
