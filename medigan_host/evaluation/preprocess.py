"""Named image preprocessing: intensity to [0, 1], channel matching, resizing and normalisation, in NumPy.

Every option has a name that is recorded with each result, because FID changes with each of them.
Resizing is separable (a weight matrix per axis) and reproduces PyTorch's ``F.interpolate`` for ``bilinear``
and ``bicubic`` (``align_corners=False``, no antialiasing) and PIL's antialiased bilinear filter for ``antialias``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import MediganUsageError

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
_IMAGENET_STD = np.array([0.229, 0.224, 0.225])

#: name -> what it does (shown by `medigan extractors` and in the docs)
NORMALIZATIONS: dict[str, str] = {
    "unit": "intensities in [0, 1]",
    "symmetric": "intensities in [-1, 1] (2x - 1), as the reference FID InceptionV3 expects",
    "imagenet": "(x - ImageNet mean) / ImageNet std per RGB channel, x in [0, 1]",
    "radimagenet": "BGR channel order, ImageNet mean subtracted, no scaling (x in [0, 1]), as MONAI's RadImageNet FID",
}
#: name -> what it does
RESIZES: dict[str, str] = {
    "bilinear": "bilinear, no antialiasing (PyTorch F.interpolate, align_corners=False), as the reference FID",
    "bicubic": "bicubic a=-0.75, no antialiasing (PyTorch F.interpolate, align_corners=False)",
    "antialias": "antialiased bilinear (PIL Image.resize BILINEAR; PyTorch antialias=True)",
}


def check_options(normalization: str, resize: str) -> None:
    """Raise a usage error naming the valid choices when an option is unknown."""
    if normalization not in NORMALIZATIONS:
        raise MediganUsageError(f"unknown normalisation {normalization!r}; choose one of: {', '.join(NORMALIZATIONS)}")
    if resize not in RESIZES:
        raise MediganUsageError(f"unknown resize {resize!r}; choose one of: {', '.join(RESIZES)}")


@dataclass(frozen=True)
class Window:
    """The intensity window mapped to [0, 1] (values outside are clipped), and where it came from (recorded).

    ``low``/``high`` None means each image's own minimum..maximum (``--window minmax``).
    """

    low: float | None
    high: float | None
    source: str

    @property
    def per_image(self) -> bool:
        return self.low is None

    def to_dict(self) -> dict[str, object]:
        return {"low": self.low, "high": self.high, "source": self.source}


#: The window of each image set that declares none, by dtype: only where the dtype alone says the range.
_DTYPE_WINDOWS = {"uint8": Window(0.0, 255.0, "uint8 range 0..255"), "bool": Window(0.0, 1.0, "boolean images")}
FLOAT_UNIT = Window(0.0, 1.0, "float images in [0, 1]")
MINMAX = Window(None, None, "each image's own minimum..maximum (--window minmax)")


def parse_window(text: str, source: str = "--window") -> Window:
    """``"LOW,HIGH"`` or ``"minmax"`` as a :class:`Window`."""
    if text.strip().lower() == "minmax":
        return MINMAX
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise MediganUsageError(f"window {text!r} is not LOW,HIGH (e.g. 1004,1124 for a brain window of HU + 1024 "
                                "images) or 'minmax'") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise MediganUsageError(f"window {text!r} needs finite LOW < HIGH")
    return Window(low, high, f"{source} {low:g},{high:g}")


def default_window(dtype: np.dtype) -> Window | None:
    """The window a dtype implies by itself (uint8, bool, float in [0, 1]); None where the range is unknown."""
    if dtype.kind == "f":
        return FLOAT_UNIT
    return _DTYPE_WINDOWS.get(dtype.name)


def to_unit(images: np.ndarray, window: Window | None = None) -> np.ndarray:
    """(N, H, W, C) images as float32 in [0, 1], each image on its own: the result for an image depends only on that
    image and ``window``, never on the other images of its batch.

    ``window`` maps its range to [0, 1] and clips (``minmax``: each image's own range). Without one, the dtype must
    say the range: uint8 is divided by 255, bool is 0/1, and float images must lie in [0, 1]. Other data (uint16,
    signed integers such as Hounsfield units, floats outside [0, 1]) is refused: its range is unknown.
    """
    data = images.astype(np.float32)
    if data.size and not np.isfinite(data).all():
        raise MediganUsageError("images contain NaN or infinite values; fix or remove them before evaluating")
    axes = tuple(range(1, data.ndim))
    if window is None:
        window = default_window(images.dtype)
        if window is None:
            raise MediganUsageError(
                f"the value range of {images.dtype} images is unknown (values {_span(data)}): give it with "
                "--window LOW,HIGH (e.g. the model card's display_range), or --window minmax to scale each image to "
                "its own minimum..maximum")
        if window is FLOAT_UNIT and data.size and (data.min() < 0.0 or data.max() > 1.0):
            raise MediganUsageError(
                f"float images with values {_span(data)} are outside [0, 1], so their range is unknown: give it with "
                "--window LOW,HIGH (values outside are clipped), or --window minmax to scale each image to its own "
                "minimum..maximum")
        if window.low == 0.0 and window.high == 1.0:
            return data
    if window.per_image:
        low, high = data.min(axis=axes, keepdims=True), data.max(axis=axes, keepdims=True)
        return (data - low) / np.where(high > low, high - low, 1.0)
    out = (data - np.float32(window.low)) / np.float32(window.high - window.low)
    return np.clip(out, 0.0, 1.0, out=out)


def _span(data: np.ndarray) -> str:
    return f"{float(data.min()):g}..{float(data.max()):g}" if data.size else "(none)"


def match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grey images repeated to 3 channels, colour averaged to 1, an alpha channel dropped."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 4:
        return match_channels(images[..., :3], channels)
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if have == 3 and channels == 1:
        return images.mean(axis=-1, keepdims=True)
    raise MediganUsageError(f"cannot turn {have}-channel images into the {channels} channels the extractor needs; "
                            "give 1-channel (grey), 3-channel (RGB) or 4-channel (RGBA) images")


def resize(images: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """(N, H, W, C) float images resized to ``size`` (H, W) with the named method."""
    return _resize_planes(images.transpose(0, 3, 1, 2), size, method).transpose(0, 2, 3, 1)


def _resize_planes(planes: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """(N, C, H, W) -> (N, C, *size): a stacked matrix product per axis, one product of the same shape per image.

    One product per image (NumPy's stacked matmul) makes each image's result bit-identical whatever its batch:
    a single large product over all planes is as fast, but BLAS rounds a row differently with the matrix height.
    """
    n, c, height, width = planes.shape
    if (height, width) == tuple(size):
        return planes
    rows = _weights(method, height, size[0]).astype(np.float32)
    cols = _weights(method, width, size[1]).astype(np.float32)
    across = np.ascontiguousarray(planes, dtype=np.float32).reshape(n, c * height, width) @ cols.T  # (N, C*H, W')
    return rows @ across.reshape(n, c, height, size[1])  # (H', H) @ (N, C, H, W') -> (N, C, H', W')


def normalize(planes: np.ndarray, name: str) -> np.ndarray:
    """[0, 1] float32 (N, C, H, W) images normalised in place with the named scheme (ImageNet schemes need RGB)."""
    if name == "unit":
        return planes
    if name == "symmetric":
        planes *= 2.0
        planes -= 1.0
        return planes
    if planes.shape[1] != 3:
        raise MediganUsageError(f"normalisation {name!r} needs RGB inputs; use 'unit' or 'symmetric' with this extractor")
    mean = _IMAGENET_MEAN.astype(np.float32).reshape(1, 3, 1, 1)
    if name == "imagenet":
        planes -= mean
        planes /= _IMAGENET_STD.astype(np.float32).reshape(1, 3, 1, 1)
        return planes
    return np.ascontiguousarray(planes[:, ::-1]) - mean[:, ::-1]  # radimagenet: BGR, mean subtracted


def preprocess(images: np.ndarray, *, size: tuple[int, int], channels: int, normalization: str,
               resize_method: str, window: Window | None = None) -> np.ndarray:
    """(N, H, W, C) images of any dtype -> float32 (N, C, H, W) network input.

    Grey images are resized before they are repeated to RGB, colour images averaged to grey before: the same
    result as the other order (resizing is linear), with less work. ``window``: see :func:`to_unit`.
    """
    if images.ndim != 4:
        raise MediganUsageError(f"expected a batch of 2-D images (N, H, W, C), got shape {images.shape}; "
                                "3-D volumes are evaluated slice by slice: save their slices as 2-D images")
    unit = to_unit(images, window)
    if unit.shape[-1] > channels:
        unit = match_channels(unit, channels)
    planes = _resize_planes(unit.transpose(0, 3, 1, 2), size, resize_method)
    if planes.shape[1] != channels:
        planes = match_channels(planes.transpose(0, 2, 3, 1), channels).transpose(0, 3, 1, 2)
    planes = np.ascontiguousarray(planes, dtype=np.float32)
    if np.shares_memory(planes, images):
        planes = planes.copy()  # normalisation works in place: never on the caller's array
    return normalize(planes, normalization)


@lru_cache(maxsize=64)
def _weights(method: str, size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) interpolation matrix; each row sums to 1."""
    builders: dict[str, Callable[[int, int], np.ndarray]] = {
        "bilinear": _bilinear, "bicubic": _bicubic, "antialias": _antialias}
    if method not in builders:
        raise MediganUsageError(f"unknown resize {method!r}; choose one of: {', '.join(RESIZES)}")
    return builders[method](size_in, size_out)


def _bilinear(size_in: int, size_out: int) -> np.ndarray:
    scale = size_in / size_out
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        src = max((i + 0.5) * scale - 0.5, 0.0)
        low = min(int(src), size_in - 1)
        high = min(low + 1, size_in - 1)
        frac = src - low
        matrix[i, low] += 1.0 - frac
        matrix[i, high] += frac
    return matrix


def _cubic(x: float, a: float = -0.75) -> float:
    x = abs(x)
    if x <= 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


def _bicubic(size_in: int, size_out: int) -> np.ndarray:
    scale = size_in / size_out
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        src = (i + 0.5) * scale - 0.5
        base = math.floor(src)
        frac = src - base
        for offset in range(-1, 3):
            matrix[i, min(max(base + offset, 0), size_in - 1)] += _cubic(offset - frac)
    return matrix


def _antialias(size_in: int, size_out: int) -> np.ndarray:
    scale = size_in / size_out
    support = max(scale, 1.0)
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        centre = (i + 0.5) * scale
        low = max(int(centre - support + 0.5), 0)
        high = min(int(centre + support + 0.5), size_in)
        taps = np.arange(low, high)
        weights = np.clip(1.0 - np.abs((taps - centre + 0.5) / support), 0.0, None)
        matrix[i, low:high] = weights / weights.sum()
    return matrix
