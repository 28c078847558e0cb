"""The generation engine: seeds, batches, and either in-memory batches or files plus a manifest."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import atomic
from ._version import __version__
from .cards import ModelCard
from .conditions import check_condition
from .errors import MediganUsageError
from .frameworks import check_device
from .models import Model, check_inputs, load
from .outputs import RunFolder
from .plugins import get_host
from .registry import ModelEntry
from .samples import Samples
from .seeding import check_seed, sample_seeds
from .writers import Writer, get_writer

DEFAULT_BATCH_SIZE = 16


@dataclass
class RunResult:
    """What a generation to disk did."""

    model: str
    output_dir: Path
    manifest: Path
    num_samples: int
    generated: int
    already_done: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "output_dir": str(self.output_dir), "manifest": str(self.manifest),
                "num_samples": self.num_samples, "generated": self.generated, "already_done": self.already_done,
                "seconds": round(self.seconds, 3)}


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
) -> RunResult | Iterator[Samples]:
    """Generate ``num_samples`` samples of ``model``.

    With ``output_dir`` the samples are written there (one file per image and mask, ``manifest.jsonl``,
    ``run.json``) and a :class:`RunResult` is returned. Without it, an iterator of :class:`Samples`
    batches is returned. Sample i always gets the seed derived from ``seed`` and i, so results do not
    depend on ``batch_size``. Memory use is proportional to ``batch_size``, not ``num_samples``.
    ``format`` defaults to ``png`` for 2-D models and ``npy`` for 3-D ones.
    """
    entry = get_host().catalog.get(model)
    card = entry.card
    num_samples = check_count(num_samples, inputs, card.id)
    check_seed(seed)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MediganUsageError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    condition = check_condition(card, condition)
    check_inputs(card, inputs, num_samples)
    check_device(device)
    if output_dir is None:
        if resume or overwrite:
            raise MediganUsageError("resume and overwrite only apply when writing to an output folder")
        model_handle = load(entry, device)
        return _iterate(model_handle, num_samples, seed, batch_size, condition, inputs, progress)
    writer = get_writer(format or default_format(card))
    writer.check(card)
    return _write(entry, Path(output_dir), num_samples, seed, batch_size, condition, inputs, writer, device,
                  resume, overwrite, progress)


def default_format(card: ModelCard) -> str:
    """The output format used when none is asked for: PNG for images, NPY for volumes."""
    return "png" if card.ndim == 2 else "npy"


def batches(indices: Iterable[int], batch_size: int) -> Iterator[list[int]]:
    """Consecutive groups of at most ``batch_size`` indices, taken lazily."""
    iterator = iter(indices)
    while chunk := list(itertools.islice(iterator, batch_size)):
        yield chunk


def _iterate(model: Model, n: int, seed: int, batch_size: int, condition: Any, inputs: Any,
             progress: Callable[[int], None] | None) -> Iterator[Samples]:
    for chunk in batches(range(n), batch_size):
        samples = model.generate(sample_seeds(seed, chunk), condition=condition, inputs=_take(inputs, chunk))
        samples.indices = chunk
        if progress:
            progress(len(chunk))
        yield samples


def _write(entry: ModelEntry, output_dir: Path, n: int, seed: int, batch_size: int, condition: Any, inputs: Any,
           writer: Writer, device: str, resume: bool, overwrite: bool,
           progress: Callable[[int], None] | None) -> RunResult:
    started = time.perf_counter()
    card = entry.card
    run = {"model": card.id, "model_version": card.version, "plugin": entry.plugin, "plugin_version": entry.plugin_version,
           "host_version": __version__, "seed": seed, "n": n, "condition": condition, "format": writer.name,
           "inputs_sha256": _fingerprint(inputs)}
    with RunFolder(output_dir) as folder:
        finished = folder.plan(run, resume=resume, overwrite=overwrite)
        model = load(entry, device)  # after the folder checks, before anything is written
        folder.start(run, finished, overwrite=overwrite)
        already = sum(1 for i in finished if i < n)
        if progress and already:
            progress(already)
        subfolders = {"image": output_dir / "images", "mask": output_dir / "masks"}
        subfolders["image"].mkdir(exist_ok=True)
        if card.has_masks:
            subfolders["mask"].mkdir(exist_ok=True)
        common = {"model": card.id, "model_version": card.version, "plugin": entry.plugin,
                  "plugin_version": entry.plugin_version, "host_version": __version__, "condition": condition}
        for chunk in batches((i for i in range(n) if i not in finished), batch_size):
            samples = model.generate(sample_seeds(seed, chunk), condition=condition, inputs=_take(inputs, chunk))
            records = []
            for row, index in enumerate(chunk):
                arrays = {"image": samples.images[row]}
                if samples.masks is not None:
                    arrays["mask"] = samples.masks[row]
                files, digests = {}, {}
                for kind, array in arrays.items():
                    context = {"card": card, "index": index, "seed": samples.seeds[row], **common}
                    data = writer.encode(array, kind, context)
                    path = subfolders[kind] / f"{index:06d}.{writer.extension}"
                    atomic.write_bytes(path, data)
                    files[kind] = path.relative_to(output_dir).as_posix()
                    digests[kind] = hashlib.sha256(data).hexdigest()
                records.append({"index": index, "seed": samples.seeds[row], "files": files, "sha256": digests,
                                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **common})
            folder.append(records)
            if progress:
                progress(len(chunk))
    return RunResult(card.id, output_dir, output_dir / "manifest.jsonl", n, n - already, already,
                     time.perf_counter() - started)


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
    return num_samples


def _take(inputs: Any, chunk: list[int]) -> Any:
    if inputs is None:
        return None
    if hasattr(inputs, "shape"):
        return inputs[chunk[0]:chunk[-1] + 1] if chunk == list(range(chunk[0], chunk[-1] + 1)) else inputs[chunk]
    return [inputs[i] for i in chunk]


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
