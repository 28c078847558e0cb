"""Samples: what a generator returns, and the host's check that it matches the model card."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import PluginError

if TYPE_CHECKING:
    from .cards import ModelCard

IMAGE_DTYPES = ("uint8", "uint16", "float32")


@dataclass
class Samples:
    """A batch of generated samples.

    ``images``: array (N, H, W, C) or (N, D, H, W, C), dtype uint8, uint16 or float32 in [0, 1].
    ``masks``: optional integer label array with the same leading shape. ``seeds`` and ``indices`` are
    filled in by the host: the per-sample seeds and the sample indices within the run.
    """

    images: Any
    masks: Any | None = None
    seeds: list[int] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def coerce(cls, value: Any, where: str = "generate()") -> Samples:
        """Accept a Samples or a dict with the same keys; ``where`` names the model in errors."""
        if isinstance(value, Samples):
            return value
        if isinstance(value, Mapping) and "images" in value:
            unknown = set(value) - {"images", "masks", "seeds", "indices"}
            if unknown:
                raise PluginError(f"{where} returned unknown keys {sorted(unknown)}; return 'images' and optionally 'masks'")
            return cls(images=value["images"], masks=value.get("masks"))
        raise PluginError(f"{where}: generate() must return medigan_host.Samples or a dict with 'images', "
                          f"got {type(value).__name__}")


def check_samples(samples: Samples, card: ModelCard, n: int, where: str) -> Samples:
    """Raise PluginError unless ``samples`` holds ``n`` samples exactly as ``card`` declares them."""
    import numpy as np

    def fail(message: str) -> PluginError:
        return PluginError(f"{where}: {message}; the generator must follow its card (see `medigan info {card.id}`)")

    images = samples.images
    if not isinstance(images, np.ndarray):
        raise fail(f"images must be a numpy array, got {type(images).__name__}")
    expected = (n, *card.image_size, card.channels)
    if images.shape != expected:
        raise fail(f"images have shape {images.shape}, expected {expected} (N, {'D, ' if card.ndim == 3 else ''}H, W, C)")
    if images.dtype.name not in IMAGE_DTYPES:
        raise fail(f"images have dtype {images.dtype}, expected one of {', '.join(IMAGE_DTYPES)}")
    if images.dtype == np.float32 and images.size:
        low, high = float(images.min()), float(images.max())
        if not (0.0 <= low and high <= 1.0):
            raise fail(f"float32 images must lie in [0, 1], found values from {low} to {high} (or NaN)")
    masks = samples.masks
    if card.has_masks:
        if masks is None:
            raise fail("the card declares outputs 'image+mask' but no masks were returned")
        if not isinstance(masks, np.ndarray):
            raise fail(f"masks must be a numpy array, got {type(masks).__name__}")
        if masks.shape[:-1] != images.shape[:-1] or masks.ndim != images.ndim:
            raise fail(f"masks have shape {masks.shape}, expected {(*images.shape[:-1], 'K')}")
        declared = card.extra.get("mask_channels")
        if declared is not None and masks.shape[-1] != declared:
            raise fail(f"masks have {masks.shape[-1]} channels, the card's mask_channels says {declared}")
        if masks.dtype.kind not in "biu":
            raise fail(f"masks must hold integer labels, got dtype {masks.dtype}")
        if masks.dtype.kind == "i" and masks.size and masks.min() < 0:
            raise fail("mask labels must not be negative")
    elif masks is not None:
        raise fail("masks were returned but the card declares outputs 'image'; declare 'image+mask' or drop them")
    return samples
