"""Where a run's files go: a local folder (the fast path) or any fsspec URL (``file://``, ``memory://``, ``s3://`` …).

Both stores offer the same small interface on paths relative to the run folder: atomic writes, reads, listing,
removal and an exclusive lock. Only what differs between stores lives here; :mod:`medigan_host.generation.outputs` and the
engine use the interface and never care which store they write to.

Semantics per store (see docs/performance.md):

* **local path**: ``flock`` lock, released by the kernel when the process dies; atomic writes by writing a hidden
  temporary file in the same folder and ``os.replace``.
* **fsspec URL**: atomic writes by writing a temporary key and moving it into place (``fs.mv``: a rename on
  ``file://``, a server-side copy plus delete on object stores, whose single-object writes are atomic anyway).
  The lock is a ``.medigan.lock`` object holding an owner token; it is best-effort: two runs started within the
  same instant on a store without conditional writes may both believe they hold it.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import secrets
import shutil
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import FrameworkMissingError, MediganError, OutputError, OutputLockedError
from ..frameworks import pip_command

#: The run folder's lock file.
#:
#: Why runs lock with code of their own while weight downloads use ``filelock`` (weights/download.py): a run's lock lives in
#: the output folder the user named, which may be an fsspec store (``s3://``, ``gs://``) where no operating-system lock
#: exists, so those stores need the owner-token lock of :meth:`FsspecStore.lock` whatever library locks local folders;
#: and a local run folder's lock has guarantees that ``filelock`` does not give across the versions the host supports
#: (``filelock>=3.12``): the lock file is opened with ``O_NOFOLLOW`` (filelock 3.x opens it with ``O_TRUNC`` and follows
#: a link planted in its place, truncating the link's target), a folder without ``flock`` refuses the run instead of
#: falling back to a soft lock (filelock 4.x does, with a warning), a refused run leaves no lock file behind
#: (``unlock(discard=True)``), and Ray workers in other processes ask :meth:`LocalStore.lock_is_held` whether their
#: driver still holds it. Downloads need none of this (a cache folder of the host's own, a lock waited for), so they
#: keep ``filelock``; there is no third lock.
LOCK_FILE = ".medigan.lock"


def is_url(target: str | os.PathLike[str]) -> bool:
    """True for ``protocol://…`` strings (a Windows drive letter such as ``C:\\`` is a path)."""
    text = os.fspath(target)
    head, sep, _ = text.partition("://")
    return bool(sep) and len(head) > 1 and head.replace("+", "").replace("-", "").replace(".", "").isalnum()


def open_store(target: str | os.PathLike[str] | Store) -> Store:
    """The store for an output folder given as a local path or an fsspec URL.

    A ``file://`` URL is the local folder it names (one folder, one lock, whichever way it is spelled)."""
    if isinstance(target, Store):
        return target
    if isinstance(target, str) and is_url(target):
        local = local_path_of(target)
        return LocalStore(local) if local is not None else FsspecStore(target)
    return LocalStore(Path(target))


