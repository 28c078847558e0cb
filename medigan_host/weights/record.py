"""The Zenodo-compatible record client: a ``doi`` entry's file as its record publishes it (md5, size, download
link), asked of ``MEDIGAN_ZENODO_URL``; also the published md5 of a ``url`` entry without a sha256."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..cards import ZENODO_DOI, ModelCard
from ..errors import MediganUsageError
from .cache import OFFLINE_ENV, is_offline
from .download import _CONNECT_TIMEOUT, download_limits, network_reason

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


def _record_mismatch(published: RecordFile, size: int, md5: str) -> str | None:
    """What is wrong with a file of ``size`` bytes and ``md5`` against the record's published facts (None: nothing)."""
    if published.size is not None and size != published.size:
        return f"has {size:,} bytes, but record {published.record} publishes {published.size:,} (md5 {published.md5})"
    if published.md5 is not None and md5 != published.md5:
        return f"has md5 {md5}, but record {published.record} publishes md5 {published.md5}"
    return None
