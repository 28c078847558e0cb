"""Shared numpy helpers for the procedural phantoms.

Coordinates are normalised to [-1, 1] over pixel centres; ellipses and
ellipsoids are returned as their quadratic form ``q`` (``q <= 1`` inside),
which lets callers build both hard masks and soft edges from one evaluation.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "blur3",
    "choose",
    "ellipse_q",
    "ellipsoid_q",
    "euler_zxz",
    "grid2d",
    "grid3d",
    "power_law_noise",
    "rotation2d",
    "smooth_noise",
    "streams",
    "validate_condition",
    "validate_seeds",
]


# --------------------------------------------------------------------------- seeds


def validate_seeds(seeds: Sequence[int]) -> list[int]:
    """Return ``seeds`` as a list of non-negative Python ints."""
    if isinstance(seeds, (str, bytes)):
        raise TypeError("seeds must be a sequence of integers, not a string")
    out: list[int] = []
    for s in seeds:
        try:
            value = operator.index(s)
        except TypeError as exc:
            raise TypeError(f"seed {s!r} is not an integer") from exc
        if value < 0:
            raise ValueError(f"seed {value} is negative; seeds must be >= 0")
        out.append(value)
    return out


def streams(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived only from ``seed``.

    Separate streams keep e.g. the anatomy of a seed identical whether or not a
    lesion is requested, because lesion draws never shift the anatomy stream.
    """
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


# ----------------------------------------------------------------------- conditions


def validate_condition(
    condition: Mapping[str, Any] | None, allowed: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Check ``condition`` against ``allowed`` values; return normalised strings."""
    if condition is None:
        return {}
    if not isinstance(condition, Mapping):
        raise TypeError(f"condition must be a mapping or None, got {type(condition).__name__}")
    out: dict[str, str] = {}
    for key, value in condition.items():
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"unknown condition key {key!r}; supported keys: {known}")
        if value is None:
            continue
        norm = str(value).strip().lower()
        if norm not in allowed[key]:
            raise ValueError(
                f"invalid value {value!r} for condition {key!r}; "
                f"expected one of {tuple(allowed[key])}"
            )
        out[key] = norm
    return out


def choose(
    rng: np.random.Generator,
    options: Sequence[str],
    given: str | None,
    p: Sequence[float] | None = None,
) -> str:
    """Draw from ``options`` (always consuming the draw) unless ``given``."""
    drawn = options[int(rng.choice(len(options), p=p))]
    return drawn if given is None else given


# ------------------------------------------------------------------------- grids


@lru_cache(maxsize=8)
def grid2d(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Broadcastable float32 ``(y, x)`` pixel-centre coordinates in [-1, 1]."""
    y = ((np.arange(h, dtype=np.float32) + 0.5) * (2.0 / h) - 1.0)[:, None]
    x = ((np.arange(w, dtype=np.float32) + 0.5) * (2.0 / w) - 1.0)[None, :]
    y.flags.writeable = False
    x.flags.writeable = False
    return y, x


@lru_cache(maxsize=4)
def grid3d(d: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable float32 ``(z, y, x)`` voxel-centre coordinates in [-1, 1]."""
    axes = []
    for n, shape in ((d, (-1, 1, 1)), (h, (1, -1, 1)), (w, (1, 1, -1))):
        a = ((np.arange(n, dtype=np.float32) + 0.5) * (2.0 / n) - 1.0).reshape(shape)
        a.flags.writeable = False
        axes.append(a)
    return axes[0], axes[1], axes[2]


# ------------------------------------------------------------------------ shapes


def rotation2d(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate coordinates by ``-angle`` (radians), i.e. into a frame turned by ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    return c * x + s * y, -s * x + c * y


def ellipse_q(
    x: np.ndarray,
    y: np.ndarray,
    cx: float,
    cy: float,
    a: float,
    b: float,
    angle: float = 0.0,
) -> np.ndarray:
    """Quadratic form of an ellipse with semi-axes ``a`` (x) and ``b`` (y), tilted by ``angle``."""
    dx, dy = x - float(cx), y - float(cy)
    if angle:
        dx, dy = rotation2d(dx, dy, float(angle))
    return np.square(dx * (1.0 / float(a))) + np.square(dy * (1.0 / float(b)))


def euler_zxz(phi: float, theta: float, psi: float) -> np.ndarray:
    """Rotation matrix for z-x-z Euler angles in radians (as in 3-D Shepp-Logan tables)."""
    cphi, sphi = np.cos(phi), np.sin(phi)
    cth, sth = np.cos(theta), np.sin(theta)
    cpsi, spsi = np.cos(psi), np.sin(psi)
    return np.array(
        [
            [cpsi * cphi - cth * sphi * spsi, cpsi * sphi + cth * cphi * spsi, spsi * sth],
            [-spsi * cphi - cth * sphi * cpsi, -spsi * sphi + cth * cphi * cpsi, cpsi * sth],
            [sth * sphi, -sth * cphi, cth],
        ]
    )


def ellipsoid_q(
    z: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    centre: Sequence[float],
    axes: Sequence[float],
    rot: np.ndarray | None = None,
) -> np.ndarray:
    """Quadratic form of an ellipsoid; ``centre``/``axes`` are ``(x, y, z)`` ordered."""
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    if rot is not None:
        dx, dy, dz = (
            rot[0, 0] * dx + rot[0, 1] * dy + rot[0, 2] * dz,
            rot[1, 0] * dx + rot[1, 1] * dy + rot[1, 2] * dz,
            rot[2, 0] * dx + rot[2, 1] * dy + rot[2, 2] * dz,
        )
    return (dx / axes[0]) ** 2 + (dy / axes[1]) ** 2 + (dz / axes[2]) ** 2


# ------------------------------------------------------------------------- noise


@lru_cache(maxsize=16)
def _radial_frequency(h: int, w: int) -> np.ndarray:
    """Radial frequency (cycles per pixel) on the half-spectrum grid of ``rfft2``."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f.flags.writeable = False
    return f


def _filtered_pair(
    rng: np.random.Generator, shape: tuple[int, int], gain: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent real fields: spectral white noise shaped by ``gain``, normalised."""
    spectrum = rng.standard_normal((2, 2, *gain.shape), dtype=np.float32)
    out = []
    for re, im in spectrum:
        field = np.fft.irfft2((re + 1j * im) * gain, s=shape).astype(np.float32)
        field -= field.mean()
        field *= 1.0 / (field.std() + 1e-12)
        out.append(field)
    return out[0], out[1]


def power_law_noise(
    rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent zero-mean, unit-variance fields with power spectrum ``1/f**beta``."""
    return _filtered_pair(rng, shape, _power_law_gain(shape[0], shape[1], float(beta)))


@lru_cache(maxsize=16)
def _power_law_gain(h: int, w: int, beta: float) -> np.ndarray:
    f = _radial_frequency(h, w)
    gain = np.zeros(f.shape, dtype=np.float32)
    nz = f > 0
    gain[nz] = f[nz] ** (-beta / 2.0)
    gain.flags.writeable = False
    return gain


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent zero-mean, unit-variance Gaussian-smoothed noise fields."""
    f = _radial_frequency(*shape)
    gain = np.exp(-2.0 * (np.pi * sigma_px * f) ** 2).astype(np.float32)
    gain[0, 0] = 0.0
    return _filtered_pair(rng, shape, gain)


def blur3(img: np.ndarray) -> np.ndarray:
    """Separable 3x3 binomial blur with edge replication."""
    p = np.pad(img, 1, mode="edge")
    p = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
    return 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]
