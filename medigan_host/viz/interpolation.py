"""Paths through a model's latent space: spherical (slerp) for Gaussian latents, or linear."""

from __future__ import annotations

import numpy as np

from ..errors import MediganUsageError

METHODS = ("slerp", "linear")


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1): the angle between them is swept at constant speed.

    Gaussian latents concentrate near a sphere, so the midpoints of this path look like draws from the prior, where a
    straight line would pass through the low-norm interior. Nearly parallel vectors fall back to a straight line.
    """
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm_a, norm_b = np.linalg.norm(a64), np.linalg.norm(b64)
    if norm_a == 0.0 or norm_b == 0.0:
        return ((1.0 - t) * a64 + t * b64).astype(np.asarray(a).dtype)
    cos = float(np.clip(np.vdot(a64 / norm_a, b64 / norm_b), -1.0, 1.0))
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return ((1.0 - t) * a64 + t * b64).astype(np.asarray(a).dtype)
    out = (np.sin((1.0 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return out.astype(np.asarray(a).dtype)


def latent_path(a: np.ndarray, b: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` latents from ``a`` to ``b`` inclusive, shape ``(steps, *a.shape)``."""
    if method not in METHODS:
        raise MediganUsageError(f"interpolation method {method!r} is unknown; use one of {', '.join(METHODS)}")
    if steps < 2:
        raise MediganUsageError(f"an interpolation needs at least 2 steps (its two ends), got {steps}")
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise MediganUsageError(f"latents to interpolate must have one shape, got {a.shape} and {b.shape}")
    ts = np.linspace(0.0, 1.0, steps)
    if method == "linear":
        return np.stack([((1.0 - t) * a + t * b).astype(a.dtype) for t in ts])
    return np.stack([slerp(a, b, float(t)) for t in ts])
