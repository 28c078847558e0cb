"""A card's weights entries: which one is meant, the sha256 its file must have, and how to get it by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..cards import ModelCard
from ..errors import MediganUsageError, WeightsError
from .cache import model_folder
from .hub import hub_placement
from .record import _page, _source
from .verify import _recorded_sha256


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
        return hub_placement(card, entry)
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
