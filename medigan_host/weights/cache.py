"""The weights cache: where things live (``<cache>/<model id>/<version>/``, marked as medigan's with
:data:`ENTRY_MARKER`), what it holds (:func:`cached_files`) and clearing it (:func:`clear_plan`, :func:`clear_cache`).

Only what medigan wrote is listed or cleared; whatever else lies in the cache folder is never touched."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..cards import ModelCard
from ..errors import MediganUsageError, WeightsError
from .verify import RECORD_SUFFIX, _record_path

CACHE_ENV = "MEDIGAN_CACHE_DIR"
OFFLINE_ENV = "MEDIGAN_OFFLINE"
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
        from ..plugins import get_host  # (api.installed_catalog is this; importing api here would close a cycle)

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
    from ..errors import UnknownModelError
    from ..plugins import get_host  # (api.installed_catalog is this; importing api here would close a cycle)

    try:
        return get_host().catalog.get(query).id
    except UnknownModelError:
        if _MODEL_FOLDER.match(query) and (query == STATS_FOLDER or _entries(cache_root(), query)):
            return query  # a model that is no longer installed but still has files in the cache
        raise
