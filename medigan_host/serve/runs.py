"""The server's runs: each an ordinary run folder written by the generation engine, resumed after a restart.

Layout of ``--runs DIR``::

    DIR/<run id>/request.json   what the client asked for (model, samples, seed, condition, format, batch size)
    DIR/<run id>/state.json     queued, running, done, failed or cancelled; the error; the counts of a finished run
    DIR/<run id>/inputs.npy     the inputs of an image-to-image run
    DIR/<run id>/output/        the run folder: exactly what `medigan generate -o` writes (manifest.jsonl, run.json,
                                images/, masks/, metadata.jsonl)

A run id is made by the server (``20261205T124500-1a2b3c4d``); a request names a run only by its id, which is checked
against that pattern and looked up among the runs the server knows, so no path from a request reaches the file system.
A run that was queued or running when the server stopped (killed, or shut down) is resumed when it starts again:
the engine keeps the samples listed in the manifest and writes the others, so nothing is lost or duplicated.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import MediganError, MediganUsageError
from ..registry import Catalog, ModelEntry, runs_remote_code
from .config import ServeConfig

RUN_ID = re.compile(r"\A[0-9]{8}T[0-9]{6}-[0-9a-f]{8}\Z")
#: Held by the server that uses the runs folder: two servers resuming the same runs would write over each other's state.
SERVER_LOCK = ".medigan-serve.lock"
REQUEST = "request.json"
STATE = "state.json"
INPUTS = "inputs.npy"
OUTPUT = "output"
ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled")
#: Fields a client may give when it starts a run.
REQUEST_FIELDS = ("model", "num_samples", "seed", "condition", "format", "batch_size", "inputs")
#: Files a run folder may hold at its top, besides ``images/`` and ``masks/``.
TOP_FILES = ("run.json", "manifest.jsonl", "metadata.jsonl")
SUBFOLDERS = ("images", "masks")


class RunNotFound(MediganUsageError, LookupError):
    """No run with this id (HTTP 404)."""


class RunStateError(MediganUsageError):
    """The run is not in a state that allows this (HTTP 409)."""


class RunLimitError(MediganError):
    """The server is at its limit of runs in progress (HTTP 429)."""


class TrustRefused(MediganUsageError):
    """A remote-code model on a server started without --trust-remote-code (HTTP 403)."""


class _Stop(Exception):
    """Raised in the engine's progress callback to stop a run after the batch it just wrote."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


@dataclass
class Run:
    """One run the server knows: its request, its state and, while it is active, its live progress."""

    id: str
    folder: Path
    request: dict[str, Any]
    status: str = "queued"
    done: int = 0
    error: str = ""
    created: str = ""
    started: str | None = None
    finished: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    resumed: int = 0
    stop: str | None = None  # "cancelled" or "interrupted" once asked to stop
    attempt: int = 0  # each queueing gets a number; an execution queued before the latest one does nothing

    @property
    def output(self) -> Path:
        return self.folder / OUTPUT

    def state(self) -> dict[str, Any]:
        return {"status": self.status, "done": self.done, "error": self.error, "started": self.started,
                "finished": self.finished, "result": self.result, "resumed": self.resumed}

    def to_dict(self) -> dict[str, Any]:
        request = {k: v for k, v in self.request.items() if k != "created"}
        return {"id": self.id, **request, "status": self.status, "done": self.done, "error": self.error,
                "created": self.created, "started": self.started, "finished": self.finished, "resumed": self.resumed,
                "result": self.result, "folder": str(self.output.resolve())}


