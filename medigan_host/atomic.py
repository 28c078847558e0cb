"""Atomic file writes: write to a hidden temporary name in the same folder, then rename.

A write that fails leaves the target as it was and removes its temporary; a full disk (or quota) becomes a
:class:`~medigan_host.errors.DiskFullError` that names the folder and says how to continue.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import DiskFullError

TMP_SUFFIX = ".medigan-tmp"
#: errno values that mean "no room left": the disk, or the user's quota on it.
DISK_FULL_ERRNOS = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)


def is_temporary(name: str) -> bool:
    """Whether a file name is one of medigan's temporaries (left behind only by a process killed mid-write)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def temporary_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` either holds all of it or keeps its old content."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(exc, path) from exc
        raise


def is_disk_full(exc: BaseException) -> bool:
    """True for the OSError of a write that found no space left on the device (or over quota)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def disk_full_error(exc: OSError, path: str | os.PathLike[str] | None = None) -> DiskFullError:
    """A clear error for a full disk: the folder, that nothing written before was lost, and what to do next."""
    target = path if path is not None else exc.filename
    where = f" in {str(Path(target).parent)!r} (writing {Path(target).name!r})" if target else ""
    return DiskFullError(f"no space left on the device{where}: {exc.strerror or exc}. The file being written was "
                         "removed and every file written before is intact; free some space (or write to another disk), "
                         "then run the same command again with --resume to complete a generation")


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
