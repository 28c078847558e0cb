"""Verification: a file's sha256 (and md5 and size, read once), a folder's files digest, and the sha256 record
kept beside a stored file (``<file>.sha256``, as ``sha256sum`` writes it)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .. import atomic

#: A locally stored file's sha256 lives beside it in ``<file>.sha256``, in the format of ``sha256sum``.
RECORD_SUFFIX = ".sha256"
_CHUNK = 1 << 20
#: The note on a record's comment line that says its file was placed without being checked.
_UNVERIFIED_NOTE = "# placed unverified"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_digests(path: Path) -> tuple[int, str, str]:
    """(size, md5, sha256) of a file, read once."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, md5.hexdigest(), sha.hexdigest()


def folder_sha256(folder: str | os.PathLike[str]) -> str:
    """The digest of a folder's files: the sha256 of the lines ``<sha256 of the file>  <path/in/folder>``, one per file
    (hidden names, starting with '.', left out), sorted by path. Renaming, adding, removing or changing a file changes it."""
    root = Path(folder)
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        lines.append(f"{sha256_of(path)}  {relative}\n")
    return hashlib.sha256("".join(sorted(lines, key=lambda line: line[66:])).encode("utf-8")).hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def _recorded_sha256(path: Path) -> str | None:
    """The sha256 recorded beside ``path`` (``<file>.sha256``, as ``sha256sum`` writes it); None when unreadable."""
    try:
        value = _record_path(path).read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return value if re.fullmatch(r"[0-9a-f]{64}", value) else None


def _write_record(path: Path, digest: str, note: str | None = None) -> None:
    """``<file>.sha256`` as ``sha256sum`` writes it; ``note`` (placed unverified) on a comment line after it."""
    extra = f"{_UNVERIFIED_NOTE}: {note}\n" if note else ""
    atomic.write_text(_record_path(path), f"{digest}  {path.name}\n{extra}")
