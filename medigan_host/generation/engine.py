"""The generation engine: seeds, batches, and either in-memory batches or files plus a manifest."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..api import installed_catalog
from ..cards import ModelCard
from ..conditions import check_condition
from ..errors import MediganUsageError
from ..formats.writers import Writer, get_writer
from ..frameworks import check_device
from ..models import Model, check_inputs, load
from ..registry import ModelEntry
from ..samples import Samples
from ..seeding import check_seed, sample_seeds
from ..trust import require_trust, trusted_by_environment
from ..weights import unverified_weights
from .outputs import JOURNAL, SUBFOLDERS, RunFolder
from .storage import is_url
from .writing import WriteSpec, _take, batches, encode, prepare_subfolders, write_samples  # noqa: F401 - also importable from here

DEFAULT_BATCH_SIZE = 16
#: The most samples one run may ask for (a typo such as -n 10**23 is refused, not started).
MAX_SAMPLES = 10**9
ENGINES = ("local", "ray")


@dataclass
class RunResult:
    """What a generation to disk did."""

    model: str
    output_dir: Path | str
    manifest: Path | str
    num_samples: int
    generated: int
    already_done: int
    seconds: float
    engine: str = "local"
    #: Ray runs: one entry per worker (pids, shards, samples, seconds, peak RSS in MiB).
    workers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {"model": self.model, "output_dir": str(self.output_dir), "manifest": str(self.manifest),
                "num_samples": self.num_samples, "generated": self.generated, "already_done": self.already_done,
                "seconds": round(self.seconds, 3), "engine": self.engine}
        if self.workers:
            data["workers"] = self.workers
        return data


def generate(
    model: str | int,
    num_samples: int | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    condition: Mapping[str, Any] | None = None,
    inputs: Any = None,
    format: str | None = None,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    verify_hashes: bool = True,
    trust_remote_code: bool = False,
) -> RunResult | Iterator[Samples]:
    """Generate ``num_samples`` samples of ``model``.

    With ``output_dir`` the samples are written there (one file per image and mask, ``manifest.jsonl``,
    ``run.json``) and a :class:`RunResult` is returned. Without it, an iterator of :class:`Samples`
    batches is returned. Sample i always gets the seed derived from ``seed`` and i, so results do not
    depend on ``batch_size``. Memory use is proportional to ``batch_size``, not ``num_samples``.
    ``format`` defaults to ``png`` for 2-D models and ``npy`` for 3-D ones. ``output_dir`` may be an fsspec
    URL (``s3://bucket/run``, ``file://…``; needs ``medigan-host[fsspec]``).

    ``engine="ray"`` splits the run into shards of consecutive indices written by ``workers`` Ray actors
    (``gpus_per_worker`` GPUs each) on a local Ray instance, or on the cluster at ``address``; the folder is
    the same as a local run's except the manifest's ``time`` fields. Needs ``medigan-host[ray]``.

    ``resume=True`` re-reads every listed file and regenerates those whose sha256 no longer matches the manifest
    (or that are missing or empty); ``verify_hashes=False`` checks only that they are there and not empty (huge runs).

    Models whose card says ``remote_code: true`` run only with ``trust_remote_code=True`` (or
    ``MEDIGAN_TRUST_REMOTE_CODE=1``); without it this raises before anything is written.
    """
    entry = installed_catalog().get(model)
    card = entry.card
    require_trust(card, trust_remote_code)
    num_samples = check_count(num_samples, inputs, card.id)
    if inputs is not None and card.needs_inputs and len(inputs) > num_samples:
        inputs = inputs[:num_samples]  # the first N inputs, as the original's translate_all_images=False
    check_seed(seed)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MediganUsageError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    condition = check_condition(card, condition)
    check_inputs(card, inputs, num_samples)
    check_device(device)
    ray_options = _engine_options(engine, address, workers, gpus_per_worker, output_dir)
    preloaded = None
    if card.needs_inputs and inputs is None:  # the sample inputs the model ships (the original's default input_path)
        preloaded = load(entry, device, trust_remote_code=trust_remote_code)
        inputs = preloaded.default_inputs(num_samples)
        num_samples = len(inputs)
    if output_dir is None:
        if resume or overwrite:
            raise MediganUsageError("resume and overwrite only apply when writing to an output folder")
        model_handle = preloaded or load(entry, device, trust_remote_code=trust_remote_code)
        return _iterate(model_handle, num_samples, seed, batch_size, condition, inputs, progress)
    writer = get_writer(format or default_format(card))
    writer.check(card)
    target = output_dir if isinstance(output_dir, str) and is_url(output_dir) else Path(output_dir)
    return _write(entry, target, num_samples, seed, batch_size, condition, inputs, writer, device,
                  resume, overwrite, progress, ray_options, verify_hashes, trust_remote_code=trust_remote_code,
                  model=preloaded)


def _engine_options(engine: str, address: str | None, workers: int | None, gpus_per_worker: float | None,
                    output_dir: Any) -> Any:
    """Check the engine settings; the Ray options for ``engine="ray"``, else None."""
    if engine not in ENGINES:
        raise MediganUsageError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "local":
        given = [name for name, value in (("address", address), ("workers", workers), ("gpus_per_worker", gpus_per_worker))
                 if value is not None]
        if given:
            raise MediganUsageError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} only for the ray engine; "
                                    "add engine='ray' (--engine ray)")
        return None
    if output_dir is None:
        raise MediganUsageError("the ray engine writes to an output folder: give output_dir (-o)")
    from .distributed import RayOptions, import_ray

    options = RayOptions.checked(address=address, workers=workers, gpus_per_worker=gpus_per_worker)
    import_ray()  # before the folder is touched: a run refused for want of Ray leaves nothing behind
    return options


def default_format(card: ModelCard) -> str:
    """The output format used when none is asked for: PNG for images, NPY for volumes."""
    return "png" if card.ndim == 2 else "npy"


def _iterate(model: Model, n: int, seed: int, batch_size: int, condition: Any, inputs: Any,
             progress: Callable[[int], None] | None) -> Iterator[Samples]:
    for chunk in batches(range(n), batch_size):
        samples = model.generate(sample_seeds(seed, chunk), condition=condition, inputs=_take(inputs, chunk))
        samples.indices = chunk
        if progress:
            progress(len(chunk))
        yield samples


def _write(entry: ModelEntry, output_dir: Path | str, n: int, seed: int, batch_size: int, condition: Any, inputs: Any,
           writer: Writer, device: str, resume: bool, overwrite: bool,
           progress: Callable[[int], None] | None, ray_options: Any = None, verify_hashes: bool = True, *,
           trust_remote_code: bool = False, model: Model | None = None) -> RunResult:
    started = time.perf_counter()
    card = entry.card
    common = {"model": card.id, "model_version": card.version, "plugin": entry.plugin,
              "plugin_version": entry.plugin_version, "host_version": __version__, "condition": condition}
    run = {**common, "seed": seed, "n": n, "format": writer.name, "inputs_sha256": _fingerprint(inputs)}
    # The trust decided here travels with the spec: a Ray worker on another machine has neither this call's argument
    # nor, as a rule, this process's MEDIGAN_TRUST_REMOTE_CODE.
    trusted = trust_remote_code is True or trusted_by_environment()
    spec = WriteSpec(card.id, seed, batch_size, condition, writer.name, device, common, trusted)
    worker_stats: list[dict[str, Any]] = []
    with RunFolder(output_dir) as folder:
        store = folder.store
        finished = folder.plan(run, resume=resume, overwrite=overwrite, verify_hashes=verify_hashes)
        if ray_options is not None:
            model = None  # the Ray workers load their own
        elif model is None:
            model = load(entry, device, trust_remote_code=trust_remote_code)
        unverified = unverified_weights(card)  # placed with `medigan cache place --unverified`: the provenance says so
        if unverified:
            run["unverified_weights"] = unverified
        # (after the folder checks, before any write)
        folder.start(run, finished, overwrite=overwrite)
        already = sum(1 for i in finished if i < n)
        if progress and already:
            progress(already)
        prepare_subfolders(store, card)
        if model is not None:
            write_samples(model, store, (i for i in range(n) if i not in finished), spec, writer, inputs, folder.append, progress)
        else:
            from .distributed import run_on_ray

            worker_stats = run_on_ray(store, n, finished, spec, inputs, ray_options, progress)
            for sub in (*SUBFOLDERS, JOURNAL):  # left by workers that died mid-write
                store.remove_temporaries(sub)
        folder.finish()
        folder.complete()
    return RunResult(card.id, output_dir, folder.manifest, n, n - already, already, time.perf_counter() - started,
                     "local" if ray_options is None else "ray", worker_stats)


def check_count(num_samples: Any, inputs: Any, model_id: str, *, endless_ok: bool = False) -> int | None:
    """The number of samples: as given, else one per input; None (endless) only where ``endless_ok``."""
    if num_samples is None:
        if inputs is not None:
            return len(inputs)
        if endless_ok:
            return None
        raise MediganUsageError(f"say how many samples of {model_id!r} to generate (num_samples / -n)")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise MediganUsageError(f"the number of samples must be a whole number of at least 1, got {num_samples!r}")
    if num_samples > MAX_SAMPLES:
        raise MediganUsageError(f"{num_samples:,} samples is more than one run may ask for ({MAX_SAMPLES:,}); split the "
                                "work into several runs (several output folders)")
    return num_samples


def _fingerprint(inputs: Any) -> str | None:
    if inputs is None:
        return None
    import numpy as np

    digest = hashlib.sha256()
    for item in inputs:
        array = np.ascontiguousarray(item)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