class RunManager:
    """Starts, follows, cancels and resumes runs in ``config.runs``; at most ``config.max_runs`` at a time."""

    def __init__(self, config: ServeConfig, catalog: Callable[[], Catalog] | None = None) -> None:
        self.config = config
        self.root = config.runs
        self._catalog = catalog
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._pool = ThreadPoolExecutor(max_workers=config.max_runs, thread_name_prefix="medigan-run")
        self._closed = False
        self._ray_started = False
        self._lock_handle: Any = None
        self._manifests: dict[str, tuple[Any, list[dict[str, Any]]]] = {}

    # -- the catalog and the checks of a request ------------------------------------------------------
    def catalog(self) -> Catalog:
        if self._catalog is not None:
            return self._catalog()
        from ..api import installed_catalog

        return installed_catalog()

    def entry(self, model: Any) -> ModelEntry:
        if not isinstance(model, (str, int)) or isinstance(model, bool) or not str(model).strip():
            raise MediganUsageError(f"'model' must be a model id (see GET /api/models), got {model!r}")
        return self.catalog().get(model)

    def check_trust(self, entry: ModelEntry) -> None:
        if runs_remote_code(entry.card) and not self.config.trust_remote_code:
            raise TrustRefused(f"model {entry.card.id!r} runs code downloaded with it; this server runs such models only "
                               "when it was started with --trust-remote-code")

    def check_request(self, body: Any) -> tuple[dict[str, Any], Any]:
        """The normalised request and the inputs array (None for noise models); raises on any bad field."""
        import numpy as np

        from ..conditions import check_condition
        from ..formats.writers import get_writer
        from ..generation.engine import check_count, default_format
        from ..models import check_inputs
        from ..seeding import check_seed

        if not isinstance(body, dict):
            raise MediganUsageError("the request body must be a JSON object such as {\"model\": \"ct-head-phantom\", "
                                    "\"num_samples\": 8}")
        unknown = sorted(set(body) - set(REQUEST_FIELDS))
        if unknown:
            raise MediganUsageError(f"unknown field {unknown[0]!r} in the request; the fields are: {', '.join(REQUEST_FIELDS)}")
        entry = self.entry(body.get("model"))
        card = entry.card
        self.check_trust(entry)
        inputs = decode_inputs(body.get("inputs"), self.config.max_samples) if body.get("inputs") is not None else None
        n = check_count(body.get("num_samples"), inputs, card.id)
        if n > self.config.max_samples:
            raise MediganUsageError(f"{n} samples is more than this server allows in one run ({self.config.max_samples}); "
                                    "ask for fewer, or start the server with a larger --max-samples")
        seed = check_seed(body.get("seed", 0))
        batch_size = body.get("batch_size", self.config.batch_size)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 4096:
            raise MediganUsageError(f"batch_size must be a whole number from 1 to 4096, got {batch_size!r}")
        condition = body.get("condition") or None
        if condition is not None and not isinstance(condition, dict):
            raise MediganUsageError(f"'condition' must be an object of condition names and values, got {condition!r}")
        condition = check_condition(card, condition)
        fmt = body.get("format") or default_format(card)
        if not isinstance(fmt, str):
            raise MediganUsageError(f"'format' must be the name of an output format (png, npy …), got {fmt!r}")
        writer = get_writer(fmt)
        writer.check(card)
        check_inputs(card, inputs, n)
        request = {"model": card.id, "model_version": card.version, "num_samples": n, "seed": seed, "condition": condition,
                   "format": writer.name, "batch_size": batch_size, "inputs": None if inputs is None else len(inputs)}
        return request, None if inputs is None else np.asarray(inputs)

    # -- runs ---------------------------------------------------------------------------------------------
    def connect_ray(self) -> None:
        """With ``engine="ray"``: join (or start) Ray once for the server, so that runs in parallel share it and none
        shuts it down under another."""
        if self.config.engine != "ray" or self._ray_started:
            return
        from ..generation.distributed import RayOptions, connect, import_ray

        options = RayOptions.checked(address=self.config.address, workers=self.config.workers,
                                     gpus_per_worker=self.config.gpus_per_worker)
        self._ray_started = connect(import_ray(), options)

    def lock(self) -> None:
        """Take the runs folder for this server, or raise a usage error naming what to do."""
        if self._lock_handle is not None:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / SERVER_LOCK, "a+")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise MediganUsageError(f"cannot use {str(self.root)!r} for the runs: {exc.strerror or exc}; "
                                    "choose a folder you can write to with --runs") from exc
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # Windows: no second-server check
            pass
        except OSError:
            handle.close()
            raise MediganUsageError(f"another medigan serve uses the runs folder {str(self.root)!r}; stop it, or give "
                                    "this one its own --runs folder") from None
        self._lock_handle = handle

    def recover(self) -> list[str]:
        """Load the runs in the folder; queue again those that were queued or running. Returns their ids."""
        self.lock()
        self.connect_ray()
        self.catalog()  # the plugins are found once, before requests come in from several threads
        again = []
        for path in sorted(self.root.iterdir()):
            if not RUN_ID.match(path.name) or not path.is_dir() or path.is_symlink() or path.name in self._runs:
                continue
            try:
                request = json.loads((path / REQUEST).read_text(encoding="utf-8"))
                state = json.loads((path / STATE).read_text(encoding="utf-8"))
                if not isinstance(request, dict) or not isinstance(state, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                warnings.warn(f"skipping run folder {str(path)!r}: {exc}", stacklevel=2)
                continue
            run = Run(path.name, path, request, status=str(state.get("status", "failed")), done=int(state.get("done") or 0),
                      error=str(state.get("error") or ""), created=str(request.get("created", "")), started=state.get("started"),
                      finished=state.get("finished"), result=state.get("result") or {}, resumed=int(state.get("resumed") or 0))
            with self._lock:
                self._runs[run.id] = run
            if run.status in ACTIVE:
                run.status, run.resumed = "queued", run.resumed + 1
                self._write_state(run)
                self._submit(run)
                again.append(run.id)
        return again

    def start(self, body: Any) -> Run:
        """Check the request, create the run's folder and queue it; raise before anything is written if it is refused."""
        request, inputs = self.check_request(body)
        with self._lock:
            self._check_capacity()
            run_id = new_run_id()
            while run_id in self._runs or (self.root / run_id).exists():
                run_id = new_run_id()
            run = Run(run_id, self.root / run_id, {**request, "created": _now()}, created=_now())
            self._runs[run_id] = run  # holds its place under the limit while its folder is written
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            run.folder.mkdir()
            if inputs is not None:
                import numpy as np

                buffer = io.BytesIO()
                np.save(buffer, inputs, allow_pickle=False)
                atomic.write_bytes(run.folder / INPUTS, buffer.getvalue())
            atomic.write_text(run.folder / REQUEST, json.dumps(run.request, indent=2, sort_keys=True) + "\n")
            self._write_state(run)
        except BaseException:
            with self._lock:
                self._runs.pop(run_id, None)
            raise
        self._submit(run)
        return run

    def _submit(self, run: Run) -> None:
        with self._lock:
            run.attempt += 1
            attempt = run.attempt
        self._pool.submit(self._execute, run, attempt)

    def _check_capacity(self) -> None:
        if self._closed:
            raise RunLimitError("the server is shutting down; start the run again once it is back")
        active = sum(run.status in ACTIVE for run in self._runs.values())
        if active >= self.config.max_runs:
            raise RunLimitError(f"{active} runs are in progress, the most this server runs at once "
                                f"(--max-runs {self.config.max_runs}); wait for one to finish or cancel one, then try again")

    def get(self, run_id: Any) -> Run:
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            raise RunNotFound(f"{str(run_id)[:80]!r} is not a run id (they look like 20261205T124500-1a2b3c4d); "
                              "list the runs with GET /api/runs")
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(f"no run {run_id!r} on this server; list the runs with GET /api/runs")
        return run

    def list(self) -> list[Run]:
        with self._lock:
            return sorted(self._runs.values(), key=lambda r: r.id, reverse=True)

    def cancel(self, run_id: str) -> Run:
        """Stop a queued or running run after the batch in progress; what it wrote stays, and it can be resumed."""
        run = self.get(run_id)
        with self._lock:
            if run.status not in ACTIVE:
                raise RunStateError(f"run {run.id} is {run.status}; only queued or running runs can be cancelled")
            run.stop = "cancelled"
            waiting = run.status == "queued"
            if waiting:  # not started: cancelled now (its turn in the queue then does nothing)
                run.status, run.finished = "cancelled", _now()
                run.attempt += 1
        if waiting:
            self._write_state(run)
        return run

    def resume(self, run_id: str) -> Run:
        """Queue a cancelled or failed run again: it completes the samples it has not written."""
        run = self.get(run_id)
        with self._lock:
            if run.status not in ("cancelled", "failed"):
                raise RunStateError(f"run {run.id} is {run.status}; only cancelled or failed runs can be resumed")
            self._check_capacity()
            entry = self.catalog().get(run.request["model"])
            self.check_trust(entry)
            run.status, run.error, run.stop, run.resumed = "queued", "", None, run.resumed + 1
        self._write_state(run)
        self._submit(run)
        return run

    def wait(self, run_id: str, timeout: float = 60.0) -> Run:
        """Wait until the run is no longer queued or running (for scripts and tests)."""
        run = self.get(run_id)
        deadline = time.monotonic() + timeout
        while run.status in ACTIVE:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run.status} after {timeout} s")
            time.sleep(0.02)
        return run

    def close(self, wait: bool = True) -> None:
        """Stop accepting runs; runs in progress stop after their current batch and stay queued for the next start."""
        with self._lock:
            self._closed = True
            for run in self._runs.values():
                if run.status in ACTIVE and run.stop is None:
                    run.stop = "interrupted"
        self._pool.shutdown(wait=wait, cancel_futures=False)
        if self._ray_started and wait:
            from ..generation.distributed import import_ray

            import_ray().shutdown()
            self._ray_started = False
        if self._lock_handle is not None and wait:
            self._lock_handle.close()
            self._lock_handle = None

    # -- running ------------------------------------------------------------------------------------------
    def _write_state(self, run: Run) -> None:
        atomic.write_text(run.folder / STATE, json.dumps(run.state(), indent=2, sort_keys=True) + "\n")

    def _execute(self, run: Run, attempt: int) -> None:
        from ..generation.engine import generate

        with self._lock:
            if attempt != run.attempt:  # cancelled while queued, or queued again since
                return
            stop = run.stop
            if stop is None:
                run.status, run.started, run.done = "running", _now(), 0
        if stop is not None:
            self._stopped(run, stop)
            return
        self._write_state(run)
        request = run.request

        def progress(count: int) -> None:
            run.done += count
            if run.stop is not None:
                raise _Stop(run.stop)

        try:
            inputs = self._inputs(run)
            options = {"engine": self.config.engine}
            if self.config.engine == "ray":
                options.update(address=self.config.address, workers=self.config.workers,
                               gpus_per_worker=self.config.gpus_per_worker)
            result = generate(request["model"], request["num_samples"], run.output, seed=request["seed"],
                              batch_size=request["batch_size"], condition=request["condition"], inputs=inputs,
                              format=request["format"], device=self.config.device, resume=True, progress=progress,
                              trust_remote_code=self.config.trust_remote_code, **options)
        except _Stop as stop:
            self._stopped(run, stop.status)
            return
        except MediganError as error:
            self._failed(run, str(error))
            return
        except BaseException as error:  # noqa: BLE001 - plugin code: its failure is the run's, never the server's
            self._failed(run, f"{type(error).__name__}: {error}")
            return
        run.result = {k: v for k, v in result.to_dict().items() if k in ("generated", "already_done", "seconds", "engine")}
        run.done, run.status, run.finished = result.num_samples, "done", _now()
        self._write_state(run)

    def _inputs(self, run: Run) -> Any:
        if not run.request.get("inputs"):
            return None
        import numpy as np

        return np.load(run.folder / INPUTS, allow_pickle=False)

    def _stopped(self, run: Run, how: str) -> None:
        if how == "interrupted":  # the server is stopping: the next start resumes it
            run.status = "queued"
        else:
            run.status, run.finished = "cancelled", _now()
        self._write_state(run)

    def _failed(self, run: Run, message: str) -> None:
        run.status, run.error, run.finished = "failed", message, _now()
        self._write_state(run)

    # -- what a run wrote -----------------------------------------------------------------------------------
    def files(self, run_id: str) -> list[tuple[str, int]]:
        """The files of the run folder (its top files, then ``images/`` and ``masks/``), as (path, size)."""
        from ..generation.outputs import SAMPLE_NAME

        run = self.get(run_id)
        found = []
        for name in TOP_FILES:
            found += _plain_file(run.output / name, name)
        for sub in SUBFOLDERS:
            folder = run.output / sub
            if folder.is_dir() and not folder.is_symlink():
                with os.scandir(folder) as entries:
                    names = sorted(e.name for e in entries if SAMPLE_NAME.fullmatch(e.name))
                for name in names:
                    found += _plain_file(folder / name, f"{sub}/{name}")
        return found

    def file(self, run_id: str, rel: Any) -> Path:
        """The path of file ``rel`` of the run, if its file list holds it (the same rule, without listing); else
        RunNotFound."""
        from ..generation.outputs import SAMPLE_NAME

        run = self.get(run_id)
        sub, slash, name = rel.partition("/") if isinstance(rel, str) else ("", "", "")
        listed = (not slash and sub in TOP_FILES) or (sub in SUBFOLDERS and SAMPLE_NAME.fullmatch(name) is not None)
        path = run.output.joinpath(sub, name) if name else run.output / sub
        if not listed or (name and (run.output / sub).is_symlink()) or not _plain_file(path, rel):
            raise RunNotFound(f"run {run_id} has no file {str(rel)[:200]!r}; list its files with GET /api/runs/{run_id}/files")
        return path

    def manifest(self, run_id: str) -> list[dict[str, Any]]:
        """The run's manifest records in index order (the journal's too, for a Ray run in progress)."""
        from ..generation.outputs import RunFolder

        run = self.get(run_id)
        if not run.output.is_dir():
            return []
        try:
            stat = (run.output / "manifest.jsonl").stat()
            key: Any = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = None
        cached = self._manifests.get(run.id)
        if key is not None and run.status in FINAL and cached is not None and cached[0] == key:
            return cached[1]  # a finished run's manifest, unchanged since it was read
        records = {record["index"]: record for record in RunFolder(run.output).records()}
        ordered = [records[i] for i in sorted(records)]
        if key is not None and run.status in FINAL:
            self._manifests[run.id] = (key, ordered)
        return ordered

    def zip_entries(self, run_id: str) -> Iterator[tuple[str, Path]]:
        """(name in the ZIP, file) for every file of a finished run, under a folder named after the run."""
        run = self.get(run_id)
        if run.status != "done":
            raise RunStateError(f"run {run.id} is {run.status}; its ZIP is ready once it is done")
        for rel, _ in self.files(run_id):
            yield f"{run.id}/{rel}", run.output.joinpath(*rel.split("/"))


