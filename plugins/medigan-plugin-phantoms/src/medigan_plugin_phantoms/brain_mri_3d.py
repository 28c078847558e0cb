"""Procedural 3-D T1-like head volume built on the 3-D Shepp-Logan ellipsoids.

Geometry follows the modified 3-D Shepp-Logan table (Toft; as distributed with
``phantom3d``); tissue values are painted in table order with T1-like
intensities instead of the additive attenuation values. Volumes are indexed
``(z, y, x)`` with ``y`` pointing to the top of each axial slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._shapes import ellipsoid_q, euler_zxz, grid3d, streams, validate_condition, validate_seeds

__all__ = ["IMAGE_SIZE", "SHEPP_LOGAN_3D", "T1_INTENSITIES", "BrainMRI3DPhantom", "load"]

IMAGE_SIZE: tuple[int, int, int] = (64, 64, 64)

#: Columns: a, b, c (semi-axes x, y, z), x0, y0, z0, phi, theta, psi (degrees).
SHEPP_LOGAN_3D: np.ndarray = np.array(
    [
        [0.6900, 0.920, 0.810, 0.00, 0.0000, 0.00, 0.0, 0.0, 0.0],
        [0.6624, 0.874, 0.780, 0.00, -0.0184, 0.00, 0.0, 0.0, 0.0],
        [0.1100, 0.310, 0.220, 0.22, 0.0000, 0.00, -18.0, 0.0, 10.0],
        [0.1600, 0.410, 0.280, -0.22, 0.0000, 0.00, 18.0, 0.0, 10.0],
        [0.2100, 0.250, 0.410, 0.00, 0.3500, -0.15, 0.0, 0.0, 0.0],
        [0.0460, 0.046, 0.050, 0.00, 0.1000, 0.25, 0.0, 0.0, 0.0],
        [0.0460, 0.046, 0.050, 0.00, -0.1000, 0.25, 0.0, 0.0, 0.0],
        [0.0460, 0.023, 0.050, -0.08, -0.6050, 0.00, 0.0, 0.0, 0.0],
        [0.0230, 0.023, 0.020, 0.00, -0.6060, 0.00, 0.0, 0.0, 0.0],
        [0.0230, 0.046, 0.020, 0.06, -0.6050, 0.00, 0.0, 0.0, 0.0],
    ]
)

#: T1-like value painted for each table row: scalp/skull, grey matter,
#: two ventricles (CSF), a deep grey structure and small foci.
T1_INTENSITIES: np.ndarray = np.array([0.80, 0.48, 0.12, 0.12, 0.58, 0.85, 0.85, 0.62, 0.62, 0.62])

WHITE_MATTER_SCALE = 0.86
WHITE_MATTER_INTENSITY = 0.68

CENTRE_JITTER = 0.02
AXIS_JITTER = 0.05
INTENSITY_JITTER = 0.05


def _jittered_table(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed copy of the table and intensities; the head shell moves as one."""
    n = len(SHEPP_LOGAN_3D)
    table = SHEPP_LOGAN_3D.copy()
    scale = rng.uniform(1 - AXIS_JITTER, 1 + AXIS_JITTER, size=(n, 3))
    shift = rng.uniform(-CENTRE_JITTER, CENTRE_JITTER, size=(n, 3))
    scale[1], shift[1] = scale[0], shift[0]
    table[:, 0:3] *= scale
    table[:, 3:6] += shift
    values = T1_INTENSITIES * rng.uniform(1 - INTENSITY_JITTER, 1 + INTENSITY_JITTER, size=n)
    return table, values


def _paint(
    volume: np.ndarray, row: np.ndarray, value: float, within: np.ndarray | None
) -> np.ndarray:
    """Set ``value`` inside the ellipsoid ``row`` (restricted to ``within``); return its mask."""
    z, y, x = grid3d(*volume.shape)
    params = [float(p) for p in row]
    rot = euler_zxz(*np.deg2rad(params[6:9])).astype(np.float32) if any(params[6:9]) else None
    inside = ellipsoid_q(z, -y, x, params[3:6], params[0:3], rot) <= 1.0
    if within is not None:
        inside &= within
    volume[inside] = value
    return inside


def _rician(rng: np.random.Generator, volume: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise."""
    noise = rng.standard_normal((2, *volume.shape), dtype=np.float32) * np.float32(sigma)
    return np.sqrt((volume + noise[0]) ** 2 + noise[1] ** 2)


def _bias_field(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Gentle linear receive-coil inhomogeneity (about +-5 %)."""
    z, y, x = grid3d(*shape)
    g = rng.uniform(-0.05, 0.05, size=3).astype(np.float32)
    return 1.0 + g[0] * z + g[1] * y + g[2] * x


class BrainMRI3DPhantom:
    """Jittered 3-D Shepp-Logan head volumes with T1-like contrast and Rician noise.

    No condition keys; images only.
    """

    image_size: tuple[int, int, int] = IMAGE_SIZE
    conditions: dict[str, tuple[str, ...]] = {}

    def sample(self, seed: int) -> np.ndarray:
        """One ``(D, H, W)`` float32 volume in [0, 1]."""
        rng_anat, rng_noise = streams(seed, 2)
        table, values = _jittered_table(rng_anat)
        volume = np.zeros(IMAGE_SIZE, dtype=np.float32)

        head = _paint(volume, table[0], values[0], None)
        brain = _paint(volume, table[1], values[1], head)
        wm_row = table[1].copy()
        wm_row[0:3] *= WHITE_MATTER_SCALE
        wm_jitter = rng_anat.uniform(1 - INTENSITY_JITTER, 1 + INTENSITY_JITTER)
        _paint(volume, wm_row, WHITE_MATTER_INTENSITY * wm_jitter, brain)
        for row, value in zip(table[2:], values[2:], strict=True):
            _paint(volume, row, value, brain)

        volume *= _bias_field(rng_anat, IMAGE_SIZE)
        volume = _rician(rng_noise, volume, rng_noise.uniform(0.015, 0.03))
        return np.clip(volume, 0.0, 1.0, out=volume)

    def generate(
        self,
        seeds: Sequence[int],
        *,
        condition: Mapping[str, Any] | None = None,
        inputs: Any = None,
    ) -> dict[str, np.ndarray]:
        """Images ``(N, 64, 64, 64, 1)`` float32 in [0, 1]."""
        if inputs is not None:
            raise ValueError("BrainMRI3DPhantom takes no inputs")
        validate_condition(condition, self.conditions)
        seeds = validate_seeds(seeds)
        images = np.empty((len(seeds), *IMAGE_SIZE, 1), dtype=np.float32)
        for i, seed in enumerate(seeds):
            images[i, ..., 0] = self.sample(seed)
        return {"images": images}


def load(card: Any = None, device: Any = None) -> BrainMRI3DPhantom:
    """Entry point used by the host; ``card`` and ``device`` are unused."""
    return BrainMRI3DPhantom()
