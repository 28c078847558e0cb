"""Writing a run's samples: generate batch by batch, encode each sample with the run's writer, write the files
atomically and commit their manifest records. The one code path of local runs (:mod:`.engine`) and of each Ray
shard (:mod:`.distributed`)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..cards import ModelCard
from ..errors import MediganError, PluginError
from ..formats.writers import Writer
from ..models import Model
from ..seeding import sample_seeds
from .storage import Store


@dataclass(frozen=True)
class WriteSpec:
    """What every writer of a run's samples needs to know, local or on a Ray worker (picklable)."""

    model: str
    seed: int
    batch_size: int
    condition: dict[str, Any] | None
    format: str
    device: str
    #: Fields repeated in every manifest record: model, versions, plugin, host version, condition.
    common: dict[str, Any]
    #: The user's trust in code that comes with the model, checked on the driver; workers load with it too.
    trust_remote_code: bool = False


def batches(indices: Iterable[int], batch_size: int) -> Iterator[list[int]]:
    """Consecutive groups of at most ``batch_size`` indices, taken lazily."""
    iterator = iter(indices)
    while chunk := list(itertools.islice(iterator, batch_size)):
        yield chunk


def prepare_subfolders(store: Store, card: ModelCard) -> None:
    """Create ``images/`` (and ``masks/`` for models with masks)."""
    store.makedirs("images")
    if card.has_masks:
        store.makedirs("masks")


def write_samples(model: Model, store: Store, indices: Iterable[int], spec: WriteSpec, writer: Writer, inputs: Any,
                  commit: Callable[[list[dict[str, Any]]], None], progress: Callable[[int], None] | None = None,
                  before_batch: Callable[[], None] | None = None) -> int:
    """Generate the samples ``indices`` batch by batch, write their files atomically and ``commit`` their
    manifest records after each batch. The one code path of local runs and of each Ray shard. Returns the count.

    ``before_batch`` runs before each batch (and before its commit) and may raise to stop the shard."""
    card = model.card
    count = 0
    for chunk in batches(indices, spec.batch_size):
        if before_batch is not None:
            before_batch()
        samples = model.generate(sample_seeds(spec.seed, chunk), condition=spec.condition, inputs=_take(inputs, chunk))
        records = []
        for row, index in enumerate(chunk):
            arrays = {"image": samples.images[row]}
            if samples.masks is not None:
                arrays["mask"] = samples.masks[row]
            files, digests = {}, {}
            for kind, array in arrays.items():
                context = {"card": card, "index": index, "seed": samples.seeds[row], "run_seed": spec.seed, **spec.common}
                data = encode(writer, array, kind, context)
                rel = f"{kind}s/{index:06d}.{writer.extension}"
                store.write_bytes(rel, data)
                files[kind] = rel
                digests[kind] = hashlib.sha256(data).hexdigest()
            records.append({"index": index, "seed": samples.seeds[row], "files": files, "sha256": digests,
                            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **spec.common})
        if before_batch is not None:
            before_batch()
        commit(records)
        count += len(chunk)
        if progress:
            progress(len(chunk))
    return count


def encode(writer: Writer, array: Any, kind: str, context: dict[str, Any]) -> bytes:
    """One sample's file bytes; a writer (a plugin's, or a format that cannot hold the array) that raises or
    returns something other than bytes is a clear error, never a traceback."""
    where = f"output format {writer.name!r} on sample {context['index']} of model {context['model']!r}"
    try:
        data = writer.encode(array, kind, context)
    except (MediganError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - a plugin's writer calling sys.exit must not end the host
        raise PluginError(f"{where} failed: {type(exc).__name__}: {exc}; choose another --format, or fix the "
                          "plugin that adds it") from exc
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PluginError(f"{where} returned {type(data).__name__}, not bytes; choose another --format, or fix the "
                          "plugin that adds it")
    return bytes(data)


def _take(inputs: Any, chunk: list[int]) -> Any:
    if inputs is None:
        return None
    if hasattr(inputs, "shape"):
        return inputs[chunk[0]:chunk[-1] + 1] if chunk == list(range(chunk[0], chunk[-1] + 1)) else inputs[chunk]
    return [inputs[i] for i in chunk]
