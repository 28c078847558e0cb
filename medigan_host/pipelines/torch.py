"""PyTorch pipelines over any medigan model: a finite indexable Dataset, a streaming IterableDataset, and
real+synthetic mixing. torch is imported here and nowhere else in the host; ``import medigan_host`` does not.

Item ``i`` of a dataset is sample ``i`` of the run seeded with ``seed``: it is generated from
``sample_seed(seed, i)`` and is the same image ``medigan generate`` writes as sample ``i``, whatever the
batch size, the order of access, or the number of DataLoader workers. Each worker loads its own copy of
the model the first time it needs it. Items are dicts, as in the original medigan::

    {"sample": tensor (C, H, W) or (C, D, H, W), "mask": tensor (K, H, W) (models with masks),
     "label": the condition value (when a condition is given), "seed": int, "index": int}
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ..api import installed_catalog
from ..conditions import check_condition
from ..errors import MediganUsageError
from ..formats.readers import IMAGE_SUFFIXES, list_images, read_image
from ..frameworks import check_device
from ..generation.engine import DEFAULT_BATCH_SIZE, batches, check_count
from ..models import Model, load, require_inputs
from ..registry import ModelEntry
from ..samples import Samples
from ..seeding import check_seed, sample_seeds

__all__ = ["ImageFolderDataset", "MixedDataset", "SyntheticDataset", "SyntheticIterableDataset", "to_tensor"]

Transform = Callable[[Any], Any]


def to_tensor(array: np.ndarray, *, normalize: bool = True) -> torch.Tensor:
    """A channel-last image (H, W, C) or volume (D, H, W, C) as a channel-first float32 tensor.

    With ``normalize`` uint8 is divided by 255 and uint16 by 65535, so every image lies in [0, 1]; without
    it the stored values are kept (as float32, exact for 8- and 16-bit data).
    """
    array = np.moveaxis(np.asarray(array), -1, 0)
    scale = _scale(array.dtype) if normalize else 1.0
    out = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return out / scale if scale != 1.0 else out


def mask_tensor(array: np.ndarray) -> torch.Tensor:
    """Integer labels (H, W, K) or (D, H, W, K) as a channel-first int64 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(array), -1, 0), dtype=np.int64))


def _scale(dtype: np.dtype) -> float:
    if dtype == np.bool_ or dtype.kind == "f":
        return 1.0
    return 255.0 if dtype == np.uint8 else 65535.0


def _resolve_entry(model: str | int | ModelEntry) -> ModelEntry:
    return model if isinstance(model, ModelEntry) else installed_catalog().get(model)


