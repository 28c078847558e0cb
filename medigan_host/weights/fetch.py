"""Fetching a card's declared weights: each kind of entry to its source, a cached copy checked on every use, one
download at a time per file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..cards import ModelCard
from ..errors import WeightsError
from .cache import OFFLINE_ENV, claim_folder, is_offline, model_folder
from .download import _download_lock
from .entries import placement, weights_entry
from .hub import HF_OFFLINE_ENV, _hub_cached, hub_offline
from .local import _local_file, _package_file, _verified_folder, _verified_in_place
from .url import _check_cached, _download


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
