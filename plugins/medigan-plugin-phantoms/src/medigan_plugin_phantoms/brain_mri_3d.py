"""Procedural 3-D T1-like head volume built on the 3-D Shepp-Logan ellipsoids.

Geometry follows the modified 3-D Shepp-Logan table (Toft; as distributed with
``phantom3d``); tissue values are painted in table order with T1-like
intensities instead of the additive attenuation values. Volumes are indexed
``(z, y, x)`` with ``y`` pointing to the top of each axial slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist
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


#: Uniform draws of the anatomy stream per volume: table scale (10x3) and shift (10x3), table intensities (10),
#: white-matter intensity (1), bias-field gradient (3). They are the model's latent: see ``latents_of``.
LATENT_DIM = 74
#: Seed of the noise of volumes made from explicit latents, so that a latent path changes anatomy and contrast only.
LATENT_NOISE_SEED = 0

_NORMAL = NormalDist()
_EPS = 2.0**-53


def _scaled(u: np.ndarray, low: float, high: float) -> np.ndarray:
    """``low + (high - low) * u``: what ``Generator.uniform(low, high)`` computes from its standard draws."""
    return low + (high - low) * u


def _jittered_table(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-volume copy of the table, its intensities and the white-matter intensity from 71 uniforms in [0, 1)."""
    n = len(SHEPP_LOGAN_3D)
    table = SHEPP_LOGAN_3D.copy()
    scale = _scaled(u[0:3 * n].reshape(n, 3), 1 - AXIS_JITTER, 1 + AXIS_JITTER)
    shift = _scaled(u[3 * n:6 * n].reshape(n, 3), -CENTRE_JITTER, CENTRE_JITTER)
    scale[1], shift[1] = scale[0], shift[0]  # the head shell moves as one
    table[:, 0:3] *= scale
    table[:, 3:6] += shift
    values = T1_INTENSITIES * _scaled(u[6 * n:7 * n], 1 - INTENSITY_JITTER, 1 + INTENSITY_JITTER)
    wm = WHITE_MATTER_INTENSITY * float(_scaled(u[7 * n], 1 - INTENSITY_JITTER, 1 + INTENSITY_JITTER))
    return table, values, wm


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


def _bias_field(u: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Gentle linear receive-coil inhomogeneity (about +-5 %) from 3 uniforms in [0, 1)."""
    z, y, x = grid3d(*shape)
    g = _scaled(u, -0.05, 0.05).astype(np.float32)
    return 1.0 + g[0] * z + g[1] * y + g[2] * x


def _uniforms(seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """The anatomy uniforms of ``seed`` and its noise stream."""
    rng_anat, rng_noise = streams(seed, 2)
    return rng_anat.random(LATENT_DIM), rng_noise


class BrainMRI3DPhantom:
    """Jittered 3-D Shepp-Logan head volumes with T1-like contrast and Rician noise.

    No condition keys; images only.
    """

    image_size: tuple[int, int, int] = IMAGE_SIZE
    conditions: dict[str, tuple[str, ...]] = {}

    #: Explicit latents: standard-normal vectors whose normal CDF gives the anatomy uniforms (see ``latents_of``).
    latent_shape: tuple[int] = (LATENT_DIM,)

    def sample(self, seed: int) -> np.ndarray:
        """One ``(D, H, W)`` float32 volume in [0, 1]."""
        u, rng_noise = _uniforms(seed)
        return self._volume(u, rng_noise)

    def _volume(self, u: np.ndarray, rng_noise: np.random.Generator) -> np.ndarray:
        table, values, wm = _jittered_table(u)
        volume = np.zeros(IMAGE_SIZE, dtype=np.float32)

        head = _paint(volume, table[0], values[0], None)
        brain = _paint(volume, table[1], values[1], head)
        wm_row = table[1].copy()
        wm_row[0:3] *= WHITE_MATTER_SCALE
        _paint(volume, wm_row, wm, brain)
        for row, value in zip(table[2:], values[2:], strict=True):
            _paint(volume, row, value, brain)

        volume *= _bias_field(u[LATENT_DIM - 3:], IMAGE_SIZE)
        volume = _rician(rng_noise, volume, rng_noise.uniform(0.015, 0.03))
        return np.clip(volume, 0.0, 1.0, out=volume)

    def latents_of(self, seeds: Sequence[int]) -> np.ndarray:
        """(N, 74) standard-normal latents: the anatomy uniforms of each seed through the inverse normal CDF."""
        out = np.empty((len(seeds), LATENT_DIM), dtype=np.float32)
        for i, seed in enumerate(validate_seeds(seeds)):
            u = np.clip(_uniforms(seed)[0], _EPS, 1.0 - _EPS)
            out[i] = [_NORMAL.inv_cdf(float(v)) for v in u]
        return out

    def generate_from_latents(
        self, latents: np.ndarray, *, condition: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """One volume per latent row: anatomy and contrast from the latent, noise of seed ``LATENT_NOISE_SEED``.

        The latents of a seed (``latents_of``) give that seed's anatomy; only the noise differs from ``generate``.
        """
        validate_condition(condition, self.conditions)
        images = np.empty((len(latents), *IMAGE_SIZE, 1), dtype=np.float32)
        for i, z in enumerate(np.asarray(latents, dtype=np.float64).reshape(len(latents), LATENT_DIM)):
            u = np.array([_NORMAL.cdf(float(v)) for v in z])
            images[i, ..., 0] = self._volume(u, _uniforms(LATENT_NOISE_SEED)[1])
        return {"images": images}

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
