"""Atomic file writes: write to a hidden temporary name in the same folder, fsync it, then rename.

A write that fails leaves the target as it was and removes its temporary; a full disk (or quota) becomes a
:class:`~medigan_host.errors.DiskFullError` that names the folder and says how to continue. The data is flushed to
the disk (``fsync``) before the rename, and the folder after it (callers writing many files in one folder sync the
folder once per batch instead), so a power cut leaves either the old or the new file, never an empty one.
``MEDIGAN_FSYNC=0`` skips the fsyncs (scratch disks; a killed process still loses nothing, a power cut may).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from .errors import DiskFullError

TMP_SUFFIX = ".medigan-tmp"
FSYNC_ENV = "MEDIGAN_FSYNC"
#: errno values that mean "no room left": the disk, or the user's quota on it.
DISK_FULL_ERRNOS = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)


def is_temporary(name: str) -> bool:
    """Whether a file name is one of medigan's temporaries (left behind only by a process killed mid-write)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def temporary_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def fsync_enabled() -> bool:
    """False when ``MEDIGAN_FSYNC`` is 0/false/no/off."""
    return os.environ.get(FSYNC_ENV, "").strip().lower() not in {"0", "false", "no", "off"}


def sync_file(handle: Any) -> None:
    """Flush an open file's data to the disk (unless ``MEDIGAN_FSYNC=0``)."""
    handle.flush()
    if fsync_enabled():
        os.fsync(handle.fileno())


def sync_folder(folder: Path) -> None:
    """Make the renames and new names in ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    if not fsync_enabled() or os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, *, folder_sync: bool = True) -> None:
    """Write ``data`` to ``path`` so that ``path`` either holds all of it or keeps its old content.

    ``folder_sync=False`` leaves syncing the folder to the caller (once for a batch of files)."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            sync_file(handle)
        os.replace(tmp, path)
        if folder_sync:
            sync_folder(path.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(exc, path) from exc
        raise


def is_disk_full(exc: BaseException) -> bool:
    """True for the OSError of a write that found no space left on the device (or over quota)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def disk_full_error(exc: OSError, path: str | os.PathLike[str] | None = None, *, appending: bool = False) -> DiskFullError:
    """A clear error for a full disk: the folder, that nothing written before was lost, and what to do next.

    ``appending``: ``path`` was being appended to and was cut back to its length before the append."""
    target = path if path is not None else exc.filename
    where = f" in {str(Path(target).parent)!r} ({'appending to' if appending else 'writing'} {Path(target).name!r})" \
        if target else ""
    undone = "The lines being appended were removed again" if appending else "The file being written was removed"
    return DiskFullError(f"no space left on the device{where}: {exc.strerror or exc}. {undone} and every file written "
                         "before is intact; free some space (or write to another disk), then run the same command "
                         "again with --resume to complete a generation")


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete temporaries left in ``folder`` by an interrupted write; return what was deleted."""
    removed = []
    if folder.is_dir():
        for tmp in folder.glob(f".*{TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
