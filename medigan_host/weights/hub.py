"""The Hugging Face Hub source: an ``hf`` entry's file at a pinned commit, found in huggingface_hub's own cache or
asked of the Hub (``HF_ENDPOINT``, its token, ``HF_HUB_OFFLINE``) before it is downloaded into medigan's cache."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..cards import ModelCard
from ..errors import MediganUsageError, WeightsError
from .download import _CONNECT_TIMEOUT, download_limits
from .record import RecordFile
from .verify import sha256_of

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


def hub_placement(card: ModelCard, entry: Mapping[str, Any]) -> str:
    """Where to get a Hub entry's file by hand and how to place it (:func:`~medigan_host.weights.placement` of an
    ``hf`` entry)."""
    size = f", {entry['size']:,} bytes" if entry.get("size") else ""
    return (f"To use it without a download, get {entry['filename']!r} (sha256 {entry['sha256']}{size}) of "
            f"{entry['hf']} at commit {entry['revision']} ({hub_file_url(entry)}) and place it with `medigan cache "
            f"place {card.id} FILE --name {entry['filename']}`, or fetch it into the Hugging Face cache with "
            f"`hf download {entry['hf']} {entry['filename']} --revision {entry['revision']}`")


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
                           f"{hub_placement(card, entry)}") from exc
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