def _plain_file(path: Path, rel: str) -> list[tuple[str, int]]:
    try:
        stat = path.lstat()
    except OSError:
        return []
    import stat as st

    return [(rel, stat.st_size)] if st.S_ISREG(stat.st_mode) else []


def decode_inputs(items: Any, max_count: int) -> Any:
    """The inputs of an image-to-image run from ``[{"name": "a.png", "data": "<base64>"}, …]``: one image per item,
    in the order given, read by :func:`medigan_host.formats.readers.read_image` (PNG, JPEG, TIFF, NPY, DICOM, NIfTI)."""
    import base64
    import binascii
    import tempfile

    import numpy as np

    from ..formats.readers import image_suffix, read_image

    if not isinstance(items, list) or not items:
        raise MediganUsageError("'inputs' must be a non-empty list of {\"name\": \"a.png\", \"data\": \"<base64>\"} objects")
    if len(items) > max_count:
        raise MediganUsageError(f"{len(items)} inputs is more than this server allows in one run ({max_count})")
    arrays = []
    with tempfile.TemporaryDirectory(prefix="medigan-inputs-") as tmp:
        for i, item in enumerate(items):
            name, data = (item.get("name"), item.get("data")) if isinstance(item, dict) else (None, None)
            suffix = image_suffix(name) if isinstance(name, str) else None
            if suffix is None or not isinstance(data, str):
                raise MediganUsageError(f"input {i} must be {{\"name\": \"<file name with an image suffix: .png, .tif, "
                                        f".jpg, .npy, .dcm, .nii>\", \"data\": \"<base64>\"}}, got name {str(name)[:80]!r}")
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MediganUsageError(f"input {i} ({name[:80]!r}): 'data' is not base64 ({exc})") from exc
            path = Path(tmp) / f"{i:06d}{suffix}"  # the server names the file: nothing of the request reaches a path
            path.write_bytes(raw)
            try:
                arrays.append(read_image(path))
            except MediganError as exc:
                raise MediganUsageError(f"input {i} ({name[:80]!r}) cannot be read: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - a damaged file in any format is the request's error
                raise MediganUsageError(f"input {i} ({name[:80]!r}) cannot be read as {suffix}: {exc}") from exc
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise MediganUsageError(f"the inputs differ in shape ({sorted(shapes)[:3]}); give images of one size")
    return np.stack(arrays)
