"""Output formats: a small registry of writers that turn one sample's array into file bytes.

Built in: ``png`` (8-bit; 16-bit for uint16 images), ``png16`` (always 16-bit) and ``npy`` (the array as is).
Later formats (NIfTI, DICOM …) join with :func:`register_writer`.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import MediganUsageError

if TYPE_CHECKING:
    import numpy as np

    from .cards import ModelCard


@dataclass(frozen=True)
class Writer:
    """``encode(array, kind, context) -> bytes`` for one sample; ``kind`` is "image" or "mask".

    ``context`` holds ``card`` (the ModelCard), ``index``, ``seed``, ``condition``, ``model``, ``model_version``,
    ``plugin``, ``plugin_version`` and ``host_version``, for formats that record provenance (DICOM, NIfTI)."""

    name: str
    extension: str
    encode: Callable[[Any, str, dict], bytes]
    ndims: tuple[int, ...] = (2, 3)
    description: str = ""

    def check(self, card: ModelCard) -> None:
        """Raise MediganUsageError if this format cannot hold the card's outputs."""
        if card.ndim not in self.ndims:
            options = ", ".join(w.name for w in WRITERS.values() if card.ndim in w.ndims)
            raise MediganUsageError(f"format {self.name!r} cannot store {card.ndim}-D outputs of model {card.id!r}; "
                                    f"use one of: {options}")


WRITERS: dict[str, Writer] = {}


def register_writer(writer: Writer) -> None:
    """Add an output format (replacing one of the same name)."""
    WRITERS[writer.name] = writer


def get_writer(name: str) -> Writer:
    try:
        return WRITERS[name.lower()]
    except (KeyError, AttributeError):
        raise MediganUsageError(f"unknown output format {name!r}; choose one of: {', '.join(WRITERS)}") from None


# -- PNG ---------------------------------------------------------------------------------------------
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)


def png_bytes(array: np.ndarray, compression: int = 6) -> bytes:
    """Encode an (H, W, C) uint8 or uint16 array, C in 1..4, as PNG (lossless, deterministic)."""
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
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, compression)) + chunk(b"IEND", b"")


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


def _mask_to_uint(mask: np.ndarray) -> np.ndarray:
    import numpy as np

    top = int(mask.max()) if mask.size else 0
    if top > 65535:
        raise MediganUsageError(f"mask labels go up to {top}, more than PNG can hold; use --format npy")
    return mask.astype(np.uint8 if top <= 255 else np.uint16)


def _encode_png(array: np.ndarray, kind: str, context: dict) -> bytes:
    if kind == "mask":
        return png_bytes(_mask_to_uint(array))
    return png_bytes(to_uint(array, 16 if array.dtype.name == "uint16" else 8))


def _encode_png16(array: np.ndarray, kind: str, context: dict) -> bytes:
    if kind == "mask":
        return png_bytes(_mask_to_uint(array))
    return png_bytes(to_uint(array, 16))


def _encode_npy(array: np.ndarray, kind: str, context: dict) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


register_writer(Writer("png", "png", _encode_png, (2,), "PNG, 8-bit (16-bit when the model returns uint16)"))
register_writer(Writer("png16", "png", _encode_png16, (2,), "PNG, always 16-bit"))
register_writer(Writer("npy", "npy", _encode_npy, (2, 3), "NumPy .npy, the array exactly as generated"))
