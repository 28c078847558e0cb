"""The output folder of a generation run: its lock, ``run.json``, ``manifest.jsonl`` and resume logic.

Layout::

    DIR/run.json          what was asked for (model, version, seed, condition, format, n)
    DIR/manifest.jsonl    one JSON line per finished sample: files, sha256, seed, condition, versions, time
    DIR/images/000000.png
    DIR/masks/000000.png  when the model returns masks

Each sample file is written atomically and listed in the manifest only after it is complete, so a run
killed at any point resumes (``resume=True``) without redoing or duplicating finished samples.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import atomic
from .errors import MediganError, OutputError, OutputLockedError

RUN_FILE = "run.json"
MANIFEST = "manifest.jsonl"
LOCK_FILE = ".medigan.lock"
SUBFOLDERS = ("images", "masks")
#: run.json keys that must match for a run to be resumed.
RESUME_KEYS = ("model", "model_version", "seed", "condition", "format", "inputs_sha256")


class RunFolder:
    """Exclusive access to one output folder for one run (use as a context manager)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.manifest = self.path / MANIFEST
        self._lock_handle: Any = None

    # -- locking -------------------------------------------------------------------------------------
    def __enter__(self) -> RunFolder:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"output path {str(self.path)!r} exists and is not a folder; choose a folder path")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_handle = open(self.path / LOCK_FILE, "a+")
        except PermissionError as exc:
            raise MediganError(f"cannot write to output folder {str(self.path)!r}: {exc.strerror}; "
                               "choose a folder you can write to, or fix its permissions") from exc
        except OSError as exc:
            raise MediganError(f"cannot create output folder {str(self.path)!r}: {exc.strerror or exc}") from exc
        if not _try_lock(self._lock_handle):
            self._lock_handle.close()
            self._lock_handle = None
            raise OutputLockedError(f"another medigan generation is writing into {str(self.path)!r}; wait for it to "
                                    "finish, or choose another output folder")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_handle is not None:
            _unlock(self._lock_handle)
            self._lock_handle.close()
            self._lock_handle = None

    # -- starting or resuming ------------------------------------------------------------------------
    def plan(self, run: dict[str, Any], *, resume: bool, overwrite: bool) -> set[int]:
        """Check the folder against the request without changing anything; return the finished sample indices."""
        if resume and overwrite:
            raise OutputError("give either --resume (complete the run in the folder) or --overwrite (replace it), not both")
        previous = self.read_run()
        others = [p.name for p in self.path.iterdir() if p.name != LOCK_FILE]
        where = str(self.path)
        if previous is None:
            if resume:
                raise OutputError(f"nothing to resume: {where!r} holds no medigan run ({RUN_FILE} is missing); "
                                  "run without --resume")
            if others and not overwrite:
                raise OutputError(f"output folder {where!r} is not empty ({len(others)} entries, e.g. {others[0]!r}); "
                                  "choose a new or empty folder, or pass --overwrite (only files medigan writes are replaced)")
            return set()
        if overwrite:
            return set()
        if not resume:
            done = len({record["index"] for record in iter_manifest(self.manifest)})
            raise OutputError(f"{where!r} already holds a run of model {previous.get('model')!r} ({done} of "
                              f"{previous.get('n')} samples written): pass --resume to complete it or --overwrite to replace it")
        changed = [k for k in RESUME_KEYS if previous.get(k) != run.get(k)]
        if changed:
            details = "; ".join(f"{k}: {previous.get(k)!r} then, {run.get(k)!r} now" for k in changed)
            raise OutputError(f"cannot resume the run in {where!r} with different settings ({details}); "
                              "repeat the original settings, or use a new folder or --overwrite")
        return {record["index"] for record in iter_manifest(self.manifest) if self._files_present(record)}

    def start(self, run: dict[str, Any], finished: set[int], *, overwrite: bool) -> None:
        """Make the folder match the plan: clear a replaced run, drop stale lines and temporaries, write run.json."""
        if overwrite and self.read_run() is not None:
            self._remove_previous_outputs()
        for folder in (self.path, *(self.path / sub for sub in SUBFOLDERS)):
            atomic.remove_temporaries(folder)
        if self.manifest.exists():
            self._keep_in_manifest(finished)
        atomic.write_text(self.path / RUN_FILE, json.dumps(run, indent=2, sort_keys=True) + "\n")

    def _remove_previous_outputs(self) -> None:
        for record in iter_manifest(self.manifest):
            for rel in record.get("files", {}).values():
                target = self._inside(rel)
                if target is not None:
                    target.unlink(missing_ok=True)
        self.manifest.unlink(missing_ok=True)
        (self.path / RUN_FILE).unlink(missing_ok=True)
        for sub in SUBFOLDERS:
            folder = self.path / sub
            if folder.is_dir() and not any(folder.iterdir()):
                shutil.rmtree(folder)

    # -- manifest ------------------------------------------------------------------------------------
    def read_run(self) -> dict[str, Any] | None:
        path = self.path / RUN_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputError(f"{str(path)!r} is unreadable ({exc}); it was not written by medigan, or was edited. "
                              "Move it away, or use --overwrite") from exc
        if not isinstance(data, dict):
            raise OutputError(f"{str(path)!r} does not hold a medigan run description; move it away or use --overwrite")
        return data


    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Add finished samples to the manifest in one write."""
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        with open(self.manifest, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()

    def _keep_in_manifest(self, finished: set[int]) -> None:
        """Rewrite the manifest (atomically, streaming) with one line per finished sample and nothing else."""
        tmp = atomic.temporary_path(self.manifest)
        written: set[int] = set()
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                for record in iter_manifest(self.manifest):
                    if record["index"] in finished and record["index"] not in written:
                        out.write(json.dumps(record, sort_keys=True) + "\n")
                        written.add(record["index"])
            os.replace(tmp, self.manifest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _inside(self, rel: str) -> Path | None:
        """``rel`` resolved inside the folder, or None when it would point outside it."""
        if not isinstance(rel, str) or not rel or os.path.isabs(rel) or "\x00" in rel:
            return None
        target = (self.path / rel).resolve()
        return target if target.is_relative_to(self.path.resolve()) else None

    def _files_present(self, record: dict[str, Any]) -> bool:
        files = record.get("files")
        if not isinstance(files, dict) or not files:
            return False
        return all((p := self._inside(rel)) is not None and p.is_file() for rel in files.values())


def iter_manifest(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a ``manifest.jsonl`` in file order, streaming.

    Lines that are not complete JSON records with an ``index`` (a line torn by a run killed mid-write, or a
    malformed one) are skipped: those samples count as not finished and are generated again.
    """
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("index"), int) and record["index"] >= 0:
                yield record


def read_manifest(path: Path) -> dict[int, dict[str, Any]]:
    """Finished samples by index (the last record wins where an index repeats)."""
    return {record["index"]: record for record in iter_manifest(path)}


def _try_lock(handle: Any) -> bool:
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


def _unlock(handle: Any) -> None:
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except ImportError:
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
