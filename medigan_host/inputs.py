"""Reading the inputs of image-to-image models from disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MediganUsageError

if TYPE_CHECKING:
    import numpy as np

SUFFIXES = (".npy", ".png")


def read_inputs(path: str | Path) -> np.ndarray:
    """Load inputs: one ``.npy`` array of shape (N, ...), or a folder of ``.npy``/``.png`` files (sorted by name)."""
    import numpy as np

    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".npy":
            raise MediganUsageError(f"inputs file {str(path)!r} must be a .npy array of shape (N, ...), or give a folder")
        return np.load(path, allow_pickle=False)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))
    if not files:
        raise MediganUsageError(f"inputs folder {str(path)!r} holds no {' or '.join(SUFFIXES)} files")
    arrays = [_read_one(p) for p in files]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise MediganUsageError(f"inputs in {str(path)!r} differ in shape ({sorted(shapes)[:3]}); give images of one size")
    return np.stack(arrays)


def _read_one(path: Path) -> np.ndarray:
    import numpy as np

    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    try:
        from PIL import Image
    except ImportError:
        raise MediganUsageError("reading PNG inputs needs Pillow: run `pip install pillow`, or give .npy files") from None
    array = np.asarray(Image.open(path))
    return array[..., None] if array.ndim == 2 else array
