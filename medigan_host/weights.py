"""Model weights: fetched once into a per-user cache, verified every time they are used.

A card's ``weights`` entry says where a file comes from:

- ``{"url": "https://…", "sha256": …}`` (``size`` and ``filename`` optional): downloaded into
  ``<cache>/<model id>/<version>/<filename>``;
- ``{"doi": "10.5281/zenodo.<record>", "filename": …}`` (``sha256`` and ``size`` optional): the file of that
  Zenodo record, found through the record API at ``MEDIGAN_ZENODO_URL`` (default https://zenodo.org). Without a
  pinned sha256 it is checked against the md5 and size the record publishes, and the sha256 of the verified file is
  recorded beside it (``<file>.sha256``), so every later use is checked like a pinned file;
- ``{"hf": "org/repo", "revision": "<commit sha>", "filename": "path/in/repo", "sha256": …}`` (``size``
  optional): a file of a Hugging Face Hub repository at a pinned commit, resolved through ``huggingface_hub`` (its
  ``HF_ENDPOINT`` for mirrors, its token for gated repositories, its ``HF_HUB_OFFLINE``). A copy already in the Hub
  cache of ``huggingface_hub`` is used where it lies once its sha256 matches; otherwise the file is downloaded into
  medigan's cache like every other file (same bounds, lock and verification);
- ``file:///absolute/path``: a local copy (e.g. on a shared drive), verified where it lies, never copied or deleted;
- ``package://<python.package>/<path/in/package>``: a file shipped inside an installed plugin, verified where it lies;
- ``{"folder": "/absolute/path" or "file:///absolute/path", "sha256": …}``: a local folder of files (a diffusers
  ``save_pretrained`` folder), used where it lies once the digest of its files (:func:`folder_sha256`) matches;
  :func:`fetch_weights` returns the folder.

The cache folder is ``MEDIGAN_CACHE_DIR`` or the per-user cache folder of the platform. ``MEDIGAN_OFFLINE=1`` forbids
downloads. A download goes to a temporary name and is renamed into place only after it was verified, so an
interrupted or corrupted download never leaves a file that is later taken for good; a file whose hash does not match
is deleted and the error says so. Downloads are bounded: never more bytes than the card or record declares, a stall
timeout (``MEDIGAN_DOWNLOAD_STALL_TIMEOUT``) and an overall deadline (``MEDIGAN_DOWNLOAD_DEADLINE``); several
processes asking for the same file download it once (a lock under ``<cache>/.locks``), and what killed downloads
left behind is removed by the next download of that file. Plugins that convert weights themselves (from an original
checkpoint whose hash nobody published) keep them in the same cache with :func:`store_weights` /
:func:`stored_weights`, which record the file's sha256 beside it and check it on every use.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from . import atomic
from .cards import ZENODO_DOI, ModelCard, safe_filename
from .errors import MediganUsageError, WeightsError

CACHE_ENV = "MEDIGAN_CACHE_DIR"
OFFLINE_ENV = "MEDIGAN_OFFLINE"
#: A locally stored file's sha256 lives beside it in ``<file>.sha256``, in the format of ``sha256sum``.
RECORD_SUFFIX = ".sha256"
_CHUNK = 1 << 20
_DOWNLOAD_CHUNK = 1 << 16
_MODEL_FOLDER = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
#: The file medigan puts in each ``<cache>/<model>/<version>/`` folder it creates: only folders holding it are
#: listed and cleared, so a folder someone else keeps in the cache folder is never touched.
ENTRY_MARKER = ".medigan-entry"
#: The sub-folder of an entry where code unpacked from a model's archive lives (listed as ``unpacked``, cleared with it).
UNPACKED_FOLDER = "code"
#: The real-set statistics cache of :mod:`medigan_host.evaluation`: ``<cache>/stats/<sha256 key>.npz``.
STATS_FOLDER = "stats"
_STATS_FILE = re.compile(r"^[0-9a-f]{64}\.npz$")


# -- where things live --------------------------------------------------------------------------------
def cache_root() -> Path:
    """The weights cache: ``MEDIGAN_CACHE_DIR``, else the per-user cache folder (``~/.cache/medigan`` on Linux)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("medigan", appauthor=False)


def is_offline() -> bool:
    """True when ``MEDIGAN_OFFLINE`` is set to 1/true/yes/on: nothing is downloaded."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def version_folder(version: str) -> str:
    """The folder name a card version is cached under (anything but letters, digits, ``.``, ``_``, ``+``, ``-`` → ``_``)."""
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", version)
    return name if name.strip(".") else f"v{name}"


def model_folder(card: ModelCard) -> Path:
    """``<cache>/<model id>/<version>``: where the weights of this model version are kept."""
    return cache_root() / card.id / version_folder(card.version)


def claim_folder(card: ModelCard) -> Path:
    """:func:`model_folder`, created if needed and marked as medigan's (so ``medigan cache clear`` may delete it)."""
    folder = model_folder(card)
    marker = folder / ENTRY_MARKER
    if not marker.is_file():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic.write_text(marker, f"medigan weights cache entry: model {card.id} version {card.version}\n")
        except OSError as exc:
            raise WeightsError(f"cannot create the weights cache folder {folder}: {exc.strerror or exc}; set {CACHE_ENV} "
                               "to a writable folder") from exc
    return folder


