"""The output folder of a generation run: its lock, ``run.json``, ``manifest.jsonl`` and resume logic.

Layout::

    DIR/run.json          what was asked for (model, version, seed, condition, format, n)
    DIR/manifest.jsonl    one JSON line per finished sample: files, sha256, seed, condition, versions, time
    DIR/images/000000.png
    DIR/masks/000000.png  when the model returns masks
    DIR/metadata.jsonl    one line per sample with ``file_name`` (and its index, seed, condition, model, plugin,
                          versions and sha256), so ``datasets.load_dataset("imagefolder", data_dir=DIR)`` loads a
                          PNG or TIFF run (``niftifolder`` a NIfTI run, ``json`` any run's table)
    DIR/.medigan-journal/ manifest parts of a run in progress (distributed runs, stores without appends)

``DIR`` is a local folder or an fsspec URL (:mod:`medigan_host.generation.storage`). Each sample file is written atomically
and listed in the manifest (or a journal part) only after it is complete, so a run killed at any point resumes
(``resume=True``) without redoing or duplicating finished samples. Journal parts are named after the first
sample index they hold; :meth:`RunFolder.finish` appends them to the manifest in index order and deletes them.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import OutputError
from .storage import LOCK_FILE, Store, open_store

RUN_FILE = "run.json"
#: The metadata file of a Hugging Face ``imagefolder`` (``niftifolder`` ...) data set, beside the manifest.
IMAGEFOLDER_METADATA = "metadata.jsonl"
MANIFEST = "manifest.jsonl"
JOURNAL = ".medigan-journal"
SUBFOLDERS = ("images", "masks")
#: The name medigan gives a sample file in ``images/`` and ``masks/``: its index, then the format's extension.
SAMPLE_NAME = re.compile(r"^[0-9]{6,}\.[A-Za-z0-9]{1,16}(?:\.[A-Za-z0-9]{1,16}){0,3}$")
#: run.json keys that must match for a run to be resumed.
RESUME_KEYS = ("model", "model_version", "seed", "condition", "format", "inputs_sha256")

__all__ = ["JOURNAL", "LOCK_FILE", "MANIFEST", "OPTION_STYLE", "RUN_FILE", "Journal", "RunFolder", "iter_manifest",
           "read_manifest"]

#: How messages name the run options: "python" (``resume=True``, the default) or "cli" (``--resume``; the command
#: line sets it), so that a script is never told to pass a command-line flag.
OPTION_STYLE: contextvars.ContextVar[str] = contextvars.ContextVar("medigan_option_style", default="python")


def _opt(name: str, value: Any = True) -> str:
    """``name`` as the caller writes it: ``--resume`` / ``-n 500`` on the command line, ``resume=True`` /
    ``num_samples=500`` in Python."""
    if OPTION_STYLE.get() == "cli":
        return {"num_samples": f"-n {value}"}.get(name, f"--{name.replace('_', '-')}")
    return f"{name}={value!r}"


def encode_records(records: Iterable[dict[str, Any]]) -> str:
    """Manifest lines for ``records``: one sorted-key JSON object per line."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)


class Journal:
    """Manifest records written as parts ``.medigan-journal/<first index>.jsonl``, one atomic write per batch."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready = False

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        if not self._ready:
            self.store.makedirs(JOURNAL)
            self._ready = True
        self.store.sync(SUBFOLDERS)  # the batch's sample files are durable before a record lists them
        self.store.write_bytes(f"{JOURNAL}/{records[0]['index']:012d}.jsonl", encode_records(records).encode("utf-8"))
        self.store.sync([JOURNAL])

    def parts(self) -> list[str]:
        """The journal's parts in index order."""
        return [f"{JOURNAL}/{name}" for name in self.store.names(JOURNAL) if name.endswith(".jsonl") and not name.startswith(".")]

    def records(self) -> Iterator[dict[str, Any]]:
        for part in self.parts():
            yield from parse_manifest(self.store.iter_lines(part))


