"""Training and held-out data: 64x64 patches of scikit-image's ``ihc.png`` (IHC-stained human colon).

The 512x512 image is cut into a 4x4 grid of 128-pixel tiles. Four tiles, one in every tile row and column, are
held out for evaluation; training patches never touch a held-out pixel, and held-out patches lie inside one
held-out tile. Patches are float32 CHW in [-1, 1].
"""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np

#: sha256 of skimage/data/ihc.png as shipped in scikit-image 0.26 (the same file in its data registry).
IHC_SHA256 = "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"
PATCH = 64
TILE = 128
#: (tile row, tile column) of the held-out tiles: one per row and per column, so each holds a mix of tissue.
HELD_OUT_TILES = ((0, 2), (1, 0), (2, 3), (3, 1))


def load_ihc() -> np.ndarray:
    """The ihc image as (512, 512, 3) uint8, after checking that the file is the expected one."""
    from PIL import Image

    data = (resources.files("skimage") / "data" / "ihc.png").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != IHC_SHA256:
        raise SystemExit(f"skimage/data/ihc.png has sha256 {digest}, expected {IHC_SHA256}: install scikit-image 0.26")
    import io

    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    if image.shape != (512, 512, 3):
        raise SystemExit(f"ihc.png has shape {image.shape}, expected (512, 512, 3)")
    return image


def held_out_mask(shape: tuple[int, int] = (512, 512)) -> np.ndarray:
    """True on the pixels of the held-out tiles."""
    mask = np.zeros(shape, dtype=bool)
    for row, col in HELD_OUT_TILES:
        mask[row * TILE:(row + 1) * TILE, col * TILE:(col + 1) * TILE] = True
    return mask


def patch_corners(held_out: bool, shape: tuple[int, int] = (512, 512), size: int = PATCH) -> np.ndarray:
    """Top-left corners (y, x) of every ``size`` x ``size`` window entirely inside the training part, or inside one
    held-out tile."""
    mask = held_out_mask(shape)
    inside = mask if held_out else ~mask
    # integral image: a window is valid when all of its pixels are in ``inside``
    table = np.pad(inside.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys, xs = np.mgrid[0:shape[0] - size + 1, 0:shape[1] - size + 1]
    counts = table[ys + size, xs + size] - table[ys, xs + size] - table[ys + size, xs] + table[ys, xs]
    valid = counts == size * size
    return np.stack([ys[valid], xs[valid]], axis=1)


def to_unit(image: np.ndarray) -> np.ndarray:
    """uint8 HWC -> float32 CHW in [-1, 1]."""
    return (image.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1).copy()


def crops(image: np.ndarray, corners: np.ndarray, size: int = PATCH) -> np.ndarray:
    """(N, size, size, 3) uint8 patches at the given corners."""
    return np.stack([image[y:y + size, x:x + size] for y, x in corners])


def dihedral(patches: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Apply one of the 8 rotations/flips to each (C, H, W) patch (histology has no preferred orientation)."""
    out = np.empty_like(patches)
    for i, code in enumerate(codes):
        patch = np.rot90(patches[i], k=int(code) % 4, axes=(1, 2))
        out[i] = patch[:, :, ::-1] if code >= 4 else patch
    return out
