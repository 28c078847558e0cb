"""Procedural 2-D mammography-like breast phantom (CC-style view).

The chest wall lies on the left image edge. Fibroglandular tissue follows the
``1/f**3`` power spectrum of mammographic texture, its area fraction set by the
BI-RADS density category, and optional masses are oval or spiculated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._shapes import (
    choose,
    power_law_noise,
    streams,
    validate_condition,
    validate_seeds,
)

__all__ = ["DENSITIES", "IMAGE_SIZE", "LABELS", "LESION_STATES", "BreastPhantom", "load"]

IMAGE_SIZE: tuple[int, int] = (256, 256)
LABELS: dict[int, str] = {0: "background", 1: "breast", 2: "mass"}
DENSITIES: tuple[str, ...] = ("a", "b", "c", "d")
LESION_STATES: tuple[str, ...] = ("absent", "present")

_DENSITY_PRIOR = (0.1, 0.4, 0.4, 0.1)
_GLANDULAR_FRACTION = {"a": (0.05, 0.20), "b": (0.26, 0.45), "c": (0.52, 0.70), "d": (0.77, 0.90)}
_TEXTURE_BETA = 3.0
_SOFTNESS = 0.35


@dataclass
class _Breast:
    """Breast geometry on the image grid."""

    rho: np.ndarray  # normalised radius, 1 at the skin line
    inside: np.ndarray
    thickness: np.ndarray  # relative compressed thickness in [0, 1]
    px_per_rho: float  # pixels per unit of ``rho`` (for pixel-sized features)
    axes: tuple[float, float]  # semi-axes in pixels (x from the chest wall, y)


def _outline(rng: np.random.Generator, shape: tuple[int, int]) -> _Breast:
    """Half-ellipse against the left edge with a gently irregular contour."""
    h, w = shape
    rows = np.arange(h, dtype=np.float32)[:, None] + 0.5
    cols = np.arange(w, dtype=np.float32)[None, :] + 0.5
    ax = w * rng.uniform(0.55, 0.85)
    ay = 0.5 * h * rng.uniform(0.72, 0.92)
    cy = 0.5 * h + rng.uniform(-0.06, 0.06) * h

    z = cols * (1.0 / ax) + 1j * ((rows - cy) * (1.0 / ay))
    r = np.abs(z)
    unit = z / np.maximum(r, 1e-6)  # exp(i * theta)
    amp = rng.normal(0.0, 0.018, size=(4, 2)) / np.sqrt(np.arange(2, 6))[:, None]
    wobble = np.ones(shape, dtype=np.float32)
    harmonic = unit
    for (ca, sa) in amp:  # harmonics k = 2..5 of the contour angle
        harmonic = harmonic * unit
        wobble += float(ca) * harmonic.real + float(sa) * harmonic.imag
    rho = r / wobble
    inside = rho < 1.0
    thickness = np.sqrt(np.clip(1.0 - rho**5, 0.0, 1.0))
    return _Breast(rho, inside, thickness, float(min(ax, ay)), (float(ax), float(ay)))


def _glandular_density(
    rng: np.random.Generator, breast: _Breast, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Soft fibroglandular map covering ``fraction`` of the breast, plus a second texture."""
    shape = breast.rho.shape
    field, texture = power_law_noise(rng, shape, _TEXTURE_BETA)
    w = shape[1]
    cols = (np.arange(w, dtype=np.float32)[None, :] + 0.5) * (1.0 / breast.axes[0])
    prior = 1.2 * (1.0 - breast.rho) + 0.5 * (1.0 - np.clip(cols, 0.0, 1.0))
    subcutaneous = np.clip((breast.rho - 0.88) / 0.12, 0.0, 1.0)
    score = field + rng.uniform(1.6, 2.4) * prior - 3.0 * subcutaneous
    threshold = _soft_threshold(score[breast.inside][::4], fraction, _SOFTNESS)
    dense = 1.0 / (1.0 + np.exp((threshold - score) * (1.0 / _SOFTNESS)))
    return dense, texture