def _make_parent(card: ModelCard, target: Path) -> None:
    """Create ``target``'s folder inside the model's entry; each sub-folder medigan creates (Hub files keep their
    repository's folders) gets the entry marker too, so ``cache clear`` deletes only sub-folders medigan made."""
    folder = claim_folder(card)
    current = folder
    for part in target.parent.relative_to(folder).parts:
        current = current / part
        if not current.is_dir():
            current.mkdir()
            atomic.write_text(current / ENTRY_MARKER, f"medigan weights cache folder of model {card.id}\n")


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- fetching declared weights --------------------------------------------------------------------------
def fetch_weights(card: ModelCard, filename: str | None = None, *, progress: bool | None = None) -> Path:
    """A verified local copy of one of the card's ``weights`` files, downloaded on first use.

    ``filename`` picks the entry when the card lists several. ``progress`` shows a download bar on stderr
    (default: when stderr is a terminal). Every call checks the file's sha256 against the card (or, for a file of a
    DOI record whose card pins none, against the sha256 recorded when the file was verified against the record), so
    a cache file changed on disk is caught (and deleted) before a loader reads it.
    """
    entry = weights_entry(card, filename)
    if "hf" in entry:
        return _fetch_hub(card, entry, progress)
    if "folder" in entry:
        return _verified_folder(card, entry)
    if "doi" not in entry:
        scheme = urlsplit(entry["url"]).scheme
        if scheme == "package":
            return _verified_in_place(card, entry, _package_file(card, entry))
        if scheme == "file":
            return _verified_in_place(card, entry, _local_file(card, entry))
    target = model_folder(card) / entry["filename"]
    if target.is_file():
        _check_cached(card, entry, target)
        claim_folder(card)  # a cache filled before entries were marked becomes clearable on its next use
        return target
    if target.exists():
        raise WeightsError(f"{target} is in the way of model {card.id!r}'s weights file but is not a file; remove it "
                           f"(`medigan cache clear {card.id}`) and try again")
    if is_offline():
        raise WeightsError(f"model {card.id!r} needs weights that are not in the cache, and {OFFLINE_ENV} forbids "
                           f"downloading them. {placement(card, entry)}; or unset {OFFLINE_ENV}")
    claim_folder(card)
    with _download_lock(card, entry, target):
        if target.is_file():  # another process downloaded it while this one waited for the lock
            _check_cached(card, entry, target)
            return target
        return _download(card, entry, target, progress)


def weights_entry(card: ModelCard, filename: str | None = None) -> Mapping[str, Any]:
    """The card's weights entry named ``filename`` (or its only entry)."""
    entries = {entry["filename"]: entry for entry in card.weights}
    if not entries:
        raise WeightsError(f"model {card.id!r} declares no weights on its card (see `medigan info {card.id}`); its plugin "
                           "ships or converts them itself")
    if filename is None:
        if len(entries) > 1:
            raise MediganUsageError(f"model {card.id!r} has several weights files ({', '.join(entries)}): name one")
        return next(iter(entries.values()))
    if filename not in entries:
        raise MediganUsageError(f"model {card.id!r} has no weights file {filename!r}; its card lists: {', '.join(entries)}")
    return entries[filename]


def placement(card: ModelCard, entry: Mapping[str, Any]) -> str:
    """Where to put the file by hand: its name, checksum, size, source and the folder."""
    size = f", {entry['size']:,} bytes" if entry.get("size") else ""
    folder = model_folder(card)
    if "folder" in entry:
        return (f"It is the local folder {entry['folder']} (files digest {entry['sha256']}): restore that folder, or "
                "change the card's folder and sha256")
    if "hf" in entry:
        return (f"To use it without a download, get {entry['filename']!r} (sha256 {entry['sha256']}{size}) of "
                f"{entry['hf']} at commit {entry['revision']} ({hub_file_url(entry)}) and place it with `medigan cache "
                f"place {card.id} FILE --name {entry['filename']}`, or fetch it into the Hugging Face cache with "
                f"`hf download {entry['hf']} {entry['filename']} --revision {entry['revision']}`")
    if "doi" in entry:
        sha = f", sha256 {entry['sha256']}" if entry.get("sha256") else ""
        return (f"To use it without a download, get {entry['filename']!r}{sha}{size} from {_source(entry)} "
                f"({_page(entry)}) and place it with `medigan cache place {card.id} FILE`, or put it in the "
                f"folder {folder}")
    if not entry.get("sha256"):
        return (f"To use it without a download, get {entry['filename']!r} (md5 {entry['md5']}{size}) from {entry['url']} "
                f"and place it with `medigan cache place {card.id} FILE`, or put it in the folder {folder}")
    return (f"To use it without a download, get {entry['filename']!r} (sha256 {entry['sha256']}{size}) from "
            f"{entry['url']} and place it in the folder {folder} (or `medigan cache place {card.id} FILE`)")


def expected_sha256(card: ModelCard, entry: Mapping[str, Any]) -> str | None:
    """The sha256 a cached weights file must have: the card's, else the one recorded when it was verified; None if neither."""
    if entry.get("sha256"):
        return entry["sha256"]
    return _recorded_sha256(model_folder(card) / entry["filename"])


def _check_cached(card: ModelCard, entry: Mapping[str, Any], path: Path) -> None:
    if not entry.get("sha256"):
        _check_recorded(card, entry, path)
        return
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        path.unlink(missing_ok=True)
        raise WeightsError(f"cached weights file {path} of model {card.id!r} has sha256 {actual}, but the card says "
                           f"{entry['sha256']}: it was changed or corrupted on disk, so it was deleted. Run the command "
                           f"again to download a fresh copy (or `medigan fetch {card.id}`). {placement(card, entry)}")


