"""The ``tiff`` writer: 16-bit TIFF files (tifffile), deflate-compressed, without timestamps.

Images are always stored with 16 bits per sample (uint8 values are scaled by 257, floats in [0, 1] by 65535,
as ``png16`` does); masks keep their integer labels (8 or 16 bits). A volume is one page per slice. Grey, RGB
and RGBA images are supported. The provenance goes into ``ImageDescription`` as JSON, the card's optional
``spacing`` into the resolution tags (pixels per centimetre) and, with its ``orientation``, into the JSON record
when the card declares them. The JSON record's ``rescale`` (``slope``, ``intercept``,
``unit``) gives the physical value of a stored one, stored x slope + intercept: the 16-bit scaling undone (1/257 for
uint8 images, 1/65535 for floats) and the card's physical scale applied (its ``rescale``, or "HU + N" in
``value_encoding``: HU for CT), so a TIFF reads the same values as the NIfTI and DICOM of the sample. The bytes
depend only on the array and the context, so a rerun writes identical files.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from ..errors import MediganUsageError
from .base import card_spacing, mask_to_uint, physical_rescale, provenance, require, to_uint

PHOTOMETRIC = {1: "minisblack", 3: "rgb", 4: "rgb"}


def encode(array: np.ndarray, kind: str, context: dict[str, Any]) -> bytes:
    """TIFF bytes of one (H, W, C) image or (D, H, W, C) volume, or of its label mask."""
    tifffile = require("tifffile", "tiff")
    channels = array.shape[-1]
    if channels not in PHOTOMETRIC:
        raise MediganUsageError(f"TIFF stores grey, RGB or RGBA images (1, 3 or 4 channels), this model returns "
                                f"{channels}; use --format nifti or npy")
    data = mask_to_uint(array) if kind == "mask" else to_uint(array, 16)
    if channels == 1:
        data = data[..., 0]
    spacing = card_spacing(context.get("card"))
    record = {**provenance(context), "kind": kind}
    rescale = stored_rescale(array, context.get("card")) if kind == "image" else None
    if rescale is not None:
        record["rescale"] = rescale
    card = context.get("card")
    for field in ("spacing", "orientation"):  # TIFF has no tag for a slice spacing or an orientation: the record says
        if card is not None and card.extra.get(field) is not None:
            record[field] = list(card.extra[field])
    description = json.dumps(record, sort_keys=True)
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, np.ascontiguousarray(data), photometric=PHOTOMETRIC[channels], compression="zlib",
        extrasamples=("unassalpha",) if channels == 4 else None, planarconfig="contig" if channels > 1 else None,
        description=description, metadata=None, software="medigan", datetime=None,
        resolution=(10.0 / spacing[-1], 10.0 / spacing[-2]), resolutionunit="CENTIMETER",
    )
    return buffer.getvalue()


def stored_rescale(array: np.ndarray, card: Any) -> dict[str, Any] | None:
    """``{"slope", "intercept", "unit"}`` from this writer's 16-bit values to the physical ones (None: they are the same)."""
    levels = 65535.0 if array.dtype.kind == "f" else 257.0 if array.dtype == np.uint8 else 1.0
    physical = physical_rescale(card)
    slope, intercept, unit = physical[:3] if physical is not None else (1.0, 0.0, "")
    if levels == 1.0 and (slope, intercept) == (1.0, 0.0):
        return None
    return {"slope": slope / levels, "intercept": intercept, "unit": unit}
