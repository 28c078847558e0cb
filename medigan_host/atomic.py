"""Atomic file writes: write to a hidden temporary name in the same folder, then rename."""

from __future__ import annotations

import os
from pathlib import Path

TMP_SUFFIX = ".medigan-tmp"


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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