def _check_recorded(card: ModelCard, entry: Mapping[str, Any], path: Path) -> None:
    """A cached file of a record: checked against the sha256 recorded beside it, or verified now if placed by hand."""
    expected = _recorded_sha256(path)
    if expected is None:
        _adopt_placed(card, entry, path)
        return
    actual = sha256_of(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        _record_path(path).unlink(missing_ok=True)
        raise WeightsError(f"cached weights file {path} of model {card.id!r} has sha256 {actual}, but {expected} was "
                           f"recorded when it was verified against {_source(entry)}: it was changed or corrupted "
                           f"on disk, so it was deleted. Run the command again to download a fresh copy (or "
                           f"`medigan fetch {card.id}`). {placement(card, entry)}")


def _adopt_placed(card: ModelCard, entry: Mapping[str, Any], path: Path) -> None:
    """A record's file put into the cache folder by hand: verified against the record when it can be reached."""
    size, md5, digest = _file_digests(path)
    published, why = _published_or_reason(card, entry)
    if published is not None:
        problem = _record_mismatch(published, size, md5)
        if problem:
            path.unlink(missing_ok=True)
            raise WeightsError(f"weights file {path} placed in the cache for model {card.id!r} {problem}, so it was "
                               f"deleted. {placement(card, entry)}")
    else:
        _declared_size_check(card, entry, path, size)
        raise WeightsError(f"{path} was put into the cache by hand and could not be checked against {_source(entry)} "
                           f"({why}), so it is not used. Run the command where the record can be reached (it is "
                           f"checked then), or place it on your word with `medigan cache place {card.id} {path} "
                           "--unverified` (runs using it say so in their run.json)")
    _write_record(path, digest)


def _declared_size_check(card: ModelCard, entry: Mapping[str, Any], path: Path, size: int) -> None:
    if entry.get("size") and size != entry["size"]:
        raise WeightsError(f"weights file {path} of model {card.id!r} has {size:,} bytes, but the card says "
                           f"{entry['size']:,}: it is not the published file and was not used. {placement(card, entry)}")


def _download(card: ModelCard, entry: Mapping[str, Any], target: Path, progress: bool | None) -> Path:
    published = _record_file(card, entry) if "doi" in entry or "md5" in entry else None
    headers: dict[str, str] = {}
    if "hf" in entry:
        published, headers = _hub_file(card, entry)
    url = published.url if published else entry["url"]
    limit = min((s for s in (entry.get("size"), published.size if published else None) if s), default=None)
    try:
        _make_parent(card, target)
    except OSError as exc:
        raise WeightsError(f"cannot create the weights cache folder {target.parent}: {exc}; set {CACHE_ENV} to a "
                           "writable folder") from exc
    _remove_partials(target)
    _check_room(card, entry, target, limit)
    bound = _Bound(limit, "the file has") if limit else _undeclared_bound(target)
    tmp = atomic.temporary_path(target)
    try:
        size, md5, digest = _stream(url, tmp, bound, entry["filename"], progress, headers)
    except _DownloadRefused as exc:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"model {card.id!r}: the download of {url} {exc}; nothing was kept. "
                           f"{placement(card, entry)}") from None
    except BaseException as exc:
        received = tmp.stat().st_size if tmp.exists() else 0
        tmp.unlink(missing_ok=True)
        if atomic.is_disk_full(exc):
            raise WeightsError(f"disk full: no space left in {target.parent} while downloading {entry['filename']!r} of "
                               f"model {card.id!r} after {received:,} bytes" + (f" of {limit:,}" if limit else "") +
                               f"; nothing was kept. Free some space or set {CACHE_ENV} to a disk with room, then run "
                               "the command again") from exc
        if not _is_network_error(exc):
            raise
        if _stalled(exc):
            what = (f"the download of {url} stalled: nothing arrived for {download_limits()[0]:g} s "
                    f"({STALL_ENV}) after {received:,} bytes, so it was given up")
        elif received or _broke_off(exc):
            what = f"the download of {url} broke off" + (f" after {received:,} bytes" if received else "")
        else:
            what = f"could not download {url}"
        raise WeightsError(f"model {card.id!r}: {what}: {network_reason(exc)}; nothing was kept. Check the network "
                           f"and run the command again. {placement(card, entry)}") from exc
    if entry.get("sha256"):
        if digest != entry["sha256"]:
            tmp.unlink(missing_ok=True)
            expected_size = f", {entry['size']:,} bytes" if entry.get("size") else ""
            raise WeightsError(f"model {card.id!r}: the file downloaded from {url} has sha256 {digest} ({size:,} bytes), "
                               f"but the card says {entry['sha256']}{expected_size}: it was truncated, corrupted or replaced, "
                               f"so it was deleted and nothing was kept. Run the command again; if it keeps failing, the "
                               f"file on the server differs from the one the card was made for: tell the plugin's authors")
    else:
        problem = _record_mismatch(published, size, md5) if published else None
        if problem is None and entry.get("size") and size != entry["size"]:
            problem = f"has {size:,} bytes, but the card says {entry['size']:,}"
        if problem:
            tmp.unlink(missing_ok=True)
            raise WeightsError(f"model {card.id!r}: the file {entry['filename']!r} checked against "
                               f"{_source(entry)} ({_page(entry)}) {problem}: it was truncated, corrupted or "
                               "replaced, so it was deleted and nothing was kept. Run the command again; if it keeps "
                               "failing, tell the plugin's authors")
        _write_record(target, digest)  # before the file: a file in place always has its record
    os.replace(tmp, target)
    return target


