"""Reading the inputs of image-to-image models from disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MediganUsageError
from ..formats.readers import IMAGE_SUFFIXES, list_images, read_image

if TYPE_CHECKING:
    import numpy as np

SUFFIXES = IMAGE_SUFFIXES


def read_inputs(path: str | Path) -> np.ndarray:
    """Load inputs: one ``.npy`` array of shape (N, ...), or a folder of images of one size, sorted by name.

    A folder may hold any format :func:`medigan_host.formats.readers.read_image` reads (PNG, JPEG, TIFF, NumPy, DICOM,
    NIfTI); each file is one input, (H, W, C) or (D, H, W, C)."""
    import numpy as np

    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".npy":
            raise MediganUsageError(f"inputs file {str(path)!r} must be a .npy array of shape (N, ...), or give a folder "
                                    "of images")
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # damaged, not .npy, or pickled objects (never unpickled)
            raise MediganUsageError(f"cannot read inputs file {str(path)!r} as a plain NumPy array ({exc}); medigan never "
                                    "unpickles data: save numeric arrays with np.save(..., allow_pickle=False)") from exc
    if not path.exists():
        raise MediganUsageError(f"inputs {str(path)!r} do not exist; give a .npy array or a folder of images")
    arrays = [read_image(p) for p in list_images(path)]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise MediganUsageError(f"inputs in {str(path)!r} differ in shape ({sorted(shapes)[:3]}); give images of one size")
    return np.stack(arrays)