def local_path_of(url: str) -> Path | None:
    """The local path of a ``file://`` (or ``local://``) URL, else None."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("file", "local"):
        return None
    if rest.startswith("localhost/"):
        rest = rest[len("localhost"):]
    from urllib.parse import unquote

    return Path(unquote(rest))


class Store(ABC):
    """Files of one run folder, addressed by ``/``-separated paths relative to it."""

    url: str

    def display(self, rel: str = "") -> str:
        """The absolute path or URL of ``rel``, for messages."""
        return f"{self.url.rstrip('/')}/{rel}" if rel else self.url

    @property
    def location(self) -> str:
        """What another process (a Ray worker) opens this store with: :func:`open_store` of it is this folder."""
        return self.url

    def safe(self, rel: Any) -> str | None:
        """``rel`` normalised, or None when it is not a plain relative path inside the folder."""
        if not isinstance(rel, str) or not rel or rel.startswith(("/", "\\")) or "\x00" in rel or "://" in rel:
            return None
        norm = posixpath.normpath(rel.replace("\\", "/"))
        return None if norm == ".." or norm.startswith("../") or norm == "." else norm

    @abstractmethod
    def prepare(self) -> None:
        """Create the folder if needed; raise a clear error if it cannot be one."""

    @abstractmethod
    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists."""

    @abstractmethod
    def is_file(self, rel: str) -> bool:
        """Whether ``rel`` is a file."""

    @abstractmethod
    def is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a folder."""

    @abstractmethod
    def names(self, rel: str = "") -> list[str]:
        """The sorted names inside folder ``rel`` (none if it is missing)."""

    @abstractmethod
    def makedirs(self, rel: str) -> None:
        """Create folder ``rel`` and its parents."""

    @abstractmethod
    def read_bytes(self, rel: str) -> bytes:
        """The content of file ``rel``."""

    @abstractmethod
    def iter_lines(self, rel: str) -> Iterator[bytes]:
        """The lines of file ``rel`` (none if it is missing), streaming."""

    @abstractmethod
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``rel`` atomically: it holds all of ``data`` or keeps its old content."""

    @abstractmethod
    def write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        """Write ``rel`` atomically from a stream of byte chunks."""

    @abstractmethod
    def file_check(self) -> Callable[[str], bool]:
        """An ``is_file`` for many look-ups (object stores list once instead of asking per file)."""

    @abstractmethod
    def remove(self, rel: str) -> None:
        """Delete file ``rel`` if it exists."""

    @abstractmethod
    def remove_tree(self, rel: str) -> None:
        """Delete folder ``rel`` and its content if it exists."""

    @abstractmethod
    def remove_temporaries(self, rel: str) -> None:
        """Delete temporaries left in folder ``rel`` by an interrupted write."""

    def refuse_links(self, names: Iterable[str]) -> None:
        """Raise OutputError if one of ``names`` is a symbolic link (stores without links have none)."""
        return None

    @abstractmethod
    def lock(self) -> None:
        """Take the folder's exclusive lock, or raise OutputLockedError."""

    def lock_is_held(self) -> bool:
        """Whether a live run holds this folder's lock (Ray workers stop writing once their driver is gone).

        True when it cannot be told (a lock held on another machine)."""
        return True

    @abstractmethod
    def unlock(self, *, discard: bool = False) -> None:
        """Release the lock taken by :meth:`lock`; ``discard``: nothing was written, so a lock file this lock
        created is removed too (a refused run leaves nothing behind)."""

    #: Whether :meth:`append_text` is cheap; other stores get manifest records as journal parts.
    appendable = False

    def sync(self, folders: Iterable[str]) -> None:
        """Make the files written into ``folders`` durable (stores whose writes are durable once done need nothing)."""
        return None

    def size(self, rel: str) -> int:
        """The size of file ``rel`` in bytes."""
        return len(self.read_bytes(rel))

    def append_text(self, rel: str, text: str) -> None:
        """Append to a file; only stores whose ``appendable`` is True support it."""
        raise NotImplementedError(f"{type(self).__name__} cannot append; write journal parts instead")


