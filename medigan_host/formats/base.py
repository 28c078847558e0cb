"""What the output formats share: PNG encoding, integer conversion, provenance, the spacing and rescale of a card,
and the check that a format's optional library is installed. A leaf of :mod:`medigan_host.formats`: the writers and
the DICOM, NIfTI and TIFF encoders import it, it imports none of them."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import MediganUsageError

if TYPE_CHECKING:
    import numpy as np

    from ..cards import ModelCard

__all__ = ["DEFAULT_ORIENTATION", "PNG_PROVENANCE_KEY", "card_orientation", "card_rescale", "card_spacing", "float_rescale",
           "formats_extra", "installed", "mask_to_uint", "physical_rescale", "png_bytes", "provenance", "provenance_text",
           "require", "slice_normal", "to_uint"]


# -- PNG ---------------------------------------------------------------------------------------------
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)


#: The keyword of the iTXt chunk that holds a sample's provenance as JSON (read back by readers.read_provenance).
PNG_PROVENANCE_KEY = "medigan"


def png_bytes(array: np.ndarray, compression: int = 6, text: Mapping[str, str] | None = None,
              spacing: tuple[float, float] | None = None) -> bytes:
    """Encode an (H, W, C) uint8 or uint16 array, C in 1..4, as PNG (lossless, deterministic).

    ``text`` maps keywords (1-79 Latin-1 characters) to UTF-8 text, written as uncompressed iTXt chunks before the
    image data; ``spacing`` (mm between rows, between columns) becomes the ``pHYs`` chunk (pixels per metre).
    """
    import numpy as np

    if array.ndim != 3 or array.shape[2] not in _COLOUR_TYPES or array.dtype not in (np.uint8, np.uint16):
        raise MediganUsageError(f"PNG holds (H, W, 1-4) uint8/uint16 images, got shape {array.shape} dtype {array.dtype}; "
                                "use --format npy")
    height, width, channels = array.shape
    depth = 8 if array.dtype == np.uint8 else 16
    rows = np.ascontiguousarray(array.astype(">u2") if depth == 16 else array).reshape(height, -1)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows.view(np.uint8).reshape(height, -1)]).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPES[channels], 0, 0, 0)
    texts = b"".join(chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))
                     for key, value in (text or {}).items())
    if spacing is not None:  # pixels per metre along x (a row: the column spacing) and y, unit 1 (metre)
        texts = chunk(b"pHYs", struct.pack(">IIB", round(1000.0 / spacing[1]), round(1000.0 / spacing[0]), 1)) + texts
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + texts + chunk(b"IDAT", zlib.compress(raw, compression))
            + chunk(b"IEND", b""))


def to_uint(array: np.ndarray, bits: int) -> np.ndarray:
    """Convert images to uint8/uint16: floats in [0, 1] are scaled and rounded, integers kept or rescaled."""
    import numpy as np

    target = np.uint8 if bits == 8 else np.uint16
    top = 255 if bits == 8 else 65535
    if array.dtype == target:
        return array
    if array.dtype.kind == "f":
        return np.rint(np.clip(array, 0.0, 1.0) * top).astype(target)
    if array.dtype == np.uint16 and bits == 8:
        return (array >> 8).astype(np.uint8)
    if array.dtype == np.uint8 and bits == 16:
        return array.astype(np.uint16) * 257
    return array.astype(target)


def mask_to_uint(mask: np.ndarray) -> np.ndarray:
    import numpy as np

    top = int(mask.max()) if mask.size else 0
    if top > 65535:
        raise MediganUsageError(f"mask labels go up to {top}, more than PNG can hold; use --format npy")
    return mask.astype(np.uint8 if top <= 255 else np.uint16)


# -- medical formats: shared helpers ---------------------------------------------------------------------
def formats_extra() -> str:
    """The pip command that installs the readers and writers of the medical formats (the host's ``formats`` extra)."""
    from ..frameworks import pip_command

    return pip_command("medigan-host[formats]")


def installed(module: str) -> bool:
    import importlib.util
    import sys

    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, format_name: str) -> Any:
    """Import ``module`` for ``format_name`` or raise a FrameworkMissingError naming the extra to install."""
    import importlib

    from ..errors import FrameworkMissingError

    try:
        return importlib.import_module(module)
    except ImportError:
        raise FrameworkMissingError(f"the {format_name} format needs {module.split('.')[0]}: run `{formats_extra()}`") from None


def provenance(context: dict) -> dict[str, Any]:
    """What made a sample: model, versions, seeds, index and condition (JSON-ready; absent entries left out)."""
    keys = ("model", "model_version", "plugin", "plugin_version", "host_version", "run_seed", "seed", "index", "condition")
    return {"generator": "medigan", "synthetic": True, **{k: context[k] for k in keys if context.get(k) is not None}}


