"""DAB stain measurement by colour deconvolution (NumPy only): the rule that labels patches DAB-positive/negative.

Ruifrok AC, Johnston DA. Quantification of histochemical staining by color deconvolution. Anal Quant Cytol Histol
23(4):291-299, 2001. The stain vectors are those of scikit-image's ``rgb2hed`` (haematoxylin, eosin, DAB), so
:func:`dab_density` equals ``skimage.color.rgb2hed(rgb)[..., 2]``.
"""

from __future__ import annotations

import numpy as np

#: Optical-density vectors of haematoxylin, eosin and DAB (rows), as in scikit-image.
RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)
_LOG_FLOOR = 1e-6


def dab_density(rgb: np.ndarray) -> np.ndarray:
    """The DAB channel of the colour deconvolution of ``rgb`` (uint8, or float in [0, 1]; channels last)."""
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB images with 3 channels last, got shape {rgb.shape}")
    scaled = rgb.astype(np.float64) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float64)
    optical = np.log(np.maximum(scaled, _LOG_FLOOR)) / np.log(_LOG_FLOOR)
    return np.maximum(optical @ HED_FROM_RGB[:, 2], 0.0)


def dab_positive_fraction(rgb: np.ndarray, threshold: float) -> np.ndarray:
    """Per image of a batch ``(N, H, W, 3)``: the fraction of pixels whose DAB density exceeds ``threshold``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 4:
        raise ValueError(f"expected a batch of images (N, H, W, 3), got shape {rgb.shape}")
    return (dab_density(rgb) > threshold).mean(axis=(1, 2))
