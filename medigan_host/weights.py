"""Model weights: fetched once into a per-user cache, verified by sha256 every time they are used.

A card's ``weights`` entry (``url``, ``sha256``, optional ``size`` and ``filename``) says where a file comes from:

- ``https://…`` (or ``http://…``): downloaded with pooch into ``<cache>/<model id>/<version>/<filename>``;
- ``file:///absolute/path``: a local copy (e.g. on a shared drive), verified where it lies, never copied or deleted;
- ``package://<python.package>/<path/in/package>``: a file shipped inside an installed plugin, verified where it lies.

The cache folder is ``MEDIGAN_CACHE_DIR`` or the per-user cache folder of the platform. ``MEDIGAN_OFFLINE=1`` forbids
downloads. A download goes to a temporary name and is renamed into place only after its sha256 matched, so an
interrupted or corrupted download never leaves a file that is later taken for good; a file whose hash does not match
is deleted and the error says so. Plugins that convert weights themselves (from an original checkpoint whose hash
nobody published) keep them in the same cache with :func:`store_weights` / :func:`stored_weights`, which record
the file's sha256 beside it and check it on every use.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import atomic
from .cards import ModelCard, safe_filename
from .errors import MediganUsageError, WeightsError

CACHE_ENV = "MEDIGAN_CACHE_DIR"
OFFLINE_ENV = "MEDIGAN_OFFLINE"
#: A locally stored file's sha256 lives beside it in ``<file>.sha256``, in the format of ``sha256sum``.
RECORD_SUFFIX = ".sha256"
#: (connect, read) timeouts in seconds for downloads.
TIMEOUT = (15, 60)
_CHUNK = 1 << 20
_DOWNLOAD_CHUNK = 1 << 16
_MODEL_FOLDER = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
#: The file medigan puts in each ``<cache>/<model>/<version>/`` folder it creates: only folders holding it are
#: listed and cleared, so a folder someone else keeps in the cache folder is never touched.
ENTRY_MARKER = ".medigan-entry"
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
    (default: when stderr is a terminal). Every call checks the file's sha256 against the card, so a cache
    file changed on disk is caught (and deleted) before a loader reads it.
    """
    entry = weights_entry(card, filename)
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
    """Where to put the file by hand: its name, sha256, size, source and the folder."""
    size = f", {entry['size']:,} bytes" if entry.get("size") else ""
    return (f"To use it without a download, get {entry['filename']!r} (sha256 {entry['sha256']}{size}) from "
            f"{entry['url']} and place it in the folder {model_folder(card)}")


def _check_cached(card: ModelCard, entry: Mapping[str, Any], path: Path) -> None:
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        path.unlink(missing_ok=True)
        raise WeightsError(f"cached weights file {path} of model {card.id!r} has sha256 {actual}, but the card says "
                           f"{entry['sha256']}: it was changed or corrupted on disk, so it was deleted. Run the command "
                           f"again to download a fresh copy (or `medigan fetch {card.id}`). {placement(card, entry)}")