def _soft_threshold(values: np.ndarray, fraction: float, softness: float) -> float:
    """Threshold whose logistic soft map over ``values`` has mean ``fraction`` (bisection)."""
    lo, hi = float(values.min()) - 8 * softness, float(values.max()) + 8 * softness
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        mean = float(np.mean(1.0 / (1.0 + np.exp((mid - values) * (1.0 / softness)))))
        lo, hi = (mid, hi) if mean > fraction else (lo, mid)
    return 0.5 * (lo + hi)


def _ligaments(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Thin curvilinear strands (zero crossings of a rough field), Cooper-ligament-like."""
    a, b = power_law_noise(rng, shape, 2.2)
    return np.exp(-((a / 0.06) ** 2)) + 0.6 * np.exp(-((b / 0.05) ** 2))


def _mass_profile(
    rng: np.random.Generator, breast: _Breast, kind: str
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Soft [0, 1] mass opacity on a local patch and the patch's slices.

    Oval masses have a slightly lobulated rim; spiculated ones are a round core
    with 8-19 thin tapering radial spicules.
    """
    h, w = breast.rho.shape
    while True:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        iy, ix = int(cy), int(cx)
        if breast.rho[iy, ix] < 0.7:
            break
    radius = rng.uniform(6.0, 15.0)
    reach = radius * (3.2 if kind == "spiculated" else 1.3) + 2.0
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 1)
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 1)
    py = np.arange(y0, y1, dtype=np.float32)[:, None] + (0.5 - cy)
    px = np.arange(x0, x1, dtype=np.float32)[None, :] + (0.5 - cx)
    r = np.sqrt(px * px + py * py)
    t = np.arctan2(py, px)

    if kind == "oval":
        elong, angle = rng.uniform(0.6, 1.0), rng.uniform(0.0, np.pi)
        lobes = rng.normal(0.0, 0.04, size=(2, 3))
        k = np.arange(3, 6)[:, None, None]
        wobble = 1.0 + (lobes[0][:, None, None] * np.cos(k * t)).sum(0)
        wobble += (lobes[1][:, None, None] * np.sin(k * t)).sum(0)
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * px + s * py, (-s * px + c * py) / elong
        edge = np.sqrt(u * u + v * v) / (radius * wobble)
        return _dome(edge, radius), (slice(y0, y1), slice(x0, x1))

    core_r = radius * rng.uniform(0.6, 0.85)
    core = _dome(r / core_r, core_r)
    n = int(rng.integers(8, 20))
    phi = rng.uniform(0.0, 2.0 * np.pi, size=n)[:, None, None]
    length = core_r * rng.uniform(1.6, 3.2, size=n)[:, None, None]
    width = rng.uniform(0.8, 1.6, size=n)[:, None, None]
    d = t[None] - phi
    along = r[None] * np.cos(d)
    across = np.abs(r[None] * np.sin(d))
    taper = width * np.clip(1.0 - along / length, 0.0, 1.0)
    spic = np.clip(taper - across + 0.5, 0.0, 1.0) * (along > 0)
    return np.maximum(core, 0.7 * spic.max(axis=0)), (slice(y0, y1), slice(x0, x1))


def _dome(edge: np.ndarray, radius: float) -> np.ndarray:
    """Opacity of a lesion with normalised radius ``edge``: flat-topped, soft 1-2 px rim."""
    rim = np.clip((1.0 - edge) * radius / 1.5 + 0.5, 0.0, 1.0)
    return rim * (0.75 + 0.25 * np.sqrt(np.clip(1.0 - edge * edge, 0.0, 1.0)))


