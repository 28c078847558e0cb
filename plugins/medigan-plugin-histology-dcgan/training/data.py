"""Training, validation and test data: patches of scikit-image's ``ihc.png`` (IHC-stained human colon).

The 512x512 image is cut into a 4x4 grid of 128-pixel tiles. Two splits of it exist:

- ``"three-way"`` (``histology-ihc-fastgan`` 1.4.0 and later): 4 **validation** tiles, one in every tile row and column
  (the tiles that chose between training runs and checkpoints); 4 **test** tiles, the corners, kept out of every
  training run and every selection step of those versions; the other 8 tiles train.
- ``"two-way"`` (``histology-ihc-dcgan`` 1.0.0 and ``histology-ihc-fastgan`` up to 1.3.0): the same 4 validation tiles
  (then called "held out") and 12 training tiles; these versions have no test set.

Training patches never touch a pixel of a validation or test tile, and validation or test patches lie inside one tile
of their part. Patches are float32 CHW in [-1, 1].
"""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np

#: sha256 of skimage/data/ihc.png as shipped in scikit-image 0.26 (the same file in its data registry).
IHC_SHA256 = "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"
PATCH = 64
TILE = 128
#: (tile row, tile column) of the validation tiles: one per row and per column, so each holds a mix of tissue.
VALIDATION_TILES = ((0, 2), (1, 0), (2, 3), (3, 1))
#: The test tiles of the three-way split, the four corners: epithelium (0, 0), epithelium and stroma (0, 3), epithelium
#: beside an empty region (3, 0), stroma around a vessel (3, 3). They were training tiles of the two-way split, and
#: were chosen, before the first three-way run, as the corners because they cost the training part the fewest
#: 128x128 windows (17,153 of the two-way split's 17,665).
TEST_TILES = ((0, 0), (0, 3), (3, 0), (3, 3))
SPLITS = {"two-way": {"validation": VALIDATION_TILES, "test": ()},
          "three-way": {"validation": VALIDATION_TILES, "test": TEST_TILES}}
PARTS = ("training", "validation", "test")


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


def tiles_mask(tiles: tuple[tuple[int, int], ...], shape: tuple[int, int] = (512, 512)) -> np.ndarray:
    """True on the pixels of the given tiles."""
    mask = np.zeros(shape, dtype=bool)
    for row, col in tiles:
        mask[row * TILE:(row + 1) * TILE, col * TILE:(col + 1) * TILE] = True
    return mask


def patch_corners(part: str, split: str = "three-way", shape: tuple[int, int] = (512, 512),
                  size: int = PATCH) -> np.ndarray:
    """Top-left corners (y, x) of every ``size`` x ``size`` window of one part of a split: entirely inside the
    training part, or entirely inside one validation or test tile."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}: use one of {', '.join(PARTS)}")
    if part != "training" and size > TILE:
        raise ValueError(f"a {size}-pixel window does not fit inside one {TILE}-pixel tile")
    tiles = SPLITS[split]
    if part == "training":
        inside = ~tiles_mask(tiles["validation"] + tiles["test"], shape)
    elif not tiles[part]:
        raise ValueError(f"the {split} split has no {part} tiles: use the three-way split")
    else:
        inside = tiles_mask(tiles[part], shape)
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
