"""Images for the eye: samples scaled to 8-bit RGB per the card, masks overlaid in colour, volumes as mid slices.

NumPy only; the figures (matplotlib) are built in :mod:`medigan_host.viz.visualize`, the HTML in :mod:`medigan_host.viz.gallery`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .cards import ModelCard
    from .samples import Samples

#: Label colours (RGB 0-255, matplotlib's tab10 without its grey); label 0 is background and stays uncoloured.
LABEL_COLOURS: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207),
)
MASK_ALPHA = 0.25
VOLUME_VIEWS = ("axial", "coronal", "sagittal")


def label_colour(label: int) -> tuple[int, int, int]:
    """The overlay colour of mask label ``label`` (>= 1)."""
    return LABEL_COLOURS[(int(label) - 1) % len(LABEL_COLOURS)]


def value_range(card: ModelCard, images: np.ndarray) -> tuple[float, float]:
    """The intensity window shown as black..white.

    The card's ``display_range`` field when it has one; else the dtype's range (float32 [0, 1], uint8 [0, 255]); uint16
    images without ``display_range`` use the batch's own minimum and maximum (one window for every tile).
    """
    declared = card_display_range(card)
    if declared is not None:
        return declared
    if images.dtype == np.uint8:
        return 0.0, 255.0
    if images.dtype == np.uint16:
        low, high = float(images.min()), float(images.max())
        return (low, high) if high > low else (low, low + 1.0)
    return 0.0, 1.0


def card_display_range(card: ModelCard) -> tuple[float, float] | None:
    """The card's ``display_range`` (stored values shown as black..white), or None when it has no valid one."""
    declared = card.extra.get("display_range")
    if isinstance(declared, Sequence) and len(declared) == 2 and all(isinstance(v, (int, float)) for v in declared) \
            and float(declared[1]) > float(declared[0]):
        return float(declared[0]), float(declared[1])
    return None


def describe_view(card: ModelCard) -> str:
    """How :func:`to_rgb` shows the card's samples, for figure titles."""
    parts = []
    if card.ndim == 3:
        parts.append("3-D volumes: mid slices of the three axes (axial | coronal | sagittal)")
    if card.channels == 2 or card.channels > 3:
        parts.append(f"channel 0 of {card.channels}")
    return "; ".join(parts)


def mid_slices(volume: np.ndarray) -> np.ndarray:
    """The axial, coronal and sagittal mid slices of a (D, H, W, ...) volume, side by side (zero-padded to one height)."""
    d, h, w = volume.shape[:3]
    views = [volume[d // 2], volume[:, h // 2], volume[:, :, w // 2]]
    height = max(v.shape[0] for v in views)
    padded = [np.pad(v, [(0, height - v.shape[0])] + [(0, 0)] * (v.ndim - 1)) for v in views]
    return np.concatenate(padded, axis=1)


def to_rgb(images: np.ndarray, card: ModelCard, masks: np.ndarray | None = None, *,
           window: tuple[float, float] | None = None, alpha: float = MASK_ALPHA) -> np.ndarray:
    """Samples (N, [D,] H, W, C) -> uint8 RGB tiles (N, H', W', 3), masks (N, [D,] H, W, K) overlaid in colour."""
    low, high = window or value_range(card, images)
    tiles = []
    for i in range(len(images)):
        image = images[i]
        mask = masks[i] if masks is not None else None
        if card.ndim == 3:
            image = mid_slices(image)
            mask = mid_slices(mask) if mask is not None else None
        unit = np.clip((image.astype(np.float32) - low) / (high - low), 0.0, 1.0)
        rgb = unit if unit.shape[-1] == 3 else np.repeat(unit[..., :1], 3, axis=-1)
        rgb = rgb * 255.0
        if mask is not None:
            rgb = overlay(rgb, mask, alpha)
        tiles.append(np.rint(rgb).astype(np.uint8))
    return np.stack(tiles)


def overlay(rgb: np.ndarray, mask: np.ndarray, alpha: float = MASK_ALPHA) -> np.ndarray:
    """Tint each non-zero label of ``mask`` (H, W, K) over ``rgb`` (H, W, 3 in 0..255) in its colour, outline in full colour."""
    out = rgb.astype(np.float32, copy=True)
    for k in range(mask.shape[-1]):
        labels = mask[..., k]
        edges = _edges(labels)
        for label in np.unique(labels):
            if label == 0:
                continue
            where = labels == label
            colour = np.asarray(label_colour(int(label)), dtype=np.float32)
            out[where] = (1.0 - alpha) * out[where] + alpha * colour
            out[where & edges] = colour
    return out


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels whose label differs from a 4-neighbour's."""
    edges = np.zeros(labels.shape, dtype=bool)
    vertical = labels[1:] != labels[:-1]
    horizontal = labels[:, 1:] != labels[:, :-1]
    edges[1:] |= vertical
    edges[:-1] |= vertical
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    return edges


def mosaic(tiles: np.ndarray, columns: int | None = None, gap: int = 2, background: int = 255) -> np.ndarray:
    """Tiles (N, H, W, 3) -> one image laid out in ``columns`` (default: a near-square grid)."""
    n, h, w = tiles.shape[:3]
    columns = max(1, min(n, columns or math.ceil(math.sqrt(n))))
    rows = math.ceil(n / columns)
    out = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), background, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


def labels_present(masks: np.ndarray | None) -> list[int]:
    """The non-zero mask labels in a batch, sorted."""
    if masks is None:
        return []
    return [int(v) for v in np.unique(masks) if v != 0]


def label_names(card: ModelCard) -> Mapping[str, str]:
    """The card's ``mask_labels`` field ({"1": "bone", ...}) when it has one."""
    names = card.extra.get("mask_labels")
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, Mapping) else {}


def card_summary(card: ModelCard, condition: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """(field, text) rows describing a model beside its samples: identity, data, licence, metrics, conditions."""
    size = "x".join(str(s) for s in card.image_size) + f"x{card.channels}"
    rows = [("id", card.id), ("name", card.name), ("version", card.version), ("modality", card.modality),
            ("anatomy", card.anatomy or "-"), ("size", size), ("framework", card.framework),
            ("architecture", card.architecture or "-"), ("outputs", card.outputs), ("license", card.license)]
    if card.conditions:
        rows.append(("conditions", "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in card.conditions.items())))
    rows.append(("condition used", ", ".join(f"{k}={v}" for k, v in condition.items()) if condition else "none (drawn per seed)"
                 if card.conditions else "-"))
    for name, value in flat_metrics(card.metrics):
        rows.append((f"metric {name}", value))
    if card.upstream_id:
        rows.append(("upstream id", card.upstream_id))
    if card.doi:
        rows.append(("doi", card.doi))
    return rows


def flat_metrics(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Card metrics as (dotted name, "value (reference, n=…)") pairs."""
    out = []
    for key, item in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and "value" in item:
            details = [str(item[k]) for k in ("reference",) if item.get(k)]
            if item.get("n"):
                details.append(f"n={item['n']}")
            out.append((name, f"{item['value']:g}" + (f" ({'; '.join(details)})" if details else "")))
        elif isinstance(item, Mapping):
            out.extend(flat_metrics(item, f"{name}."))
        else:
            out.append((name, f"{item:g}"))
    return out


def sample_tiles(samples: Samples, card: ModelCard) -> np.ndarray:
    """:func:`to_rgb` of a batch of samples with its masks, one window for the whole batch."""
    return to_rgb(samples.images, card, samples.masks)
