"""Weights on this machine, used where they lie and never copied (but for a zipped install) nor deleted:
``file://`` files, ``package://`` files shipped inside an installed plugin, and ``folder`` entries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import atomic
from ..cards import ModelCard
from ..errors import WeightsError
from .cache import _make_parent, model_folder
from .verify import folder_sha256, sha256_of


def _verified_in_place(card: ModelCard, entry: Mapping[str, Any], path: Path) -> Path:
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise WeightsError(f"weights file {path} of model {card.id!r} has sha256 {actual}, but the card says "
                           f"{entry['sha256']}: the file was modified or the installation is damaged. It was left as it "
                           "is (medigan deletes only files in its own cache); reinstall the plugin or restore the file")
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
