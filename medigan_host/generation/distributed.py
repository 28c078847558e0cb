"""Distributed generation on Ray: a run split into shards of consecutive sample indices, one model per actor.

Each actor loads the model once, writes the files of the shards it is given through the same code path as a
local run (:func:`medigan_host.generation.writing.write_samples`) and commits each batch's manifest records as a journal
part; the driver merges the parts into ``manifest.jsonl`` in index order. Sample *i* always gets the seed
derived from the run seed and *i*, so the files do not depend on the number of workers.

Workers import the model's plugin themselves: every node must have the same plugins installed as the driver
(a plugin registered in the driver's process with ``register_plugin`` is unknown to them). The output folder
must be reachable from every worker: a local path on one machine or a shared file system, else a URL of a
shared store (``s3://`` …).

Ray is optional: ``pip install 'medigan-host[ray]'``. Nothing here imports it before a Ray run starts.
"""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import FrameworkMissingError, MediganError, MediganUsageError, PluginError
from ..frameworks import pip_command

#: How often a worker that dies (its process is lost) is restarted, its shard retried, before the run fails.
MAX_RESTARTS = 3
#: Seconds to wait for a cluster address to answer before Ray is asked to join it.
CONNECT_TIMEOUT = 10.0
#: Shards per worker: more, smaller shards balance the load and make a retry redo less.
SHARDS_PER_WORKER = 4


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray run goes."""

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    max_restarts: int = MAX_RESTARTS

    @classmethod
    def checked(cls, *, address: str | None, workers: int | None, gpus_per_worker: float | None) -> RayOptions:
        """The options, or a MediganUsageError saying which one is wrong."""
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise MediganUsageError(f"address must be a Ray cluster address such as 'ray://head:10001' or 'auto', got {address!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise MediganUsageError(f"workers must be a whole number of at least 1, got {workers!r}")
        gpus = 0.0 if gpus_per_worker is None else gpus_per_worker
        if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not 0 <= gpus < math.inf:
            raise MediganUsageError(f"gpus_per_worker must be a number of GPUs of 0 or more (fractions share a GPU), got {gpus!r}")
        return cls(address=address, workers=workers, gpus_per_worker=float(gpus))


def import_ray() -> Any:
    """The ``ray`` module, or a clear error naming the pip command."""
    try:
        import ray
    except ImportError:
        raise FrameworkMissingError(f"the ray engine needs Ray, which is not installed: `{pip_command('medigan-host[ray]')}`") from None
    return ray


def shard_ranges(n: int, shards: int, batch_size: int) -> list[range]:
    """Split ``range(n)`` into at most ``shards`` consecutive ranges, each a whole number of batches but the last."""
    size = max(batch_size, math.ceil(n / max(shards, 1) / batch_size) * batch_size)
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def peak_rss_mib() -> float | None:
    """This process's peak resident memory in MiB (``VmHWM``; ``ru_maxrss`` where there is no /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return None


class ShardWriter:
    """A Ray actor's state: the loaded model, the store and the writer. Errors are returned, not raised, so that
    medigan's messages reach the driver unchanged."""

    def __init__(self, url: str, spec: Any, plugin_version: str | None) -> None:
        import ray

        self.error: dict[str, Any] | None = None
        with warnings.catch_warnings():  # the property reads a deprecated attribute inside Ray
            warnings.simplefilter("ignore")
            self.restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        try:
            from ..api import installed_catalog
            from ..formats.writers import get_writer
            from ..models import load
            from .outputs import Journal
            from .storage import open_store
            from .writing import write_samples  # noqa: F401 - fail here, not in the first shard

            entry = installed_catalog().get(spec.model)
            if (entry.card.version, entry.plugin_version) != (spec.common["model_version"], plugin_version):
                raise PluginError(f"worker on {socket.gethostname()!r} has model {spec.model!r} version {entry.card.version} "
                                  f"from plugin {entry.plugin!r} {entry.plugin_version}, the driver has version "
                                  f"{spec.common['model_version']} from {plugin_version}; install the same plugins on every node")
            self.spec = spec
            self.model = load(entry, spec.device, trust_remote_code=spec.trust_remote_code)
            self.store = open_store(url)
            self.writer = get_writer(spec.format)
            self.journal = Journal(self.store)
        except MediganError as exc:
            self.error = {"message": str(exc), "usage": exc.exit_code == 2}

    def write(self, indices: list[int] | range, inputs: Any) -> dict[str, Any]:
        """Write the samples ``indices``; return what was done (or the error)."""
        if self.error is not None:
            return {"error": self.error}
        from ..trust import require_call_trust
        from .writing import write_samples

        try:  # checked per call, in the worker: a model loaded with trust runs downloaded code only for trusted runs
            require_call_trust(self.model.card, self.model.runs_downloaded_code, self.spec.trust_remote_code)
        except MediganError as exc:
            return {"error": {"message": str(exc), "usage": exc.exit_code == 2}}

        started = time.perf_counter()
        try:
            count = write_samples(self.model, self.store, indices, self.spec, self.writer, inputs, self.journal.append,
                                  before_batch=self._driver_alive)
        except MediganError as exc:
            return {"error": {"message": str(exc), "usage": exc.exit_code == 2}}
        return {"samples": count, "seconds": time.perf_counter() - started, "pid": os.getpid(),
                "node": socket.gethostname(), "peak_rss_mib": peak_rss_mib(), "restarted": self.restarted}


    def _driver_alive(self) -> None:
        """Stop the shard once the driver's lock on the folder is gone (the driver was killed): a worker left behind
        must not go on writing into a folder that a --resume may already be writing."""
        check_driver_alive(self.store)