def _record_mismatch(published: RecordFile, size: int, md5: str) -> str | None:
    """What is wrong with a file of ``size`` bytes and ``md5`` against the record's published facts (None: nothing)."""
    if published.size is not None and size != published.size:
        return f"has {size:,} bytes, but record {published.record} publishes {published.size:,} (md5 {published.md5})"
    if published.md5 is not None and md5 != published.md5:
        return f"has md5 {md5}, but record {published.record} publishes md5 {published.md5}"
    return None


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
                           "downloaded. Free some space or set {CACHE_ENV} to a "
                           "disk with room")


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


# -- DOI records (Zenodo) ------------------------------------------------------------------------------------
ZENODO_ENV = "MEDIGAN_ZENODO_URL"
ZENODO_DEFAULT = "https://zenodo.org"
_RECORD_MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class RecordFile:
    """One file of a record as the repository publishes it: its key, md5, size and download link."""

    record: str
    key: str
    md5: str | None
    size: int | None
    url: str


def zenodo_url() -> str:
    """The base URL of the Zenodo-compatible API asked for records: ``MEDIGAN_ZENODO_URL`` or https://zenodo.org."""
    value = os.environ.get(ZENODO_ENV, "").strip() or ZENODO_DEFAULT
    if not re.match(r"^https?://[^/\s]+", value):
        raise MediganUsageError(f"{ZENODO_ENV}={value!r} is not an http(s):// URL; set it to e.g. {ZENODO_DEFAULT}")
    return value.rstrip("/")


def record_id(entry: Mapping[str, Any]) -> str:
    """The Zenodo record id of a weights entry's DOI (``10.5281/zenodo.7031735`` → ``7031735``)."""
    match = ZENODO_DOI.match(entry["doi"])
    if match is None:  # cards are validated; this guards entries built by hand
        raise MediganUsageError(f"{entry['doi']!r} is not a Zenodo DOI like '10.5281/zenodo.7031735'")
    return match.group(1)


def _source(entry: Mapping[str, Any]) -> str:
    """What a file without a pinned sha256 is checked against: its DOI record, or the md5 published with its url."""
    return f"record {record_id(entry)}" if "doi" in entry else f"the md5 published for {entry['url']}"


def _page(entry: Mapping[str, Any]) -> str:
    return landing_page(entry) if "doi" in entry else entry["url"]


def landing_page(entry: Mapping[str, Any]) -> str:
    """The DOI's landing page, where a person can download the file by hand."""
    return f"https://doi.org/{entry['doi']}"


def _record_file(card: ModelCard, entry: Mapping[str, Any]) -> RecordFile:
    """Ask the record API for the entry's file: its md5, size and download link (WeightsError when it cannot)."""
    published, why = _published_or_reason(card, entry)
    if published is None:
        raise WeightsError(f"model {card.id!r}: {why}. Check the network (or {ZENODO_ENV}) and run the command again. "
                           f"{placement(card, entry)}")
    return published