def _add_masses(
    rng: np.random.Generator, breast: _Breast, image: np.ndarray, mask: np.ndarray
) -> None:
    """Add 1-3 oval or spiculated masses to ``image`` and label them in ``mask`` (in place)."""
    for _ in range(int(rng.integers(1, 4))):
        kind = "spiculated" if rng.uniform() < 0.4 else "oval"
        profile, box = _mass_profile(rng, breast, kind)
        contrast = rng.uniform(0.12, 0.25) * (0.35 + 0.65 * breast.thickness[box])
        image[box] += contrast * profile
        mask[box][(profile >= 0.5) & breast.inside[box]] = 2


def _quantum_noise(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Signal-dependent (Poisson-like) Gaussian noise."""
    white = rng.standard_normal(image.shape, dtype=np.float32)
    return white * (0.012 * np.sqrt(np.clip(image, 0.0, 1.0)))


class BreastPhantom:
    """Mammography-like breast phantoms with BI-RADS density and optional masses.

    Condition keys: ``density`` in ``DENSITIES`` and ``lesion`` in
    ``LESION_STATES``; each is drawn from the seed when not given.
    """

    image_size: tuple[int, int] = IMAGE_SIZE
    labels: dict[int, str] = LABELS
    conditions: dict[str, tuple[str, ...]] = {"density": DENSITIES, "lesion": LESION_STATES}

    def sample(
        self, seed: int, density: str | None = None, lesion: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One ``(image, mask)`` pair of shape ``(H, W)``; arguments override the draws."""
        rng_anat, rng_density, rng_lesion, rng_noise = streams(seed, 4)
        density = choose(rng_density, DENSITIES, density, p=_DENSITY_PRIOR)
        lesion = choose(rng_lesion, LESION_STATES, lesion)
        fraction = rng_density.uniform(*_GLANDULAR_FRACTION[density])

        breast = _outline(rng_anat, IMAGE_SIZE)
        dense, texture = _glandular_density(rng_density, breast, fraction)
        strands = _ligaments(rng_anat, IMAGE_SIZE)

        fat, gland = rng_anat.uniform(0.22, 0.30), rng_anat.uniform(0.62, 0.74)
        tissue = fat + (gland - fat) * dense * (0.85 + 0.1 * texture)
        tissue += 0.08 * strands * (1.0 - dense) * (breast.rho < 0.97)
        image = tissue * (0.35 + 0.65 * breast.thickness)

        skin_w = rng_anat.uniform(1.2, 2.2) / breast.px_per_rho
        skin = np.exp(-(((1.0 - breast.rho) / skin_w) ** 2))
        image += rng_anat.uniform(0.10, 0.18) * skin

        mask = breast.inside.astype(np.uint8)
        if lesion == "present":
            _add_masses(rng_lesion, breast, image, mask)

        image = np.where(breast.inside, image + _quantum_noise(rng_noise, image), 0.0)
        return np.clip(image, 0.0, 1.0).astype(np.float32), mask

    def generate(
        self,
        seeds: Sequence[int],
        *,
        condition: Mapping[str, Any] | None = None,
        inputs: Any = None,
    ) -> dict[str, np.ndarray]:
        """Images ``(N, 256, 256, 1)`` float32 in [0, 1] and masks ``(N, 256, 256, 1)`` uint8."""
        if inputs is not None:
            raise ValueError("BreastPhantom takes no inputs")
        cond = validate_condition(condition, self.conditions)
        seeds = validate_seeds(seeds)
        images = np.empty((len(seeds), *IMAGE_SIZE, 1), dtype=np.float32)
        masks = np.empty((len(seeds), *IMAGE_SIZE, 1), dtype=np.uint8)
        for i, seed in enumerate(seeds):
            images[i, ..., 0], masks[i, ..., 0] = self.sample(
                seed, cond.get("density"), cond.get("lesion")
            )
        return {"images": images, "masks": masks}


def load(card: Any = None, device: Any = None) -> BreastPhantom:
    """Entry point used by the host; ``card`` and ``device`` are unused."""
    return BreastPhantom()
