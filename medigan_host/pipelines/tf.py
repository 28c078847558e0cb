"""TensorFlow pipelines over any medigan model: ``tf.data.Dataset`` of synthetic samples, of real images, and of
both mixed at a fixed ratio.

TensorFlow is imported here and nowhere else in the host; ``import medigan_host`` does not import it.

Element ``i`` of :func:`synthetic_dataset` is sample ``i`` of the run seeded with ``seed``: generated from
``sample_seed(seed, i)``, the same image ``medigan generate`` writes as sample ``i`` and the same item the
PyTorch datasets give, whatever ``block_size`` or ``batch_size``. Elements are dicts, channel-last as
TensorFlow expects::

    {"sample": float32 (H, W, C) or (D, H, W, C), "mask": int32 (H, W, K) (models with masks),
     "label": the condition value, or a dict of them (when a condition is given), "seed": int64, "index": int64}
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from ..api import installed_catalog
from ..conditions import check_condition
from ..errors import MediganUsageError
from ..formats.readers import IMAGE_SUFFIXES, list_images, read_image
from ..frameworks import check_device, import_tensorflow
from ..generation.engine import DEFAULT_BATCH_SIZE, check_count
from ..models import Model, load, require_inputs
from ..registry import ModelEntry
from ..seeding import check_seed, sample_seeds

tf = import_tensorflow()

__all__ = ["image_folder_dataset", "mixed_dataset", "output_signature", "synthetic_dataset"]


def synthetic_dataset(model: str | int | ModelEntry, num_samples: int | None = None, *, seed: int = 0,
                      condition: Mapping[str, Any] | None = None, inputs: Any = None, device: str = "auto",
                      block_size: int = DEFAULT_BATCH_SIZE, start: int = 0, normalize: bool = True,
                      batch_size: int | None = None, drop_remainder: bool = False, prefetch: int | None = -1
                      ) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``num_samples`` samples of ``model`` (endless when None).

    ``model``: id, upstream id or number. ``condition``: as on the card, given to every sample and returned
    as ``label``. ``inputs``: one input per sample for image-to-image models. The model is loaded on first
    use and generates ``block_size`` samples per call. ``start`` skips the first samples of the run.
    ``normalize`` divides 8-bit values by 255 and 16-bit ones by 65535 (else the stored values, as float32).
    ``batch_size`` batches the elements (or leave batching to the caller); ``prefetch`` is the number of
    elements (batches) prepared ahead, -1 for ``tf.data.AUTOTUNE``, None for none.
    """
    entry = model if isinstance(model, ModelEntry) else installed_catalog().get(model)
    card = entry.card
    check_seed(seed)
    condition = check_condition(card, condition)
    check_device(device)
    require_inputs(card, inputs)
    num_samples = check_count(num_samples, inputs, card.id, endless_ok=True)
    for name, value, least in (("block_size", block_size, 1), ("start", start, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise MediganUsageError(f"{name} must be a whole number of at least {least}, got {value!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise MediganUsageError(f"batch_size must be a whole number of at least 1 (or None), got {batch_size!r}")
    if inputs is not None and start + num_samples > len(inputs):
        raise MediganUsageError(f"model {card.id!r} got {len(inputs)} inputs for samples {start} to {start + num_samples - 1}")

    source = _Source(entry, seed, condition, inputs, device, block_size, normalize)
    dataset = tf.data.Dataset.from_generator(lambda: source.items(start, num_samples),
                                             output_signature=output_signature(card, condition))
    cardinality = tf.data.INFINITE_CARDINALITY if num_samples is None else num_samples
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return _prefetched(dataset, prefetch)


def output_signature(card: Any, condition: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``tf.TensorSpec`` of each element key for a model card (and the condition given to every sample)."""
    signature = {"sample": tf.TensorSpec((*card.image_size, card.channels), tf.float32)}
    if card.has_masks:
        # K label channels: the card's mask_channels, 1 when absent (checked on every generated mask)
        signature["mask"] = tf.TensorSpec((*card.image_size, mask_channels(card)), tf.int32)
    if condition:
        specs = {name: tf.TensorSpec((), _label_dtype(value)) for name, value in condition.items()}
        signature["label"] = next(iter(specs.values())) if len(specs) == 1 else specs
    signature["seed"] = tf.TensorSpec((), tf.int64)
    signature["index"] = tf.TensorSpec((), tf.int64)
    return signature


def image_folder_dataset(folder: str | os.PathLike[str], *, normalize: bool = True, suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
                         batch_size: int | None = None, prefetch: int | None = -1) -> tf.data.Dataset:
    """Real images of one shape from a folder (any format :func:`medigan_host.formats.readers.read_image` reads),
    sorted by name, as elements ``{"sample": float32 (H, W, C) or (D, H, W, C), "index": int64}``."""
    files = list_images(folder, suffixes)
    first = read_image(files[0])

    def items() -> Iterator[dict[str, Any]]:
        for index, path in enumerate(files):
            array = first if index == 0 else read_image(path)
            if array.shape != first.shape:
                raise MediganUsageError(f"{str(path)!r} has shape {array.shape}, unlike {str(files[0])!r} "
                                        f"{first.shape}; give images of one size")
            yield {"sample": _as_float(array, normalize), "index": np.int64(index)}

    signature = {"sample": tf.TensorSpec(first.shape, tf.float32), "index": tf.TensorSpec((), tf.int64)}
    dataset = tf.data.Dataset.from_generator(items, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(files)))
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return _prefetched(dataset, prefetch)


def mixed_dataset(real: str | os.PathLike[str] | tf.data.Dataset, synthetic: str | int | ModelEntry | tf.data.Dataset,
                  synthetic_ratio: float, *, seed: int = 0, normalize: bool = True, batch_size: int | None = None,
                  prefetch: int | None = -1, **synthetic_options: Any) -> tf.data.Dataset:
    """Real and synthetic elements interleaved at a fixed share of synthetic ones, as ``MixedDataset`` in
    ``medigan_host.pipelines.torch``: element j is synthetic when ``floor((j + 1) * r) > floor(j * r)``.

    ``real``: a folder of images or a ``tf.data.Dataset`` of dicts with a ``sample``. ``synthetic``: a model
    (whose samples are generated as needed, from ``seed``; ``synthetic_options`` go to
    :func:`synthetic_dataset`) or a dataset. Elements are ``{"sample", "synthetic": bool}``; the dataset ends
    when the real (or a finite synthetic) source runs out, so every real element is used once.
    """
    if isinstance(synthetic_ratio, bool) or not isinstance(synthetic_ratio, (int, float)) or not 0.0 < synthetic_ratio < 1.0:
        raise MediganUsageError(f"synthetic_ratio must be a number between 0 and 1 (exclusive), e.g. 0.5, got {synthetic_ratio!r}")
    ratio = Fraction(synthetic_ratio).limit_denominator(1_000_000)
    if isinstance(real, (str, os.PathLike)):
        real = image_folder_dataset(real, normalize=normalize, prefetch=None)
    if isinstance(synthetic, (str, int, ModelEntry)) and not isinstance(synthetic, bool):
        synthetic = synthetic_dataset(synthetic, None, seed=seed, normalize=normalize, prefetch=None, **synthetic_options)
    elif synthetic_options:
        raise MediganUsageError(f"options {sorted(synthetic_options)} apply only when synthetic is a model id")
    for name, source in (("real", real), ("synthetic", synthetic)):
        if not isinstance(source, tf.data.Dataset) or not isinstance(source.element_spec, dict) \
                or "sample" not in source.element_spec:
            raise MediganUsageError(f"{name} must be a folder, a model id or a tf.data.Dataset of dicts with a 'sample'")
    if real.element_spec["sample"].shape != synthetic.element_spec["sample"].shape:
        raise MediganUsageError(f"real samples have shape {real.element_spec['sample'].shape} and synthetic ones "
                                f"{synthetic.element_spec['sample'].shape}; resize one of them first")
    numerator, denominator = ratio.numerator, ratio.denominator
    choices = tf.data.Dataset.range(tf.int64.max).map(
        lambda j: (j + 1) * numerator // denominator - j * numerator // denominator)
    sources = [source.map(lambda item, flag=flag: {"sample": item["sample"], "synthetic": tf.constant(flag)})
               for source, flag in ((real, False), (synthetic, True))]
    dataset = tf.data.Dataset.choose_from_datasets(sources, choices, stop_on_empty_dataset=True)
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return _prefetched(dataset, prefetch)


class _Source:
    """Generates the elements of one run of one model; loads the model once, on first use."""

    def __init__(self, entry: ModelEntry, seed: int, condition: dict[str, Any] | None, inputs: Any, device: str,
                 block_size: int, normalize: bool) -> None:
        self.entry, self.seed, self.condition, self.inputs = entry, seed, condition, inputs
        self.device, self.block_size, self.normalize = device, block_size, normalize
        self._model: Model | None = None

    @property
    def model(self) -> Model:
        if self._model is None:
            self._model = load(self.entry, self.device)
        return self._model

    def items(self, start: int, count: int | None) -> Iterator[dict[str, Any]]:
        first = start
        while count is None or first < start + count:
            last = first + self.block_size if count is None else min(first + self.block_size, start + count)
            yield from self._block(list(range(first, last)))
            first = last

    def _block(self, chunk: list[int]) -> Iterator[dict[str, Any]]:
        inputs = None if self.inputs is None else [self.inputs[i] for i in chunk]
        samples = self.model.generate(sample_seeds(self.seed, chunk), condition=self.condition, inputs=inputs)
        for row, index in enumerate(chunk):
            item: dict[str, Any] = {"sample": _as_float(samples.images[row], self.normalize)}
            if samples.masks is not None:
                item["mask"] = np.asarray(samples.masks[row], dtype=np.int32)
                if item["mask"].shape[-1] != mask_channels(self.entry.card):
                    raise MediganUsageError(
                        f"model {self.entry.card.id!r} returns masks with {item['mask'].shape[-1]} channels, its card "
                        f"declares {mask_channels(self.entry.card)} (mask_channels, 1 when absent): the dataset's "
                        "element spec needs the right number; declare mask_channels on the card")
            if self.condition:
                values = {name: _label_value(value) for name, value in self.condition.items()}
                item["label"] = next(iter(values.values())) if len(values) == 1 else values
            item["seed"], item["index"] = np.int64(samples.seeds[row]), np.int64(index)
            yield item


def mask_channels(card: Any) -> int:
    """The number of label channels of a model's masks: the card's ``mask_channels``, else 1."""
    return int(card.extra.get("mask_channels") or 1)


def _as_float(array: np.ndarray, normalize: bool) -> np.ndarray:
    out = np.asarray(array, dtype=np.float32)
    if normalize and array.dtype in (np.uint8, np.uint16):
        out /= 255.0 if array.dtype == np.uint8 else 65535.0
    return out


def _label_dtype(value: Any) -> Any:
    if isinstance(value, bool):
        return tf.bool
    if isinstance(value, int):
        return tf.int64
    if isinstance(value, float):
        return tf.float32
    return tf.string


def _label_value(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float)) else str(value)


def _prefetched(dataset: tf.data.Dataset, prefetch: int | None) -> tf.data.Dataset:
    if prefetch is None:
        return dataset
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < -1:
        raise MediganUsageError(f"prefetch must be a number of elements, -1 for automatic, or None, got {prefetch!r}")
    return dataset.prefetch(tf.data.AUTOTUNE if prefetch == -1 else prefetch)