def _published_or_reason(card: ModelCard, entry: Mapping[str, Any]) -> tuple[RecordFile | None, str]:
    import requests

    if "doi" not in entry:  # a url whose publisher gives its md5 (e.g. a MONAI bundle's large_files.yml)
        return RecordFile(entry["url"], entry["filename"], entry["md5"], entry.get("size"), entry["url"]), ""
    record = record_id(entry)
    api = f"{zenodo_url()}/api/records/{record}"
    if is_offline():
        return None, f"{OFFLINE_ENV} forbids asking {api}"
    stall, _ = download_limits()
    try:
        with requests.get(api, stream=True, timeout=(min(_CONNECT_TIMEOUT, stall), stall),
                          headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            body = response.raw.read(_RECORD_MAX_BYTES + 1, decode_content=True)
        if len(body) > _RECORD_MAX_BYTES:
            return None, f"the answer of {api} is larger than {_RECORD_MAX_BYTES:,} bytes, which no record is"
        files = json.loads(body)["files"]
    except Exception as exc:  # noqa: BLE001 - every failure to read the record is reported the same way
        return None, f"could not read record {record} of {entry['filename']!r} from {api}: {network_reason(exc)}"
    published = _find_file(record, entry["filename"], files, api)
    if isinstance(published, str):
        return None, published
    return published, ""


def _find_file(record: str, key: str, files: Any, api: str) -> RecordFile | str:
    if not isinstance(files, list):
        return f"{api} lists no files"
    keys = []
    for item in files:
        if not isinstance(item, Mapping):
            continue
        keys.append(str(item.get("key")))
        if item.get("key") != key:
            continue
        checksum = item.get("checksum")
        md5 = checksum[4:].lower() if isinstance(checksum, str) and checksum.lower().startswith("md5:") else None
        size = item.get("size") if isinstance(item.get("size"), int) and item.get("size") > 0 else None
        links = item.get("links") if isinstance(item.get("links"), Mapping) else {}
        link = links.get("self") or links.get("content") or links.get("download")
        if not isinstance(link, str) or urlsplit(urljoin(api, link)).scheme not in ("http", "https"):
            return f"record {record} gives no http(s) download link for {key!r}"
        return RecordFile(record, key, md5, size, urljoin(api, link))
    return f"record {record} has no file {key!r} (it has: {', '.join(keys) or 'none'})"


# -- placing a file by hand ------------------------------------------------------------------------------------
def place_weights(card: ModelCard, source: Path, filename: str | None = None, *,
                  unverified: bool = False) -> tuple[Path, str]:
    """Copy ``source`` into the cache as the card's weights file ``filename`` (default: the entry its name matches,
    or the card's only entry), after checking it; return the placed path and how it was checked.

    A card's sha256 must match. A file of a record without one is checked against the record's md5 and size when the
    record can be reached; otherwise (offline) it is refused, unless ``unverified`` (``--unverified``): then it is
    placed on the user's word, its sha256 recorded with a note saying so, and every run that uses it names it in its
    provenance (``run.json``'s ``unverified_weights``; see :func:`unverified_weights`).
    """
    source = Path(source)
    if not source.is_file():
        raise MediganUsageError(f"{source} is not a file; give the path of the downloaded weights file")
    if filename is None and len(card.weights) > 1 and any(e["filename"] == source.name for e in card.weights):
        filename = source.name
    entry = weights_entry(card, filename)
    size, md5, digest = _file_digests(source)
    note = None
    if entry.get("sha256"):
        if digest != entry["sha256"]:
            raise WeightsError(f"{source} has sha256 {digest}, but model {card.id!r}'s card says {entry['sha256']} for "
                               f"{entry['filename']!r}: it is not that file; nothing was placed")
        how = "its sha256 matches the card"
    else:
        published, why = _published_or_reason(card, entry)
        if published is not None:
            problem = _record_mismatch(published, size, md5)
            if problem:
                raise WeightsError(f"{source} {problem}: it is not {entry['filename']!r} of {_source(entry)}; "
                                   "nothing was placed")
            how = f"its md5 and size match {_source(entry)}"
        else:
            if entry.get("size") and size != entry["size"]:
                raise WeightsError(f"{source} has {size:,} bytes, but model {card.id!r}'s card says {entry['size']:,} "
                                   f"for {entry['filename']!r}; nothing was placed")
            if not unverified:
                raise WeightsError(f"{source} could not be checked against {_source(entry)} ({why}), so nothing was "
                                   f"placed: its code or weights would run unchecked. Place it where the record can be "
                                   f"reached, or add --unverified (Python: unverified=True) to place it on your word; "
                                   "every run that uses it then says so in its run.json")
            how = (f"NOT checked against {_source(entry)} ({why}); placed on your word (--unverified): its sha256 "
                   f"{digest} is recorded, and runs using it name it in run.json as unverified_weights")
            note = f"not checked against {_source(entry)} ({why})"
    target = model_folder(card) / entry["filename"]
    _copy_into_cache(card, source, target, digest, record=not entry.get("sha256"), note=note)
    return target, how


_UNVERIFIED_NOTE = "# placed unverified"


def unverified_weights(card: ModelCard) -> list[str]:
    """The card's weights files in the cache that were placed with ``--unverified`` (never checked against their
    record): a run that uses them records their names in its provenance."""
    out = []
    for entry in card.weights:
        try:
            text = _record_path(model_folder(card) / entry["filename"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if _UNVERIFIED_NOTE in text:
            out.append(entry["filename"])
    return out


def _file_digests(path: Path) -> tuple[int, str, str]:
    """(size, md5, sha256) of a file, read once."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, md5.hexdigest(), sha.hexdigest()


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


def _verified_in_place(card: ModelCard, entry: Mapping[str, Any], path: Path) -> Path:
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise WeightsError(f"weights file {path} of model {card.id!r} has sha256 {actual}, but the card says "
                           f"{entry['sha256']}: the file was modified or the installation is damaged. It was left as it "
                           "is (medigan deletes only files in its own cache); reinstall the plugin or restore the file")
    return path


def folder_sha256(folder: str | os.PathLike[str]) -> str:
    """The digest of a folder's files: the sha256 of the lines ``<sha256 of the file>  <path/in/folder>``, one per file
    (hidden names, starting with '.', left out), sorted by path. Renaming, adding, removing or changing a file changes it."""
    root = Path(folder)
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        lines.append(f"{sha256_of(path)}  {relative}\n")
    return hashlib.sha256("".join(sorted(lines, key=lambda line: line[66:])).encode("utf-8")).hexdigest()


def _verified_folder(card: ModelCard, entry: Mapping[str, Any]) -> Path:
    text = entry["folder"]
    path = Path(unquote(urlsplit(text).path)) if text.startswith("file://") else Path(text)
    if not path.is_dir():
        raise WeightsError(f"model {card.id!r}: its weights folder {path} does not exist or is not a folder; restore it "
                           "there, or change the card's folder")
    actual = folder_sha256(path)
    if actual != entry["sha256"]:
        raise WeightsError(f"weights folder {path} of model {card.id!r} has files digest {actual}, but the card says "
                           f"{entry['sha256']}: a file in it was added, removed or changed. It was left as it is; restore "
                           "the folder, or pin the new digest on the card if the change was yours")
    return path


def _local_file(card: ModelCard, entry: Mapping[str, Any]) -> Path:
    path = Path(unquote(urlsplit(entry["url"]).path))
    if not path.is_file():
        raise WeightsError(f"model {card.id!r}: weights file {path} (from {entry['url']}) does not exist; restore it there, "
                           f"or change the card's weights url")
    return path


def _package_file(card: ModelCard, entry: Mapping[str, Any]) -> Path:
    """Resolve ``package://pkg/sub/file`` inside the installed package (copied into the cache for zipped installs)."""
    import importlib.resources

    parts = urlsplit(entry["url"])
    package, relative = parts.netloc, [unquote(p) for p in parts.path.split("/") if p]
    try:
        resource = importlib.resources.files(package).joinpath(*relative)
    except (ModuleNotFoundError, TypeError) as exc:
        raise WeightsError(f"model {card.id!r}: weights url {entry['url']} names package {package!r}, which cannot be "
                           f"imported ({exc}); reinstall the plugin") from exc
    if not resource.is_file():
        raise WeightsError(f"model {card.id!r}: the installed package {package!r} has no file {'/'.join(relative)} "
                           f"(from {entry['url']}); reinstall the plugin")
    if isinstance(resource, Path):
        return resource
    target = model_folder(card) / entry["filename"]  # a zipped install: keep a verified copy in the cache
    if not target.is_file() or sha256_of(target) != entry["sha256"]:
        _make_parent(card, target)
        atomic.write_bytes(target, resource.read_bytes())
    return target


# -- weights a plugin converts or places itself ------------------------------------------------------------
def store_weights(card: ModelCard, source: Path, filename: str) -> tuple[Path, str]:
    """Copy ``source`` into the model's cache folder as ``filename`` and record its sha256 beside it.

    For weights the card cannot declare (e.g. converted locally from an original checkpoint whose hash was never
    published). Returns the stored path and its sha256. The copy is atomic; :func:`stored_weights` checks the
    record on every use.
    """
    if not safe_filename(filename) or filename.endswith(RECORD_SUFFIX):
        raise MediganUsageError(f"{filename!r} is not a plain weights file name (letters, digits, '.', '_', '-')")
    if any(entry["filename"] == filename for entry in card.weights):
        raise MediganUsageError(f"model {card.id!r} declares {filename!r} on its card: it comes from its url "
                                f"(`medigan fetch {card.id}`), not from a local copy")
    target = model_folder(card) / filename
    digest = sha256_of(source)
    _copy_into_cache(card, source, target, digest, record=True)
    return target, digest


def _copy_into_cache(card: ModelCard, source: Path, target: Path, digest: str, *, record: bool,
                     note: str | None = None) -> None:
    """Copy ``source`` to ``target`` atomically, checking the copy's sha256; with ``record``, record it beside."""
    folder = claim_folder(card)  # every caller stores into the model's folder, which becomes medigan's own
    try:
        _make_parent(card, target)  # Hub files keep their repository's sub-folders
        tmp = atomic.temporary_path(target)
        try:
            shutil.copyfile(source, tmp)
            if sha256_of(tmp) != digest:
                raise WeightsError(f"copying {source} to {tmp} changed its content; check the disk and try again")
            if record:
                _write_record(target, digest, note)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        if atomic.is_disk_full(exc):
            raise WeightsError(f"disk full: no space left in {folder} to store weights of model {card.id!r}; nothing was "
                               f"stored. Free some space or set {CACHE_ENV} to a disk with room") from exc
        raise WeightsError(f"cannot store weights for model {card.id!r} in {folder}: {exc}; set {CACHE_ENV} to a "
                           "writable folder") from exc


def stored_weights(card: ModelCard, filename: str) -> Path | None:
    """The file stored with :func:`store_weights`, verified against its sha256 record; None when there is none.

    A file whose hash no longer matches its record is deleted (with its record) and reported as a WeightsError.
    """
    target = model_folder(card) / filename
    if not target.is_file():
        return None
    record = _record_path(target)
    expected = _recorded_sha256(target)
    if expected is None:
        raise WeightsError(f"{target} has no readable sha256 record ({record.name}), so it cannot be verified and is not "
                           f"used; remove it (`medigan cache clear {card.id}`) and store it again")
    actual = sha256_of(target)
    if actual != expected:
        target.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        raise WeightsError(f"stored weights file {target} of model {card.id!r} has sha256 {actual}, but {expected} was "
                           "recorded when it was stored: it was changed or corrupted on disk, so it was deleted. "
                           "Store it again (see the model's card or plugin README for how it is made)")
    return target


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def _recorded_sha256(path: Path) -> str | None:
    """The sha256 recorded beside ``path`` (``<file>.sha256``, as ``sha256sum`` writes it); None when unreadable."""
    try:
        value = _record_path(path).read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return value if re.fullmatch(r"[0-9a-f]{64}", value) else None


def _write_record(path: Path, digest: str, note: str | None = None) -> None:
    """``<file>.sha256`` as ``sha256sum`` writes it; ``note`` (placed unverified) on a comment line after it."""
    extra = f"{_UNVERIFIED_NOTE}: {note}\n" if note else ""
    atomic.write_text(_record_path(path), f"{digest}  {path.name}\n{extra}")


# -- listing and clearing the cache --------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedFile:
    """One file in the weights cache.

    ``state``: ``declared`` (an installed card of that model version lists it), ``local`` (stored by a plugin with
    a sha256 record), ``partial`` (an unfinished download, never used), ``stale`` (no installed model version
    uses it: it may be removed with ``medigan cache clear``) or ``statistics`` (cached real-set statistics of
    ``medigan evaluate``, model ``stats``) or ``unpacked`` (code unpacked from a model's archive, checked against
    its manifest on every load).
    """

    model: str
    version: str
    name: str
    path: Path
    size: int
    state: str

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "name": self.name, "path": str(self.path),
                "size": self.size, "state": self.state}


def _entries(root: Path, model: str | None = None) -> list[Path]:
    """The ``<model>/<version>`` folders medigan created (they hold :data:`ENTRY_MARKER`; links are never followed)."""
    models = [root / model] if model is not None else sorted(root.iterdir())
    found = []
    for model_dir in models:
        if not _MODEL_FOLDER.match(model_dir.name) or model_dir.is_symlink() or not model_dir.is_dir():
            continue
        for version_dir in sorted(model_dir.iterdir()):
            if not version_dir.is_symlink() and version_dir.is_dir() and (version_dir / ENTRY_MARKER).is_file():
                found.append(version_dir)
    return found


def _entry_files(folder: Path) -> list[Path]:
    """What ``medigan cache clear`` deletes from an entry: its files, in sub-folders too (Hub files keep their
    repository's folders); links are listed as links and never followed."""
    found = []
    for current, dirs, files in os.walk(folder, followlinks=False):
        here = Path(current)
        found.extend(here / d for d in dirs if (here / d).is_symlink())  # a link to a folder goes as a link
        # only sub-folders medigan created (they hold the marker too); anything else is not its layout
        dirs[:] = [d for d in dirs if not (here / d).is_symlink() and (here / d / ENTRY_MARKER).is_file()]
        found.extend(here / f for f in files if f != ENTRY_MARKER)
    return sorted(found)


def _stats_files(root: Path) -> list[Path]:
    folder = root / STATS_FOLDER
    if folder.is_symlink() or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.is_symlink() and p.is_file()
                  and (_STATS_FILE.match(p.name) or (atomic.is_temporary(p.name) and ".npz." in p.name)))


def cached_files(cards: Iterable[ModelCard] | None = None) -> list[CachedFile]:
    """Every file medigan keeps in the cache, judged against ``cards`` (default: the installed models).

    Only what medigan wrote is listed: the files of ``<model>/<version>`` folders holding its marker, and the
    statistics files; whatever else lies in the cache folder is neither listed nor ever cleared.
    """
    root = cache_root()
    if not root.is_dir():
        return []
    if cards is None:
        from .plugins import get_host  # (api.installed_catalog is this; importing api here would close a cycle)

        cards = [entry.card for entry in get_host().catalog]
    declared = {(c.id, version_folder(c.version)): {e["filename"] for e in c.weights} for c in cards}
    out = []
    for folder in _entries(root):
        model, version = folder.parent.name, folder.name
        names = declared.get((model, version))
        for path in _entry_files(folder):
            name = path.relative_to(folder).as_posix()  # Hub files keep their folders in the repository
            if path.name.endswith(RECORD_SUFFIX) and path.with_name(path.name[:-len(RECORD_SUFFIX)]).is_file():
                continue  # listed with its file
            if atomic.is_temporary(path.name):
                state = "partial"
            elif name.startswith(f"{UNPACKED_FOLDER}/"):
                state = "unpacked"
            elif names is not None and name in names:
                state = "declared"
            elif names is not None and _record_path(path).is_file():
                state = "local"
            else:
                state = "stale"
            out.append(CachedFile(model, version, name, path, path.lstat().st_size, state))
    out.extend(CachedFile(STATS_FOLDER, "-", p.name, p, p.stat().st_size, "statistics") for p in _stats_files(root))
    return out


def clear_plan(model: str | None = None) -> list[Path]:
    """The files :func:`clear_cache` deletes for ``model`` (a model id) or for every model, in that order.

    Exactly the files :func:`cached_files` lists (with their sha256 records); the marker and the folders that are
    empty afterwards go too. Nothing outside medigan's own entries is included.
    """
    root = cache_root()
    if model is not None and not _MODEL_FOLDER.match(model):
        raise MediganUsageError(f"{model!r} is not a model id; run `medigan cache list` to see what is cached")
    if not root.is_dir():
        return []
    files = [p for folder in _entries(root, model) for p in _entry_files(folder)]
    if model is None or model == STATS_FOLDER:
        files.extend(_stats_files(root))
    return files


def clear_cache(model: str | None = None) -> list[Path]:
    """Delete the cached files of ``model`` (a model id), or of every model; return the files deleted.

    Only entries medigan created (see :func:`clear_plan`) are touched, links are removed without following them,
    and nothing outside the cache folder, nor anything medigan did not write there, is ever deleted.
    """
    removed = []
    for path in clear_plan(model):
        path.unlink(missing_ok=True)
        removed.append(path)
    root = cache_root()
    for folder in _entries(root, model) if root.is_dir() else []:
        for current, _dirs, _files in os.walk(folder, topdown=False, followlinks=False):
            here = Path(current)
            if here != folder and (here / ENTRY_MARKER).is_file() and {p.name for p in here.iterdir()} == {ENTRY_MARKER}:
                (here / ENTRY_MARKER).unlink(missing_ok=True)  # a sub-folder medigan made for Hub files, emptied above
                _remove_if_empty(here)
        if not _entry_files(folder):
            (folder / ENTRY_MARKER).unlink(missing_ok=True)
            _remove_if_empty(folder)
            _remove_if_empty(folder.parent)
    if model is None or model == STATS_FOLDER:
        _remove_if_empty(root / STATS_FOLDER)
    return removed


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty: it holds something medigan did not write


def cached_model_id(query: str) -> str:
    """The model id ``query`` names: an installed model (id, upstream id or number), or a model folder in the cache."""
    from .errors import UnknownModelError
    from .plugins import get_host  # (api.installed_catalog is this; importing api here would close a cycle)

    try:
        return get_host().catalog.get(query).id
    except UnknownModelError:
        if _MODEL_FOLDER.match(query) and (query == STATS_FOLDER or _entries(cache_root(), query)):
            return query  # a model that is no longer installed but still has files in the cache
        raise


# -- Hugging Face Hub ----------------------------------------------------------------------------------------
HF_ENDPOINT_ENV = "HF_ENDPOINT"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
HF_DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    """The Hub asked for files: ``HF_ENDPOINT`` (a mirror, or a test server) or https://huggingface.co, read now."""
    value = os.environ.get(HF_ENDPOINT_ENV, "").strip() or HF_DEFAULT_ENDPOINT
    if not re.match(r"^https?://[^/\s]+", value):
        raise MediganUsageError(f"{HF_ENDPOINT_ENV}={value!r} is not an http(s):// URL; set it to e.g. "
                                f"{HF_DEFAULT_ENDPOINT}, or unset it")
    return value.rstrip("/")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (huggingface_hub's own switch) is set: the Hub is not asked."""
    return os.environ.get(HF_OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_file_url(entry: Mapping[str, Any]) -> str:
    """``<endpoint>/<repo>/resolve/<commit>/<filename>``: where the Hub serves the entry's file."""
    from urllib.parse import quote

    return f"{hub_endpoint()}/{entry['hf']}/resolve/{entry['revision']}/{quote(entry['filename'])}"


def _fetch_hub(card: ModelCard, entry: Mapping[str, Any], progress: bool | None) -> Path:
    target = model_folder(card) / entry["filename"]
    if target.is_file():
        _check_cached(card, entry, target)
        claim_folder(card)
        return target
    in_hub_cache = _hub_cached(entry)
    if in_hub_cache is not None:
        return in_hub_cache
    if target.exists():
        raise WeightsError(f"{target} is in the way of model {card.id!r}'s weights file but is not a file; remove it "
                           f"(`medigan cache clear {card.id}`) and try again")
    if is_offline() or hub_offline():
        switch = OFFLINE_ENV if is_offline() else HF_OFFLINE_ENV
        raise WeightsError(f"model {card.id!r} needs {entry['filename']!r} of {entry['hf']}, which is in neither "
                           f"medigan's nor the Hugging Face cache, and {switch} forbids downloading it. "
                           f"{placement(card, entry)}; or unset {switch}")
    claim_folder(card)
    with _download_lock(card, entry, target):
        if target.is_file():
            _check_cached(card, entry, target)
            return target
        return _download(card, entry, target, progress)


def _hub_cache_dir() -> Path:
    """huggingface_hub's cache folder, from ``HF_HUB_CACHE`` / ``HF_HOME`` as they are set now."""
    if os.environ.get("HF_HUB_CACHE", "").strip():
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME", "").strip() or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def _hub_cached(entry: Mapping[str, Any]) -> Path | None:
    """The file as huggingface_hub cached it at the pinned commit, if its sha256 matches (else None: never deleted)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(entry["hf"], entry["filename"], cache_dir=str(_hub_cache_dir()),
                                       revision=entry["revision"])
    except Exception:  # noqa: BLE001 - an unreadable Hub cache only means a download
        return None
    if not isinstance(found, str) or not Path(found).is_file():
        return None
    if sha256_of(Path(found)) != entry["sha256"]:
        warnings.warn(f"{found} in the Hugging Face cache does not have the sha256 the card pins for {entry['filename']!r} "
                      f"of {entry['hf']}; it is left alone and the file is downloaded into medigan's cache", stacklevel=3)
        return None
    return Path(found)


def _hub_file(card: ModelCard, entry: Mapping[str, Any]) -> tuple[RecordFile, dict[str, str]]:
    """Ask the Hub (through huggingface_hub) where the entry's file is and what it is: its commit, sha256 and size
    must be the card's before a byte is downloaded. Returns the file and the headers (token) the download sends."""
    from huggingface_hub import get_hf_file_metadata
    from huggingface_hub.utils import build_hf_headers

    url = hub_file_url(entry)
    stall, _ = download_limits()
    try:
        token = os.environ.get("HF_TOKEN", "").strip() or None  # read now; None: huggingface_hub's stored login
        meta = get_hf_file_metadata(url, token=token, timeout=min(_CONNECT_TIMEOUT, stall), endpoint=hub_endpoint())
        headers = build_hf_headers(token=token, library_name="medigan")
    except Exception as exc:  # noqa: BLE001 - every way the Hub can fail is reported the same way
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = {401: "there is no such repository, or it is gated or private: accept its terms on the Hub and log in "
                     "(`hf auth login`) or set HF_TOKEN",
                403: "the repository is gated: accept its terms on the Hub with the account whose token is used",
                404: f"the Hub has no such repository, commit or file (check hf, revision and filename on the card, "
                     f"and {HF_ENDPOINT_ENV})"}.get(status, f"check the network (or {HF_ENDPOINT_ENV})")
        first = (str(exc).strip().splitlines() or [""])[0]
        raise WeightsError(f"model {card.id!r}: could not ask the Hub about {entry['filename']!r} of {entry['hf']} at "
                           f"{url} ({type(exc).__name__}: {first}); {hint}, and run the command again. "
                           f"{placement(card, entry)}") from exc
    problems = []
    if meta.commit_hash and meta.commit_hash.lower() != entry["revision"]:
        problems.append(f"it answers commit {meta.commit_hash}, not the pinned {entry['revision']}")
    etag = (meta.etag or "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", etag) and etag != entry["sha256"]:
        problems.append(f"it publishes sha256 {etag}, but the card pins {entry['sha256']}")
    if meta.size and entry.get("size") and meta.size != entry["size"]:
        problems.append(f"it publishes {meta.size:,} bytes, but the card says {entry['size']:,}")
    if problems:
        raise WeightsError(f"model {card.id!r}: the Hub's {entry['filename']!r} of {entry['hf']} is not the file the card "
                           f"pins: {'; '.join(problems)}. Nothing was downloaded; tell the plugin's authors")
    location = urljoin(url, meta.location) if meta.location else url
    if urlsplit(location).scheme not in ("http", "https"):
        raise WeightsError(f"model {card.id!r}: the Hub sends {entry['filename']!r} from {location!r}, which is not an "
                           "http(s) URL; nothing was downloaded")
    return RecordFile(entry["hf"], entry["filename"], None, meta.size or None, location), dict(headers)