def provenance_text(context: dict) -> str:
    """One human-readable line of :func:`provenance`."""
    text = (f"SYNTHETIC image generated by medigan: model {context.get('model')} {context.get('model_version')}, "
            f"seed {context.get('seed')}, index {context.get('index')}, medigan-host {context.get('host_version')}")
    if context.get("condition"):
        text += ", condition " + ",".join(f"{k}={v}" for k, v in sorted(context["condition"].items()))
    return text


def card_spacing(card: ModelCard | None) -> tuple[float, ...]:
    """Voxel size in mm, in ``image_size`` order, from the card's optional ``spacing`` field (else 1 mm)."""
    ndim = card.ndim if card is not None else 2
    spacing = card.extra.get("spacing") if card is not None else None
    if spacing is None:
        return (1.0,) * ndim
    if not isinstance(spacing, (list, tuple)) or len(spacing) != ndim or \
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in spacing):
        raise MediganUsageError(f"model {card.id!r}: card field 'spacing' must list {ndim} positive sizes in mm "
                                f"(one per image_size axis), got {spacing!r}; fix the card in its plugin")
    return tuple(float(v) for v in spacing)


def card_rescale(card: ModelCard | None) -> tuple[float, float, str] | None:
    """``(slope, intercept, unit)`` from the card's optional ``rescale`` field: stored value * slope + intercept
    gives the physical value (e.g. ``{"slope": 1, "intercept": -1024, "unit": "HU"}``); None when absent."""
    rescale = card.extra.get("rescale") if card is not None else None
    if rescale is None:
        return None
    numbers = isinstance(rescale, dict) and all(
        isinstance(rescale.get(k), (int, float)) and not isinstance(rescale.get(k), bool) for k in ("slope", "intercept"))
    if not numbers or rescale["slope"] == 0 or not isinstance(rescale.get("unit", ""), str):
        raise MediganUsageError(f"model {card.id!r}: card field 'rescale' must be {{'slope': non-zero number, "
                                f"'intercept': number, 'unit': text}}, got {rescale!r}; fix the card in its plugin")
    return float(rescale["slope"]), float(rescale["intercept"]), rescale.get("unit", "") or ""


#: A card's ``value_encoding`` that says the stored values are Hounsfield units plus an offset ("HU + 1024, uint16").
_HU_ENCODING = re.compile(r"^\s*HU\s*\+\s*(\d+(?:\.\d+)?)(?![\d.])", re.IGNORECASE)


def physical_rescale(card: ModelCard | None) -> tuple[float, float, str, bool] | None:
    """``(slope, intercept, unit, from_encoding)``: how the model's stored values map to physical ones, the same for
    every format. The card's ``rescale``; without one, a ``value_encoding`` of "HU + 1024" means slope 1, intercept
    -1024, unit HU (``from_encoding`` True: medigan's own reader then returns such files as generated). None when the
    card declares neither."""
    rescale = card_rescale(card)
    if rescale is not None:
        return (*rescale, False)
    if card is not None and isinstance(card.extra.get("value_encoding"), str):
        offset = _HU_ENCODING.match(card.extra["value_encoding"])
        if offset:
            return 1.0, -float(offset.group(1)), "HU", True
    return None


#: Float images are stored in 16 bits with a rescale chosen from the sample's own range: value = stored x slope +
#: intercept, slope = (max - min) / FLOAT_LEVELS, so the round-trip error is at most slope / 2 (7.6e-6 for [0, 1] data).
FLOAT_LEVELS = 65535


def float_rescale(array: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(stored uint16, slope, intercept)`` of a float image: ``stored * slope + intercept`` gives the values back
    within ``slope / 2`` (plus the 10 significant digits of the decimal strings DICOM writes them as)."""
    import numpy as np

    data = np.asarray(array, dtype=np.float64)
    low = float(data.min()) if data.size else 0.0
    high = float(data.max()) if data.size else 0.0
    low, high = float(f"{low:.10g}"), float(f"{high:.10g}")  # as DICOM's decimal strings will hold them
    slope = float(f"{(high - low) / FLOAT_LEVELS:.10g}") if high > low else 1.0
    stored = np.clip(np.rint((data - low) / slope), 0, FLOAT_LEVELS).astype(np.uint16)
    return stored, slope, low


#: Direction cosines of the image rows and columns in DICOM patient coordinates (LPS: x to the patient's left, y to
#: posterior, z to superior): along a row towards the left, down a column towards posterior, an axial slice.
DEFAULT_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def card_orientation(card: ModelCard | None) -> tuple[float, ...]:
    """The card's optional ``orientation`` (DICOM ImageOrientationPatient: row then column direction cosines, LPS),
    else :data:`DEFAULT_ORIENTATION`. The card was validated when it was registered."""
    orientation = card.extra.get("orientation") if card is not None else None
    if orientation is None:
        return DEFAULT_ORIENTATION
    return tuple(float(v) for v in orientation)


def slice_normal(orientation: tuple[float, ...]) -> tuple[float, float, float]:
    """The direction in which the slices of a volume follow each other: row x column direction (LPS)."""
    r, c = orientation[:3], orientation[3:]
    return (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
