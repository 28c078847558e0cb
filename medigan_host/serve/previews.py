"""PNG pictures for the browser: a model's sample grid, and one sample of a run (masks overlaid in colour, volumes as
mid slices), encoded without matplotlib or Pillow."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..cards import ModelCard
from ..display import mosaic, to_rgb
from ..errors import MediganUsageError
from ..formats.base import png_bytes
from ..registry import ModelEntry

#: Grids kept in memory (model, version, n, seed): a card opened again is served at once.
GRID_CACHE = 64


class GridCache:
    """Sample grids by (model, version, n, seed), computed once each (a lock per key, so concurrent requests wait)."""

    def __init__(self, size: int = GRID_CACHE) -> None:
        self.size = size
        self._grids: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, entry: ModelEntry, n: int, seed: int, device: str, trust_remote_code: bool) -> bytes:
        key = (entry.card.id, entry.card.version, n, seed)
        with self._lock:
            if key in self._grids:
                self._grids.move_to_end(key)
                return self._grids[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._grids:
                    return self._grids[key]
            data = grid_png(entry, n, seed, device, trust_remote_code)
            with self._lock:
                self._grids[key] = data
                while len(self._grids) > self.size:
                    self._grids.popitem(last=False)
                self._locks.pop(key, None)
            return data


def grid_png(entry: ModelEntry, n: int, seed: int, device: str = "auto", trust_remote_code: bool = False) -> bytes:
    """Samples 0..n-1 of a run seeded ``seed`` (what `medigan generate -n n --seed seed` writes) as one PNG grid."""
    from ..models import load
    from ..viz.visualize import grid_samples

    card = entry.card
    if card.needs_inputs:
        raise MediganUsageError(f"model {card.id!r} translates {card.input} inputs: it has no sample grid; start a run with "
                                "inputs to see its images")
    samples = grid_samples(load(entry, device, trust_remote_code=trust_remote_code), n, seed)
    return png_bytes(mosaic(to_rgb(samples.images, card, samples.masks), min(n, 4)))


def sample_png(card: ModelCard, image: Path, mask: Path | None = None) -> bytes:
    """One written sample as a PNG: read back from its file in any format medigan reads, mask overlaid in colour."""
    import numpy as np

    from ..formats.readers import read_image

    pixels = read_image(image)
    labels = read_image(mask) if mask is not None else None
    window = _window(card, pixels)
    masks = None if labels is None else np.asarray(labels)[None]
    return png_bytes(to_rgb(np.asarray(pixels)[None], card, masks, window=window)[0])


def _window(card: ModelCard, pixels: Any) -> tuple[float, float]:
    """The grey range a file's values are shown in: the card's ``display_range`` for stored values, the whole range
    of 8-bit files, [0, 1] for unit floats, else the values' own range."""
    import numpy as np

    from ..display import card_display_range

    declared = card_display_range(card)
    if pixels.dtype == np.uint8:
        return 0.0, 255.0
    if declared is not None:
        return declared
    low, high = float(np.nanmin(pixels)), float(np.nanmax(pixels))
    if pixels.dtype.kind == "f" and 0.0 <= low and high <= 1.0:
        return 0.0, 1.0
    return (low, high) if high > low else (low, low + 1.0)