class RunFolder:
    """Exclusive access to one output folder for one run (use as a context manager)."""

    def __init__(self, target: str | os.PathLike[str] | Store) -> None:
        self.store = open_store(target)
        self._manifest_synced = False
        self._started = False
        self.path: Path | str = getattr(self.store, "path", self.store.url)
        self.manifest = self.path / MANIFEST if isinstance(self.path, Path) else self.store.display(MANIFEST)
        self.journal = Journal(self.store)

    # -- locking -------------------------------------------------------------------------------------
    def __enter__(self) -> RunFolder:
        self.store.prepare()
        self.store.refuse_links((LOCK_FILE, RUN_FILE, MANIFEST, JOURNAL, *SUBFOLDERS))
        self.store.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.unlock(discard=not self._started)

    # -- starting or resuming ------------------------------------------------------------------------
    def plan(self, run: dict[str, Any], *, resume: bool, overwrite: bool, verify_hashes: bool = True) -> set[int]:
        """Check the folder against the request without changing anything; return the finished sample indices.

        On resume, a sample counts as finished only when each of its listed files is there, not empty and (unless
        ``verify_hashes`` is False) has the sha256 its record lists; any other is generated again."""
        if resume and overwrite:
            raise OutputError(f"give either {_opt('resume')} (complete the run in the folder) or {_opt('overwrite')} "
                              "(replace it), not both")
        try:
            previous = self.read_run()
        except OutputError:
            if not overwrite:
                raise
            previous = {}  # a damaged run.json: --overwrite replaces the run it described, as its message says
        others = [name for name in self.store.names() if name != LOCK_FILE and not atomic.is_temporary(name)]  # start() clears those
        where = self.store.display()
        if previous is None:  # also a run killed before it wrote run.json: --resume starts it, so retries are safe
            if others and resume:
                raise OutputError(f"nothing to resume: {where!r} holds no medigan run ({RUN_FILE} is missing) but is not "
                                  f"empty ({len(others)} entries, e.g. {others[0]!r}); choose a new or empty folder")
            if others and not overwrite:
                raise OutputError(f"output folder {where!r} is not empty ({len(others)} entries, e.g. {others[0]!r}); "
                                  f"choose a new or empty folder, or pass {_opt('overwrite')} (only files medigan writes "
                                  "are replaced)")
            return set()
        if overwrite:
            return set()
        if not resume:
            done = len({record["index"] for record in self.records()})
            raise OutputError(f"{where!r} already holds a run of model {previous.get('model')!r} ({done} of "
                              f"{previous.get('n')} samples written): pass {_opt('resume')} to complete it or "
                              f"{_opt('overwrite')} to replace it, or choose another folder")
        if previous.get("model") != run.get("model"):  # another model's run: say so before any count or setting
            raise OutputError(f"cannot resume: {where!r} holds a run of model {previous.get('model')!r}, not "
                              f"{run.get('model')!r}; choose another folder for {run.get('model')!r}, or pass "
                              f"{_opt('overwrite')} instead of {_opt('resume')} to replace that run")
        changed = [k for k in RESUME_KEYS if previous.get(k) != run.get(k)]
        if isinstance(previous.get("n"), int) and run["n"] < previous["n"]:
            raise OutputError(f"cannot resume the run in {where!r} with fewer samples ({run['n']}) than it was started "
                              f"with ({previous['n']}); give {_opt('num_samples', previous['n'])} or more, or use a new "
                              f"folder or {_opt('overwrite')}")
        if changed:
            details = "; ".join(f"{k}: {previous.get(k)!r} then, {run.get(k)!r} now" for k in changed)
            raise OutputError(f"cannot resume the run in {where!r} with different settings ({details}); "
                              f"repeat the original settings, or use a new folder or {_opt('overwrite')}")
        present = self.store.file_check()
        return {record["index"] for record in self.records() if self._files_intact(record, present, verify_hashes)}

    def start(self, run: dict[str, Any], finished: set[int], *, overwrite: bool) -> None:
        """Make the folder match the plan: clear a replaced run, drop stale lines and temporaries, write run.json."""
        self._started = True
        if overwrite and self.store.exists(RUN_FILE):
            self._remove_previous_outputs()
        for folder in ("", *SUBFOLDERS, JOURNAL):
            self.store.remove_temporaries(folder)
        self.finish()
        if self.store.exists(MANIFEST):
            self._keep_in_manifest(finished)
        self.store.write_bytes(RUN_FILE, (json.dumps(run, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        self.store.sync([""])

    def _remove_previous_outputs(self) -> None:
        for record in self.records():  # only sample files medigan writes: a forged manifest cannot delete others
            files = record.get("files")
            for rel in files.values() if isinstance(files, dict) else ():
                target = self.store.safe(rel)
                if target is not None and target.split("/", 1)[0] in SUBFOLDERS and self.store.is_file(target):
                    self.store.remove(target)
        self.store.remove(MANIFEST)
        if self.store.exists(IMAGEFOLDER_METADATA):
            self.store.remove(IMAGEFOLDER_METADATA)
        self.store.remove_tree(JOURNAL)
        self.store.remove(RUN_FILE)
        for sub in SUBFOLDERS:  # samples written but never listed (a run killed mid-batch), in any format
            for name in self.store.names(sub):
                if SAMPLE_NAME.match(name) and self.store.is_file(f"{sub}/{name}"):
                    self.store.remove(f"{sub}/{name}")
            if self.store.is_dir(sub) and not self.store.names(sub):
                self.store.remove_tree(sub)

    # -- manifest ------------------------------------------------------------------------------------
    def read_run(self) -> dict[str, Any] | None:
        if not self.store.exists(RUN_FILE):
            return None
        where = self.store.display(RUN_FILE)
        try:
            data = json.loads(self.store.read_bytes(RUN_FILE).decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputError(f"{where!r} is unreadable ({exc}); it was not written by medigan, or was edited. "
                              f"Move it away, or use {_opt('overwrite')}") from exc
        if not isinstance(data, dict):
            raise OutputError(f"{where!r} does not hold a medigan run description; move it away or use {_opt('overwrite')}")
        return data

    def records(self) -> Iterator[dict[str, Any]]:
        """Every manifest record in the folder: ``manifest.jsonl``, then the journal's parts."""
        yield from parse_manifest(self.store.iter_lines(MANIFEST))
        yield from self.journal.records()

    def append(self, records: list[dict[str, Any]]) -> None:
        """Add finished samples to the manifest in one write (a journal part on stores that cannot append)."""
        if self.store.appendable:
            self.store.sync(SUBFOLDERS)  # the batch's sample files are durable before a record lists them
            self.store.append_text(MANIFEST, encode_records(records))  # fsynced
            if not self._manifest_synced:  # the manifest's own name, once
                self.store.sync([""])
                self._manifest_synced = True
        else:
            self.journal.append(records)

    def finish(self) -> None:
        """Move the journal's records into ``manifest.jsonl`` in index order, then delete the journal.

        Killed half-way, a later start does it again; records that got in twice are dropped by the resume."""
        parts = self.journal.parts()
        if parts:
            if self.store.appendable:
                for part in parts:
                    self.store.append_text(MANIFEST, self.store.read_bytes(part).decode("utf-8"))
            else:
                self.store.write_chunks(MANIFEST, _complete_lines(self.store, [MANIFEST, *parts]))
        self.store.remove_tree(JOURNAL)
        self._write_imagefolder_metadata()

    def _write_imagefolder_metadata(self) -> None:
        """``metadata.jsonl`` from the manifest, in index order, for every format."""
        if not self.store.exists(MANIFEST):
            return
        records = sorted(parse_manifest(self.store.iter_lines(MANIFEST)), key=lambda r: r["index"])
        rows = list(imagefolder_rows(records))
        if rows:
            self.store.write_chunks(IMAGEFOLDER_METADATA, ((json.dumps(row) + "\n").encode("utf-8") for row in rows))
        elif self.store.exists(IMAGEFOLDER_METADATA):
            self.store.remove(IMAGEFOLDER_METADATA)

    def _keep_in_manifest(self, finished: set[int]) -> None:
        """Rewrite the manifest (atomically, streaming) with one line per finished sample and nothing else."""
        def kept() -> Iterator[bytes]:
            written: set[int] = set()
            for record in parse_manifest(self.store.iter_lines(MANIFEST)):
                if record["index"] in finished and record["index"] not in written:
                    written.add(record["index"])
                    yield (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")

        self.store.write_chunks(MANIFEST, kept())

    def _files_intact(self, record: dict[str, Any], present: Any, verify_hashes: bool) -> bool:
        files, digests = record.get("files"), record.get("sha256")
        if not isinstance(files, dict) or not files:
            return False
        for kind, value in files.items():
            rel = self.store.safe(value)
            if rel is None or not present(rel):
                return False
            try:
                if not verify_hashes:
                    if self.store.size(rel) == 0:
                        return False
                elif not isinstance(digests, dict) or hashlib.sha256(self.store.read_bytes(rel)).hexdigest() != digests.get(kind):
                    return False
            except OSError:
                return False
        return True


#: The provenance columns of ``metadata.jsonl``, copied from each manifest record (JSON null when it has none).
METADATA_COLUMNS = ("index", "seed", "model", "model_version", "plugin", "plugin_version", "host_version", "condition")


def imagefolder_rows(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One ``metadata.jsonl`` row per record with an image file: ``file_name`` (the image, relative to the run
    folder), ``mask_file_name`` (models with masks), the :data:`METADATA_COLUMNS` (the condition as the run's JSON
    object, or null) and ``sha256`` / ``mask_sha256`` of the files, whatever the format."""
    for record in records:
        files = record.get("files") if isinstance(record.get("files"), dict) else {}
        digests = record.get("sha256") if isinstance(record.get("sha256"), dict) else {}
        image = files.get("image")
        if not isinstance(image, str):
            continue
        row: dict[str, Any] = {"file_name": image}
        if isinstance(files.get("mask"), str):
            row["mask_file_name"] = files["mask"]
        row.update({key: record.get(key) for key in METADATA_COLUMNS})
        row["sha256"] = digests.get("image")
        if "mask_file_name" in row:
            row["mask_sha256"] = digests.get("mask")
        yield row


def _complete_lines(store: Store, files: list[str]) -> Iterator[bytes]:
    """The complete lines of ``files`` in turn (a torn last line is left out)."""
    for name in files:
        for line in store.iter_lines(name):
            if line.endswith(b"\n"):
                yield line


def parse_manifest(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The records among manifest lines, in order.

    Lines that are not complete JSON records with an ``index`` (a line torn by a run killed mid-write, or a
    malformed one) are skipped: those samples count as not finished and are generated again.
    """
    for line in lines:
        if not line.endswith(b"\n"):
            break
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("index"), int) and record["index"] >= 0:
            yield record


def iter_manifest(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a local ``manifest.jsonl`` in file order, streaming."""
    if not path.exists():
        return
    with open(path, "rb") as handle:
        yield from parse_manifest(handle)


def read_manifest(path: Path) -> dict[int, dict[str, Any]]:
    """Finished samples by index (the last record wins where an index repeats)."""
    return {record["index"]: record for record in iter_manifest(path)}
