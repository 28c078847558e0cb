"""The one download path of every downloaded entry (``url``, ``doi`` and ``hf``): into the cache under its lock
and bounds, verified against the card's sha256 (or the record's md5 and size, then recorded) before it is renamed
into place; and the check of a cached copy on every use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import atomic
from ..cards import ModelCard
from ..errors import WeightsError
from .cache import CACHE_ENV, _make_parent
from .download import (
    STALL_ENV,
    _Bound,
    _broke_off,
    _check_room,
    _DownloadRefused,
    _is_network_error,
    _remove_partials,
    _stalled,
    _stream,
    _undeclared_bound,
    download_limits,
    network_reason,
)
from .entries import placement
from .hub import _hub_file
from .record import ZENODO_ENV, RecordFile, _page, _published_or_reason, _record_mismatch, _source
from .verify import _file_digests, _record_path, _recorded_sha256, _write_record, sha256_of


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


def _record_file(card: ModelCard, entry: Mapping[str, Any]) -> RecordFile:
    """Ask the record API for the entry's file: its md5, size and download link (WeightsError when it cannot)."""
    published, why = _published_or_reason(card, entry)
    if published is None:
        raise WeightsError(f"model {card.id!r}: {why}. Check the network (or {ZENODO_ENV}) and run the command again. "
                           f"{placement(card, entry)}")
    return published


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