class _SampleSource:
    """Generates the items of one run of one model; loads the model lazily, once per process."""

    def __init__(self, model: str | int | ModelEntry, *, seed: int, condition: Mapping[str, Any] | None, inputs: Any,
                 device: str, batch_size: int, normalize: bool, transform: Transform | None,
                 item_transform: Transform | None) -> None:
        self.entry = _resolve_entry(model)
        self.seed = check_seed(seed)
        self.condition = check_condition(self.entry.card, condition)
        self.inputs = inputs
        self.device = check_device(device)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise MediganUsageError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.normalize = normalize
        self.transform = transform
        self.item_transform = item_transform
        self._model: Model | None = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"], state["_pid"] = None, -1  # every worker process loads its own copy
        return state

    @property
    def model(self) -> Model:
        if self._model is None or self._pid != os.getpid():
            device = self.device
            if device == "auto" and get_worker_info() is not None:
                device = "cpu"  # a DataLoader worker cannot use a GPU context inherited from its parent
            self._model = load(self.entry, device)
            self._pid = os.getpid()
        return self._model

    def label(self) -> Any:
        if not self.condition:
            return None
        return next(iter(self.condition.values())) if len(self.condition) == 1 else dict(self.condition)

    def keys(self) -> list[str]:
        keys = ["sample"] + (["mask"] if self.entry.card.has_masks else [])
        return keys + (["label"] if self.condition else []) + ["seed", "index"]

    def batches(self, indices: Sequence[int], options: Mapping[str, Any] | None = None) -> Iterator[tuple[list[int], Samples]]:
        """``(indices, Samples)`` per model call, at most ``batch_size`` samples each; ``options`` go to the model."""
        for chunk in batches(list(indices), self.batch_size):
            inputs = None if self.inputs is None else [self.inputs[i] for i in chunk]
            yield chunk, self.model.generate(sample_seeds(self.seed, chunk), condition=self.condition, inputs=inputs,
                                             options=options)

    def items(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk, samples in self.batches(indices):
            for row, index in enumerate(chunk):
                item: dict[str, Any] = {"sample": to_tensor(samples.images[row], normalize=self.normalize)}
                if samples.masks is not None:
                    item["mask"] = mask_tensor(samples.masks[row])
                if self.condition:
                    item["label"] = self.label()
                item["seed"], item["index"] = samples.seeds[row], index
                if self.transform is not None:
                    item["sample"] = self.transform(item["sample"])
                out.append(self.item_transform(item) if self.item_transform is not None else item)
        return out


class SyntheticDataset(Dataset):
    """``num_samples`` samples of ``model`` as a map-style dataset; item i is sample i of the run.

    ``model``: id, upstream id or number. ``condition``: as on the card (``{"density": "c"}``), given to every
    sample and returned as ``label``. ``inputs``: one input per sample for image-to-image models.
    ``transform`` is applied to each ``sample`` tensor, ``item_transform`` to each whole item (for
    augmentations that must move image and mask together). ``batch_size`` bounds how many samples the
    model generates in one call when a DataLoader asks for a batch. ``device="auto"`` uses a GPU in the
    main process and the CPU inside DataLoader workers.
    """

    def __init__(self, model: str | int | ModelEntry, num_samples: int | None = None, *, seed: int = 0,
                 condition: Mapping[str, Any] | None = None, inputs: Any = None, device: str = "auto",
                 batch_size: int = DEFAULT_BATCH_SIZE, normalize: bool = True, transform: Transform | None = None,
                 item_transform: Transform | None = None) -> None:
        self.source = _SampleSource(model, seed=seed, condition=condition, inputs=inputs, device=device,
                                    batch_size=batch_size, normalize=normalize, transform=transform,
                                    item_transform=item_transform)
        card = self.source.entry.card
        require_inputs(card, inputs)
        self.num_samples = check_count(num_samples, inputs, card.id)
        if inputs is not None and len(inputs) < self.num_samples:
            raise MediganUsageError(f"model {card.id!r} got {len(inputs)} inputs for {self.num_samples} samples; "
                                    "give one input per sample")

    @property
    def card(self):
        return self.source.entry.card

    @property
    def keys(self) -> list[str]:
        """The keys every item has."""
        return self.source.keys()

    def __len__(self) -> int:
        return self.num_samples

    def _index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset indices must be integers, got {type(index).__name__}")
        position = int(index) + (self.num_samples if index < 0 else 0)
        if not 0 <= position < self.num_samples:
            raise IndexError(f"index {index} is out of range for a dataset of {self.num_samples} samples")
        return position

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.source.items([self._index(index)])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """A whole DataLoader batch in as few model calls as ``batch_size`` allows."""
        return self.source.items([self._index(i) for i in indices])

    def __repr__(self) -> str:
        return f"SyntheticDataset({self.card.id!r}, num_samples={self.num_samples}, seed={self.source.seed})"


class SyntheticIterableDataset(IterableDataset):
    """A stream of samples of ``model``: ``num_samples`` of them, or endless when it is None.

    The run's sample indices are cut into blocks of ``block_size``; with W DataLoader workers, worker w
    generates blocks w, w + W, w + 2W … in one model call each. No sample repeats, the set of samples does
    not depend on W, and when ``block_size`` equals the DataLoader's ``batch_size`` the order of the
    samples is the same as with ``num_workers=0``. ``start`` skips the first samples of the run.
    """

    def __init__(self, model: str | int | ModelEntry, num_samples: int | None = None, *, seed: int = 0,
                 condition: Mapping[str, Any] | None = None, inputs: Any = None, device: str = "auto",
                 block_size: int = DEFAULT_BATCH_SIZE, start: int = 0, normalize: bool = True,
                 transform: Transform | None = None, item_transform: Transform | None = None) -> None:
        self.source = _SampleSource(model, seed=seed, condition=condition, inputs=inputs, device=device,
                                    batch_size=block_size, normalize=normalize, transform=transform,
                                    item_transform=item_transform)
        card = self.source.entry.card
        require_inputs(card, inputs)
        self.num_samples = check_count(num_samples, inputs, card.id, endless_ok=True)
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise MediganUsageError(f"start must be a whole number of at least 0, got {start!r}")
        if inputs is not None and start + self.num_samples > len(inputs):
            raise MediganUsageError(f"model {card.id!r} got {len(inputs)} inputs for samples {start} to "
                                    f"{start + self.num_samples - 1}")
        self.block_size = block_size
        self.start = start

    @property
    def card(self):
        return self.source.entry.card

    def __len__(self) -> int:
        if self.num_samples is None:
            raise TypeError("an endless SyntheticIterableDataset has no length; give num_samples for a finite one")
        return self.num_samples

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        block = worker
        while True:
            first = block * self.block_size
            if self.num_samples is not None and first >= self.num_samples:
                return
            last = first + self.block_size if self.num_samples is None else min(first + self.block_size, self.num_samples)
            yield from self.source.items(range(self.start + first, self.start + last))
            block += workers


class ImageFolderDataset(Dataset):
    """Real images from a folder, sorted by file name, as items ``{"sample": tensor (C, H, W)}``.

    Every format :func:`medigan_host.formats.readers.read_image` reads: PNG, JPEG, BMP, TIFF, DICOM, NIfTI, and ``.npy``
    arrays in medigan's layout, (H, W), (H, W, C) or (D, H, W, C), as ``medigan generate --format npy`` writes
    them. With ``normalize`` 8-bit values are divided by 255 and 16-bit values by 65535.
    """

    def __init__(self, folder: str | os.PathLike[str], *, normalize: bool = True, transform: Transform | None = None,
                 suffixes: Sequence[str] = IMAGE_SUFFIXES) -> None:
        self.folder = Path(folder)
        self.files = list_images(self.folder, tuple(suffixes))
        self.normalize = normalize
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        array = read_image(path)
        sample = to_tensor(array, normalize=self.normalize)
        return {"sample": self.transform(sample) if self.transform is not None else sample}


class MixedDataset(Dataset):
    """Real and synthetic items interleaved at a fixed share of synthetic ones.

    ``real``: any indexable dataset with a length, or a folder of images. ``synthetic``: any indexable
    dataset, or a model (id, upstream id or number) whose samples are generated as needed; then every
    real item is used once. Item j is synthetic when ``floor((j + 1) * r) > floor(j * r)`` for the
    ``synthetic_ratio`` r, so every stretch of the dataset holds synthetic items at that ratio. Items are
    dicts with ``"synthetic"`` True or False and the keys both sources have (``sample``, and ``label`` or
    ``mask`` where both give them); real datasets that return ``(image, label)`` pairs are read that way.
    """

    def __init__(self, real: Any, synthetic: Any, synthetic_ratio: float, *, seed: int = 0,
                 **synthetic_options: Any) -> None:
        if isinstance(synthetic_ratio, bool) or not isinstance(synthetic_ratio, (int, float)) \
                or not 0.0 < synthetic_ratio < 1.0:
            raise MediganUsageError(f"synthetic_ratio must be a number between 0 and 1 (exclusive), e.g. 0.5, "
                                    f"got {synthetic_ratio!r}")
        self.ratio = Fraction(synthetic_ratio).limit_denominator(1_000_000)
        self.real = ImageFolderDataset(real) if isinstance(real, (str, os.PathLike)) else real
        if not hasattr(self.real, "__len__") or not hasattr(self.real, "__getitem__"):
            raise MediganUsageError(f"real data must be an indexable dataset with a length, or a folder; "
                                    f"got {type(real).__name__}")
        n_real = len(self.real)
        if n_real < 1:
            raise MediganUsageError("the real dataset is empty")
        if isinstance(synthetic, (str, int, ModelEntry)) and not isinstance(synthetic, bool):
            needed = self._synthetic_at(self._longest(n_real, math.inf))
            self.synthetic = SyntheticDataset(synthetic, max(needed, 1), seed=seed, **synthetic_options)
        elif synthetic_options:
            raise MediganUsageError(f"options {sorted(synthetic_options)} apply only when synthetic is a model id")
        else:
            self.synthetic = synthetic
        self.length = self._longest(n_real, len(self.synthetic))
        self.keys = ["sample", "synthetic"] + [k for k in ("mask", "label") if k in self._item_keys()]

    def _synthetic_at(self, position: int) -> int:
        """How many of the first ``position`` items are synthetic."""
        return math.floor(position * self.ratio)

    def _longest(self, n_real: int, n_synthetic: float) -> int:
        low, high = 0, n_real + (int(n_synthetic) if n_synthetic != math.inf else n_real * self.ratio.denominator)
        while low < high:  # the longest prefix whose real and synthetic items both exist
            middle = (low + high + 1) // 2
            synthetic = self._synthetic_at(middle)
            if synthetic <= n_synthetic and middle - synthetic <= n_real:
                low = middle
            else:
                high = middle - 1
        return low

    def _item_keys(self) -> set[str]:
        real_keys = set(_as_item(self.real[0]))
        synthetic_keys = set(self.synthetic.keys) if isinstance(self.synthetic, SyntheticDataset) \
            else set(_as_item(self.synthetic[0]))
        return real_keys & synthetic_keys

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset indices must be integers, got {type(index).__name__}")
        position = int(index) + (self.length if index < 0 else 0)
        if not 0 <= position < self.length:
            raise IndexError(f"index {index} is out of range for a dataset of {self.length} items")
        before = self._synthetic_at(position)
        is_synthetic = self._synthetic_at(position + 1) > before
        item = _as_item(self.synthetic[before] if is_synthetic else self.real[position - before])
        out = {key: item[key] for key in self.keys if key in item}
        out["synthetic"] = is_synthetic
        return out


def _as_item(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        if "sample" not in value:
            raise MediganUsageError(f"dataset items that are dicts need a 'sample' key, got keys {sorted(value)}")
        item = dict(value)
    elif isinstance(value, (tuple, list)) and value:
        item = {"sample": value[0]}
        if len(value) > 1:
            item["label"] = value[1]
    else:
        item = {"sample": value}
    if isinstance(item["sample"], np.ndarray):
        item["sample"] = torch.from_numpy(item["sample"])
    return item
