"""The ``nifti`` writer: NIfTI-1 files (nibabel) for 2-D images and 3-D volumes.

Voxel axes: i runs along the image width towards the patient's left, j along the height towards posterior,
k along the depth towards superior (the order of an axial DICOM stack), so viewers show a slice as the PNG of it
shows it; a card's ``orientation`` (DICOM ImageOrientationPatient) turns these axes as it turns the DICOM writer's.
The affine holds the card's ``spacing`` (else 1 mm) in RAS+ world coordinates. The card's physical scale (its
``rescale``, or "HU + N" in ``value_encoding``) becomes ``scl_slope`` / ``scl_inter``, so nibabel and MONAI read
physical values (HU for CT), the same as DICOM readers that apply the rescale. The provenance goes
into the header ``descrip`` (80 characters) and, complete, into a JSON comment extension. Channels beyond one
become the 5th (vector) axis; masks are integer labels with intent ``label``. The bytes depend only on the
array and the context, so a rerun writes identical files.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import MediganUsageError
from .base import card_orientation, card_spacing, mask_to_uint, physical_rescale, provenance, require, slice_normal

#: Set in the provenance record when the scale comes from the card's value_encoding ("HU + 1024"): medigan's reader
#: returns such files as generated, other readers apply ``scl_slope`` / ``scl_inter``.
AS_GENERATED = "read_as_stored"

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64)


def encode(array: np.ndarray, kind: str, context: dict[str, Any]) -> bytes:
    """NIfTI-1 bytes of one (H, W, C) image or (D, H, W, C) volume, or of its label mask."""
    nibabel = require("nibabel", "nifti")
    card = context.get("card")
    data = mask_to_uint(array) if kind == "mask" else array
    if data.dtype.type not in SUPPORTED_DTYPES:
        data = data.astype(np.float32 if data.dtype.kind == "f" else np.int32)
    if data.ndim == 3:
        data = data[None]  # (1, H, W, C)
    if data.ndim != 4:
        raise MediganUsageError(f"NIfTI holds (H, W, C) images or (D, H, W, C) volumes, got shape {array.shape}")
    voxels = np.transpose(data, (2, 1, 0, 3))  # (W, H, D, C) = (i, j, k, C)
    channels = voxels.shape[3]
    if channels == 1:
        voxels = voxels[..., 0]
        if voxels.shape[2] == 1:
            voxels = voxels[:, :, 0]  # a 2-D image stays 2-D
    else:
        voxels = voxels[:, :, :, None, :]  # (i, j, k, t=1, channels)
    image = nibabel.Nifti1Image(np.ascontiguousarray(voxels), affine(context), dtype=voxels.dtype)
    header = image.header
    header.set_xyzt_units("mm", "sec")
    header.set_qform(image.affine, code=1)
    header.set_sform(image.affine, code=1)
    if kind == "mask":
        header.set_intent("label")
    elif channels > 1:
        header.set_intent("vector")
    rescale = physical_rescale(card) if kind == "image" else None
    record = provenance(context)
    if rescale is not None:
        header.set_slope_inter(rescale[0], rescale[1])
        record["rescale"] = {"slope": rescale[0], "intercept": rescale[1], "unit": rescale[2]}
        if rescale[3]:
            record[AS_GENERATED] = True
    header["descrip"] = _descrip(record, kind).encode("ascii", "replace")[:79]
    extension = json.dumps({**record, "kind": kind}, sort_keys=True).encode("utf-8")
    header.extensions.append(nibabel.nifti1.Nifti1Extension("comment", extension))
    return image.to_bytes()


def affine(context: dict[str, Any]) -> np.ndarray:
    """The voxel-to-world (RAS+, mm) matrix: i along the rows, j down the columns, k across the slices, in the
    directions of the card's ``orientation`` (by default i towards left, j towards posterior, k towards superior)."""
    card = context.get("card")
    spacing = card_spacing(card)
    depth, height, width = (1.0, *spacing) if len(spacing) == 2 else spacing
    orientation = card_orientation(card)
    lps = np.column_stack([np.array(orientation[:3]) * width, np.array(orientation[3:]) * height,
                           np.array(slice_normal(orientation)) * depth])
    out = np.eye(4)
    out[:3, :3] = lps * np.array([[-1.0], [-1.0], [1.0]]) + 0.0  # LPS -> RAS (+ 0.0: no negative zeros)
    return out


def _descrip(record: dict[str, Any], kind: str) -> str:
    text = f"medigan synthetic {kind} {record.get('model', '')} {record.get('model_version', '')} seed {record.get('seed', '')}"
    return text.strip()