def check_driver_alive(store: Any) -> None:
    """Raise a MediganError when no live run holds ``store``'s lock any more."""
    if not store.lock_is_held():
        raise MediganError(f"the run writing into {store.display()!r} is gone (its lock was released), so this worker "
                           "stopped; run the same command again with --resume")


_ACTOR_CLASS: Any = None


def _actor_class(ray: Any) -> Any:
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        _ACTOR_CLASS = ray.remote(ShardWriter)
    return _ACTOR_CLASS


def connect(ray: Any, options: RayOptions) -> bool:
    """Join the Ray instance already running in this process, the cluster at ``address``, or start a local
    one sized for the workers. True when this call started it (and so must shut it down).

    Workers' own output stays in Ray's session logs, so that ``--json`` output is never interleaved with it;
    their errors reach the driver as results."""
    if ray.is_initialized():
        return False
    if options.address:
        _check_reachable(options.address)
        try:
            ray.init(address=options.address, logging_level="warning", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise MediganError(f"cannot connect to the Ray cluster at {options.address!r}: {exc}; check the address "
                               "(`ray status` on the head node prints it), or leave --address out to run on this machine") from exc
        return True
    cpus = max(options.workers or 0, os.cpu_count() or 1)
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="warning", log_to_driver=False)
    return True


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) nobody answers at: Ray itself retries for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise MediganError(f"cannot connect to the Ray cluster at {address!r}: nothing answers there within "
                           f"{CONNECT_TIMEOUT:g} s ({exc}); check the address (`ray status` on the head node prints it), "
                           "or leave --address out to run on this machine") from exc


def run_on_ray(store: Any, n: int, finished: set[int], spec: Any, inputs: Any, options: RayOptions,
               progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Write the samples of ``range(n)`` not in ``finished`` with Ray actors; return per-worker statistics."""
    ray = import_ray()
    started_here = connect(ray, options)
    actors: list[Any] = []
    try:
        resources = ray.cluster_resources()
        workers = options.workers or max(1, int(resources.get("CPU", 1)))
        _check_resources(resources, workers, options)
        shards = [indices for r in shard_ranges(n, workers * SHARDS_PER_WORKER, spec.batch_size)
                  if (indices := _todo(r, finished))]
        if not shards:
            return []
        workers = min(workers, len(shards))
        actor_class = _actor_class(ray).options(num_cpus=1, num_gpus=options.gpus_per_worker,
                                                max_restarts=options.max_restarts, max_task_retries=options.max_restarts)
        plugin_version = spec.common["plugin_version"]
        actors = [actor_class.remote(store.location, spec, plugin_version) for _ in range(workers)]
        inputs_ref = ray.put(inputs) if inputs is not None else None
        return _dispatch(ray, actors, deque(shards), inputs_ref, options, progress)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started_here:
            ray.shutdown()


def _todo(shard: range, finished: set[int]) -> list[int] | range:
    if not finished:
        return shard
    return [i for i in shard if i not in finished]


def _check_resources(resources: dict[str, float], workers: int, options: RayOptions) -> None:
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    if workers > cpus:
        raise MediganUsageError(f"{workers} workers need {workers} CPUs but the Ray cluster has {cpus:g}; "
                                "ask for fewer --workers, or add nodes")
    if options.gpus_per_worker and workers * options.gpus_per_worker > gpus:
        raise MediganUsageError(f"{workers} workers with {options.gpus_per_worker:g} GPUs each need "
                                f"{workers * options.gpus_per_worker:g} GPUs but the Ray cluster has {gpus:g}; "
                                "ask for fewer --workers or --gpus-per-worker")


def _dispatch(ray: Any, actors: list[Any], shards: deque, inputs_ref: Any, options: RayOptions,
              progress: Callable[[int], None] | None) -> list[dict[str, Any]]:
    """Keep every actor busy with one shard at a time until all are written; raise on the first failure."""
    from ray.exceptions import RayActorError, RayTaskError

    pending: dict[Any, tuple[int, list[int] | range]] = {}
    stats = [{"worker": k, "pids": [], "nodes": [], "shards": 0, "samples": 0, "seconds": 0.0, "peak_rss_mib": None,
              "restarted": False} for k in range(len(actors))]

    def submit(k: int) -> None:
        if shards:
            shard = shards.popleft()
            pending[actors[k].write.remote(shard, inputs_ref)] = (k, shard)

    for k in range(len(actors)):
        submit(k)
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        k, shard = pending.pop(ref)
        try:
            result = ray.get(ref)
        except RayActorError as exc:
            raise MediganError(
                f"Ray worker {k} was lost while writing samples {shard[0]} to {shard[-1]}, and again after "
                f"{options.max_restarts} restarts ({_first_line(exc)}); the samples finished so far are kept: "
                "fix the cause (memory, a crashing model) and run again with --resume") from None
        except RayTaskError as exc:
            raise MediganError(f"Ray worker {k} failed while writing samples {shard[0]} to {shard[-1]}: "
                               f"{_first_line(exc)}; the samples finished so far are kept: fix the cause and run again "
                               "with --resume") from None
        if "error" in result:
            error = result["error"]
            raise (MediganUsageError if error["usage"] else MediganError)(error["message"])
        entry = stats[k]
        for key, value in (("pids", result["pid"]), ("nodes", result["node"])):
            if value not in entry[key]:
                entry[key].append(value)
        entry["shards"] += 1
        entry["restarted"] = entry["restarted"] or result["restarted"]
        entry["samples"] += result["samples"]
        entry["seconds"] = round(entry["seconds"] + result["seconds"], 3)
        if result["peak_rss_mib"] is not None:
            entry["peak_rss_mib"] = round(max(entry["peak_rss_mib"] or 0.0, result["peak_rss_mib"]), 1)
        if progress:
            progress(result["samples"])
        submit(k)
    return stats


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