class LocalStore(Store):
    """A folder on a local (or mounted) file system: flock, os.replace, appends."""

    appendable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = str(path)
        self._lock_handle: Any = None
        self._created = False

    def display(self, rel: str = "") -> str:
        return str(self.path / rel) if rel else str(self.path)

    @property
    def location(self) -> str:
        return str(self.path.resolve())  # workers may run in another working directory

    def _p(self, rel: str) -> Path:
        return self.path / rel if rel else self.path

    def safe(self, rel: Any) -> str | None:
        norm = super().safe(rel)
        if norm is None or os.path.isabs(norm):
            return None
        return norm if (self.path / norm).resolve().is_relative_to(self.path.resolve()) else None

    def prepare(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"output path {str(self.path)!r} exists and is not a folder; choose a folder path")
        #: the folders this run creates (deepest first): a run refused before it wrote anything removes them again
        self._made = [p for p in (self.path, *self.path.parents) if not p.exists()] if not self.path.is_symlink() else []
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except PermissionError as exc:
            raise MediganError(f"cannot write to output folder {str(self.path)!r}: {exc.strerror}; "
                               "choose a folder you can write to, or fix its permissions") from exc
        except OSError as exc:
            raise MediganError(f"cannot create output folder {str(self.path)!r}: {exc.strerror or exc}") from exc

    def refuse_links(self, names: Iterable[str]) -> None:
        """Writing through a link would change files outside the folder (another study's ``images/``)."""
        for name in names:
            path = self._p(name)
            if path.is_symlink():
                raise OutputError(f"{str(path)!r} is a symbolic link (to {os.readlink(path)!r}); medigan writes only "
                                  "inside the real output folder: remove the link, or choose another output folder")

    def exists(self, rel: str) -> bool:
        return self._p(rel).exists()

    def is_file(self, rel: str) -> bool:
        return self._p(rel).is_file()

    def is_dir(self, rel: str) -> bool:
        return self._p(rel).is_dir()

    def names(self, rel: str = "") -> list[str]:
        folder = self._p(rel)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def makedirs(self, rel: str) -> None:
        self._p(rel).mkdir(parents=True, exist_ok=True)

    def read_bytes(self, rel: str) -> bytes:
        return self._p(rel).read_bytes()

    def iter_lines(self, rel: str) -> Iterator[bytes]:
        path = self._p(rel)
        if path.exists():
            with open(path, "rb") as handle:
                yield from handle

    def write_bytes(self, rel: str, data: bytes) -> None:
        atomic.write_bytes(self._p(rel), data, folder_sync=False)  # the folders: once per batch, in sync()

    def sync(self, folders: Iterable[str]) -> None:
        for rel in folders:
            if self._p(rel).is_dir():
                atomic.sync_folder(self._p(rel))

    def size(self, rel: str) -> int:
        return self._p(rel).stat().st_size

    def write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        target = self._p(rel)
        tmp = atomic.temporary_path(target)
        try:
            with open(tmp, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                atomic.sync_file(handle)
            os.replace(tmp, target)
            atomic.sync_folder(target.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def file_check(self) -> Callable[[str], bool]:
        return self.is_file

    def append_text(self, rel: str, text: str) -> None:
        """Append ``text``, on a new line if the file ends in a line torn by a killed run.

        On a full disk the file is cut back to its length before the append (no partial line is left)."""
        path = self._p(rel)
        with open(path, "a+b", buffering=0) as handle:
            end = handle.seek(0, os.SEEK_END)
            torn = end > 0 and handle.seek(end - 1) >= 0 and handle.read(1) != b"\n"
            data = memoryview((b"\n" if torn else b"") + text.encode("utf-8"))
            try:
                while data:
                    written = handle.write(data)
                    if not written:  # a regular file that takes nothing more: the disk is full
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                    data = data[written:]
                atomic.sync_file(handle)
            except OSError as exc:
                if not atomic.is_disk_full(exc):
                    raise
                handle.truncate(end)
                raise atomic.disk_full_error(exc, path, appending=True) from exc

    def remove(self, rel: str) -> None:
        self._p(rel).unlink(missing_ok=True)

    def remove_tree(self, rel: str) -> None:
        shutil.rmtree(self._p(rel), ignore_errors=True)

    def remove_temporaries(self, rel: str) -> None:
        """Streams the folder: ``Path.glob`` would hold an entry per file (22 MiB for 100,000 files)."""
        folder = self._p(rel)
        if not folder.is_dir():
            return
        with os.scandir(folder) as entries:
            stale = [entry.path for entry in entries if atomic.is_temporary(entry.name)]
        for path in stale:
            Path(path).unlink(missing_ok=True)

    def lock(self) -> None:
        path = self.path / LOCK_FILE
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:  # O_NOFOLLOW: a (dangling) link in the lock's place is refused, its target never created
            self._created = not os.path.lexists(path)
            self._lock_handle = os.fdopen(os.open(path, flags, 0o644), "a+")
        except OSError as exc:
            if path.is_symlink():
                raise OutputError(f"{str(path)!r} is a symbolic link; medigan writes only inside the real output "
                                  "folder: remove the link, or choose another output folder") from exc
            raise MediganError(f"cannot write to output folder {str(self.path)!r}: {exc.strerror or exc}; "
                               "choose a folder you can write to, or fix its permissions") from exc
        if not _try_flock(self._lock_handle):
            self._lock_handle.close()
            self._lock_handle = None
            raise OutputLockedError(f"another medigan generation is writing into {str(self.path)!r}; wait for it to "
                                    "finish, or choose another output folder")

    def lock_is_held(self) -> bool:
        """A flock on our own descriptor of the lock file succeeds only when no process holds it any more."""
        try:
            fd = os.open(self.path / LOCK_FILE, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return False  # no lock file: no run
        with os.fdopen(fd, "r") as handle:
            if not _try_flock(handle):
                return True
            _flock_release(handle)
            return False

    def unlock(self, *, discard: bool = False) -> None:
        if self._lock_handle is not None:
            if discard and self._created:  # still held: a run that opens it now is refused, one after finds none
                (self.path / LOCK_FILE).unlink(missing_ok=True)
            _flock_release(self._lock_handle)
            self._lock_handle.close()
            self._lock_handle = None
        if discard:  # a refused run (usage error, refused download) leaves no empty folder it made behind
            for folder in getattr(self, "_made", ()):
                try:
                    folder.rmdir()  # only when empty: anything another process put there stays
                except OSError:
                    break
            self._made = []


class FsspecStore(Store):
    """A folder under an fsspec URL; writes go to a temporary key that is then moved into place."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise FrameworkMissingError(f"writing to {url!r} needs fsspec: `{pip_command('medigan-host[fsspec]')}` "
                                        "(and the package of that store, e.g. s3fs or gcsfs)") from None
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except ImportError as exc:
            raise FrameworkMissingError(f"cannot open {url!r}: {exc}") from exc
        except ValueError as exc:
            raise OutputError(f"cannot open {url!r}: {exc}; use a local folder or a URL of an fsspec store "
                              "(file://, s3://, gs:// …)") from exc
        self.root = root.rstrip("/") or root
        self.url = url.rstrip("/")
        self.appendable = False
        self._token: str | None = None

    def _p(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def prepare(self) -> None:
        if self.fs.isfile(self.root):
            raise OutputError(f"output path {self.url!r} exists and is not a folder; choose a folder path")
        try:
            self.fs.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise MediganError(f"cannot create output folder {self.url!r}: {exc}") from exc

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self._p(rel))

    def is_file(self, rel: str) -> bool:
        return self.fs.isfile(self._p(rel))

    def is_dir(self, rel: str) -> bool:
        return self.fs.isdir(self._p(rel))

    def names(self, rel: str = "") -> list[str]:
        folder = self._p(rel)
        if not self.fs.isdir(folder):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(folder, detail=False))

    def makedirs(self, rel: str) -> None:
        self.fs.makedirs(self._p(rel), exist_ok=True)

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self._p(rel))

    def size(self, rel: str) -> int:
        return int(self.fs.size(self._p(rel)))

    def iter_lines(self, rel: str) -> Iterator[bytes]:
        path = self._p(rel)
        if self.fs.exists(path):
            with self.fs.open(path, "rb") as handle:
                yield from handle

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.write_chunks(rel, [data])

    def write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        target = self._p(rel)
        head, name = posixpath.split(target)
        tmp = f"{head}/.{name}.{os.getpid()}.{secrets.token_hex(4)}{atomic.TMP_SUFFIX}"
        try:
            with self.fs.open(tmp, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            self.fs.mv(tmp, target)
        except BaseException:
            try:
                self.fs.rm_file(tmp)
            except OSError:
                pass
            raise

    def file_check(self) -> Callable[[str], bool]:
        prefix = self.root.rstrip("/") + "/"
        found = {p[len(prefix):] for p in self.fs.find(self.root) if p.startswith(prefix)}
        return found.__contains__

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm_file(self._p(rel))
        except FileNotFoundError:
            pass

    def remove_tree(self, rel: str) -> None:
        if self.fs.exists(self._p(rel)):
            self.fs.rm(self._p(rel), recursive=True)

    def remove_temporaries(self, rel: str) -> None:
        for name in self.names(rel):
            if atomic.is_temporary(name):
                self.remove(f"{rel}/{name}" if rel else name)

    def lock(self) -> None:
        """Best-effort owner-token lock: refuse a lock held by a live owner, take over one left by a dead process."""
        token = {"token": secrets.token_hex(16), "host": socket.gethostname(), "pid": os.getpid()}
        current = self._read_lock()
        if current is not None and not _owner_is_dead(current):
            raise OutputLockedError(
                f"another medigan generation is writing into {self.url!r} (lock {LOCK_FILE} held by process "
                f"{current.get('pid')} on {current.get('host')!r}); wait for it to finish, or choose another output folder. "
                f"If no generation is running there (it was killed on another machine), delete {self.display(LOCK_FILE)!r}")
        self.write_bytes(LOCK_FILE, json.dumps(token).encode())
        if (self._read_lock() or {}).get("token") != token["token"]:
            raise OutputLockedError(f"another medigan generation took the lock of {self.url!r} at the same moment; "
                                    "choose another output folder")
        self._token = token["token"]

    def lock_is_held(self) -> bool:
        owner = self._read_lock()
        return owner is not None and not _owner_is_dead(owner)

    def unlock(self, *, discard: bool = False) -> None:
        if self._token is not None and (self._read_lock() or {}).get("token") == self._token:
            self.remove(LOCK_FILE)
        self._token = None

    def _read_lock(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.read_bytes(LOCK_FILE))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _owner_is_dead(owner: dict[str, Any]) -> bool:
    """True only when the lock's owner ran on this machine and its process is gone."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _try_flock(handle: Any) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _flock_release(handle: Any) -> None:
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except ImportError:
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