def _download(card: ModelCard, entry: Mapping[str, Any], target: Path, progress: bool | None) -> Path:
    import pooch
    import requests

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot create the weights cache folder {target.parent}: {exc}; set {CACHE_ENV} to a "
                           "writable folder") from exc
    tmp = atomic.temporary_path(target)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _ProgressBar(entry["filename"], entry.get("size")) if show else None
    try:
        downloader = pooch.HTTPDownloader(progressbar=bar or False, chunk_size=_DOWNLOAD_CHUNK, timeout=TIMEOUT)
        downloader(entry["url"], str(tmp), None)
    except (requests.RequestException, OSError) as exc:
        received = tmp.stat().st_size if tmp.exists() else 0
        tmp.unlink(missing_ok=True)
        if received or isinstance(exc, requests.exceptions.ChunkedEncodingError):
            what = f"the download of {entry['url']} broke off" + (f" after {received:,} bytes" if received else "")
        else:
            what = f"could not download {entry['url']}"
        raise WeightsError(f"model {card.id!r}: {what} ({type(exc).__name__}: {exc}); nothing was kept. Check the network "
                           f"and run the command again. {placement(card, entry)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    actual, size = sha256_of(tmp), tmp.stat().st_size
    if actual != entry["sha256"]:
        tmp.unlink(missing_ok=True)
        expected_size = f", {entry['size']:,} bytes" if entry.get("size") else ""
        raise WeightsError(f"model {card.id!r}: the file downloaded from {entry['url']} has sha256 {actual} ({size:,} bytes), "
                           f"but the card says {entry['sha256']}{expected_size}: it was truncated, corrupted or replaced, so "
                           f"it was deleted and nothing was kept. Run the command again; if it keeps failing, the file on "
                           f"the server differs from the one the card was made for: tell the plugin's authors")
    os.replace(tmp, target)
    return target


class _ProgressBar:
    """A tqdm bar on stderr in the interface pooch drives (``total``, ``update``, ``reset``, ``close``).

    Always true in a boolean test: pooch skips a falsy bar, and a tqdm whose total is still 0 is falsy.
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
        target.parent.mkdir(parents=True, exist_ok=True)
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
    folder = claim_folder(card)
    try:
        digest = sha256_of(source)
        target = folder / filename
        tmp = atomic.temporary_path(target)
        try:
            shutil.copyfile(source, tmp)
            if sha256_of(tmp) != digest:
                raise WeightsError(f"copying {source} to {tmp} changed its content; check the disk and try again")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        atomic.write_text(_record_path(target), f"{digest}  {filename}\n")
    except OSError as exc:
        raise WeightsError(f"cannot store weights for model {card.id!r} in {folder}: {exc}; set {CACHE_ENV} to a "
                           "writable folder") from exc
    return target, digest


def stored_weights(card: ModelCard, filename: str) -> Path | None:
    """The file stored with :func:`store_weights`, verified against its sha256 record; None when there is none.

    A file whose hash no longer matches its record is deleted (with its record) and reported as a WeightsError.
    """
    target = model_folder(card) / filename
    if not target.is_file():
        return None
    record = _record_path(target)
    try:
        expected = record.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        raise WeightsError(f"{target} has no readable sha256 record ({record.name}), so it cannot be verified and is not "
                           f"used; remove it (`medigan cache clear {card.id}`) and store it again") from None
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


# -- listing and clearing the cache --------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedFile:
    """One file in the weights cache.

    ``state``: ``declared`` (an installed card of that model version lists it), ``local`` (stored by a plugin with
    a sha256 record), ``partial`` (an unfinished download, never used), ``stale`` (no installed model version
    uses it: it may be removed with ``medigan cache clear``) or ``statistics`` (cached real-set statistics of
    ``medigan evaluate``, model ``stats``).
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
    """What ``medigan cache clear`` deletes from an entry: its files (links as links), never a subfolder."""
    return sorted(p for p in folder.iterdir() if p.name != ENTRY_MARKER and (p.is_symlink() or p.is_file()))


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
        from .plugins import get_host

        cards = [entry.card for entry in get_host().catalog]
    declared = {(c.id, version_folder(c.version)): {e["filename"] for e in c.weights} for c in cards}
    out = []
    for folder in _entries(root):
        model, version = folder.parent.name, folder.name
        names = declared.get((model, version))
        for path in _entry_files(folder):
            if path.name.endswith(RECORD_SUFFIX) and path.with_name(path.name[:-len(RECORD_SUFFIX)]).is_file():
                continue  # listed with its file
            if atomic.is_temporary(path.name):
                state = "partial"
            elif names is not None and path.name in names:
                state = "declared"
            elif names is not None and _record_path(path).is_file():
                state = "local"
            else:
                state = "stale"
            out.append(CachedFile(model, version, path.name, path, path.lstat().st_size, state))
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
    from .plugins import get_host

    try:
        return get_host().catalog.get(query).id
    except UnknownModelError:
        if _MODEL_FOLDER.match(query) and (query == STATS_FOLDER or _entries(cache_root(), query)):
            return query  # a model that is no longer installed but still has files in the cache
        raise
