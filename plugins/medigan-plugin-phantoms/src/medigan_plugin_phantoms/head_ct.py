"""Procedural 2-D axial head CT phantom (Shepp-Logan style, randomised anatomy).

Images are 12-bit CT values stored as uint16 (``HU + 1024`` clipped to
[0, 4095]); anterior is at the top of the image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._shapes import (
    blur3,
    choose,
    ellipse_q,
    grid2d,
    rotation2d,
    smooth_noise,
    streams,
    validate_condition,
    validate_seeds,
)

__all__ = ["IMAGE_SIZE", "LABELS", "LESION_STATES", "HeadCTPhantom", "load"]

IMAGE_SIZE: tuple[int, int] = (256, 256)
LABELS: dict[int, str] = {0: "background", 1: "bone", 2: "brain", 3: "csf", 4: "haemorrhage"}
LESION_STATES: tuple[str, ...] = ("absent", "present")

AIR_HU = -1000.0
HU_OFFSET = 1024
MAX_VALUE = 4095
_BLUR3_NOISE_GAIN = 0.375  # std of blur3 applied to unit white noise


Box = tuple[slice, slice]


@dataclass
class _Frame:
    """Head-frame coordinates of every pixel after a random scale, rotation and shift."""

    u: np.ndarray
    v: np.ndarray
    scale: float
    angle: float
    shift: tuple[float, float]

    def box(self, cu: float, cv: float, radius: float) -> Box:
        """Pixel slices covering a head-frame disc, for evaluating small shapes locally."""
        h, w = self.u.shape
        x, y = rotation2d(cu * self.scale, cv * self.scale, -self.angle)
        col, row = (x + self.shift[0] + 1.0) * 0.5 * w, (y + self.shift[1] + 1.0) * 0.5 * h
        r = radius * self.scale * 0.5 * max(h, w) + 2.0
        rows = slice(max(0, int(row - r)), max(0, min(h, int(row + r) + 1)))
        cols = slice(max(0, int(col - r)), max(0, min(w, int(col + r) + 1)))
        return rows, cols

    def ellipse(
        self, cu: float, cv: float, a: float, b: float, angle: float = 0.0, reach: float = 1.0
    ) -> tuple[Box, np.ndarray]:
        """Local quadratic form of a head-frame ellipse, valid for ``q <= reach``."""
        box = self.box(cu, cv, max(a, b) * math.sqrt(reach))
        return box, ellipse_q(self.u[box], self.v[box], cu, cv, a, b, angle)


@dataclass
class _Head(_Frame):
    """Frame plus the skull geometry that later painters need."""

    rho_in: np.ndarray  # normalised radius of the inner skull table (1 at the edge)
    bone: np.ndarray
    brain: np.ndarray  # everything inside the inner table
    inner: tuple[float, float, float]  # inner table: v-offset, semi-axes a, b


def _head_frame(rng: np.random.Generator, shape: tuple[int, int]) -> _Frame:
    """Image grid mapped into a randomly scaled, rotated and shifted head frame."""
    y, x = grid2d(*shape)
    scale = rng.uniform(0.92, 1.08)
    angle = math.radians(rng.uniform(-10.0, 10.0))
    sx, sy = (float(t) for t in rng.uniform(-0.03, 0.03, size=2))
    u, v = rotation2d(x - sx, y - sy, angle)
    inv = 1.0 / scale
    return _Frame(u=u * inv, v=v * inv, scale=scale, angle=angle, shift=(sx, sy))


def _skull(rng: np.random.Generator, frame: _Frame, hu: np.ndarray) -> _Head:
    """Paint scalp and a two-table skull ring of random thickness."""
    u, v = frame.u, frame.v
    a, b = rng.uniform(0.62, 0.70), rng.uniform(0.79, 0.85)
    tx, ty = rng.uniform(0.025, 0.05), rng.uniform(0.03, 0.06)
    dy = rng.uniform(-0.02, 0.0)
    scalp_t = rng.uniform(0.03, 0.05)

    q_out = ellipse_q(u, v, 0.0, 0.0, a, b)
    rho_in = np.sqrt(ellipse_q(u, v, 0.0, dy, a - tx, b - ty))
    q_skin = ellipse_q(u, v, 0.0, 0.0, a + scalp_t, b + scalp_t)

    brain = rho_in < 1.0
    bone = (q_out < 1.0) & ~brain
    hu[(q_skin < 1.0) & ~bone & ~brain] = rng.uniform(20.0, 45.0)

    cortical, diploe_dip = rng.uniform(1200.0, 1500.0), rng.uniform(300.0, 550.0)
    d_in = rho_in[bone] - 1.0
    d_out = 1.0 - np.sqrt(q_out[bone])
    s = d_in / (d_in + d_out + 1e-6)
    hu[bone] = cortical - diploe_dip * 4.0 * s * (1.0 - s)
    return _Head(
        u, v, frame.scale, frame.angle, frame.shift, rho_in, bone, brain, (dy, a - tx, b - ty)
    )


def _parenchyma(rng: np.random.Generator, head: _Head, hu: np.ndarray) -> None:
    """Paint white matter, a wavy cortical ribbon, deep grey nuclei and patchy variation."""
    wm = rng.uniform(28.0, 33.0)
    gm = wm + rng.uniform(7.0, 10.0)
    wave, patch = smooth_noise(rng, hu.shape, sigma_px=rng.uniform(2.5, 4.0))

    ribbon = rng.uniform(0.06, 0.10)
    cortex = head.rho_in > 1.0 - ribbon * (1.0 + 0.45 * wave)
    level = np.where(cortex, np.float32(gm), np.float32(wm))
    level += 1.5 * patch

    nuclei_x, nuclei_y = rng.uniform(0.14, 0.22), rng.uniform(0.02, 0.16)
    na, nb = rng.uniform(0.05, 0.08), rng.uniform(0.08, 0.13)
    tilt = math.radians(rng.uniform(10.0, 25.0))
    for side in (-1.0, 1.0):
        box, q = head.ellipse(side * nuclei_x, nuclei_y, na, nb, side * tilt)
        level[box][q < 1.0] = gm - 1.5

    for _ in range(int(rng.integers(4, 9))):
        r, t = 0.55 * math.sqrt(rng.uniform()), rng.uniform(0.0, 2.0 * math.pi)
        axes = rng.uniform(0.03, 0.10, size=2)
        box, q = head.ellipse(r * math.cos(t), r * math.sin(t), *axes, rng.uniform(0.0, math.pi))
        level[box] += rng.uniform(-4.0, 4.0) * np.clip(1.5 * (1.0 - q), 0.0, 1.0)

    hu[head.brain] = level[head.brain]


def _ventricles(rng: np.random.Generator, head: _Head, hu: np.ndarray) -> np.ndarray:
    """Paint near-symmetric lateral ventricles with atria, third ventricle and falx."""
    csf = rng.uniform(2.0, 12.0)
    d = rng.uniform(0.06, 0.10)
    cy = rng.uniform(-0.12, 0.0)
    a, b = rng.uniform(0.03, 0.06), rng.uniform(0.13, 0.22)
    tilt = math.radians(rng.uniform(4.0, 15.0))
    with_atria = rng.uniform() < 0.75
    flare = tilt + math.radians(rng.uniform(15.0, 35.0))
    atrium = rng.uniform(0.03, 0.05), rng.uniform(0.06, 0.10)

    region = np.zeros(hu.shape, dtype=bool)
    for side in (-1.0, 1.0):
        j = rng.normal(0.0, 1.0, size=4)
        cx, cyy = side * d + 0.008 * j[0], cy + 0.008 * j[1]
        ax, by = a * (1.0 + 0.06 * j[2]), b * (1.0 + 0.06 * j[3])
        box, q = head.ellipse(cx, cyy, ax, by, -side * tilt)
        region[box] |= q < 1.0
        if with_atria:
            tip_x, tip_y = cx + side * math.sin(tilt) * by, cyy + math.cos(tilt) * by
            reach = 0.6 * atrium[1]
            centre = tip_x + side * math.sin(flare) * reach, tip_y + math.cos(flare) * reach
            box, q = head.ellipse(*centre, *atrium, -side * flare)
            region[box] |= q < 1.0
    if rng.uniform() < 0.6:
        axes = rng.uniform(0.008, 0.015), rng.uniform(0.04, 0.07)
        box, q = head.ellipse(0.0, cy + b * 0.9, *axes)
        region[box] |= q < 1.0
    region &= head.brain
    hu[region] = csf

    falx = (np.abs(head.u) < 0.007) & ((head.v < cy - b - 0.02) | (head.v > cy + b + 0.25))
    hu[falx & head.brain & ~region] += rng.uniform(6.0, 14.0)
    return region


def _haemorrhage(rng: np.random.Generator, head: _Head, hu: np.ndarray) -> np.ndarray:
    """Paint an irregular hyperdense bleed (2-4 overlapping ellipses) with an oedema rim."""
    dy, a, b = head.inner
    r, t = 0.7 * math.sqrt(rng.uniform()), rng.uniform(0.0, 2.0 * math.pi)
    centre = (a * r * math.cos(t), dy + b * r * math.sin(t))
    r0 = rng.uniform(0.04, 0.10)
    core = np.zeros(hu.shape, dtype=bool)
    rim = np.zeros(hu.shape, dtype=bool)
    for k in range(int(rng.integers(2, 5))):
        if k == 0:
            cx, cy = centre
            ax, ay = r0 * rng.uniform(0.6, 1.2, size=2)
        else:
            t, r = rng.uniform(0.0, 2.0 * math.pi), r0 * rng.uniform(0.6, 1.1)
            cx, cy = centre[0] + r * math.cos(t), centre[1] + r * math.sin(t)
            ax, ay = r0 * rng.uniform(0.35, 0.8, size=2)
        box, q = head.ellipse(cx, cy, ax, ay, rng.uniform(0.0, math.pi), reach=1.6)
        core[box] |= q < 1.0
        rim[box] |= q < 1.5
    core &= head.brain
    rim &= head.brain & ~core
    hu[rim] -= rng.uniform(5.0, 10.0)
    hu[core] = rng.uniform(60.0, 80.0)
    return core


def _ct_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Spatially correlated Gaussian noise with a per-pixel sigma of 5-8 HU."""
    sigma = rng.uniform(5.0, 8.0)
    return blur3(rng.standard_normal(shape, dtype=np.float32)) * (sigma / _BLUR3_NOISE_GAIN)


def _to_uint16(hu: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(hu + HU_OFFSET), 0, MAX_VALUE).astype(np.uint16)


class HeadCTPhantom:
    """Randomised axial head CT slices with optional acute haemorrhage.

    Condition keys: ``lesion`` in ``LESION_STATES`` (drawn 50/50 when absent).
    """

    image_size: tuple[int, int] = IMAGE_SIZE
    labels: dict[int, str] = LABELS
    conditions: dict[str, tuple[str, ...]] = {"lesion": LESION_STATES}

    def sample(self, seed: int, lesion: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One ``(image, mask)`` pair of shape ``(H, W)``; ``lesion`` overrides the draw."""
        rng_anat, rng_lesion, rng_noise = streams(seed, 3)
        lesion = choose(rng_lesion, LESION_STATES, lesion)

        hu = np.full(IMAGE_SIZE, AIR_HU, dtype=np.float32)
        head = _skull(rng_anat, _head_frame(rng_anat, IMAGE_SIZE), hu)
        _parenchyma(rng_anat, head, hu)
        csf = _ventricles(rng_anat, head, hu)
        bleed = _haemorrhage(rng_lesion, head, hu) if lesion == "present" else None

        mask = np.zeros(IMAGE_SIZE, dtype=np.uint8)
        mask[head.bone] = 1
        mask[head.brain] = 2
        mask[csf] = 3
        if bleed is not None:
            mask[bleed] = 4

        hu = blur3(hu) + _ct_noise(rng_noise, IMAGE_SIZE)
        return _to_uint16(hu), mask

    def generate(
        self,
        seeds: Sequence[int],
        *,
        condition: Mapping[str, Any] | None = None,
        inputs: Any = None,
    ) -> dict[str, np.ndarray]:
        """Images ``(N, 256, 256, 1)`` uint16 and masks ``(N, 256, 256, 1)`` uint8."""
        if inputs is not None:
            raise ValueError("HeadCTPhantom takes no inputs")
        cond = validate_condition(condition, self.conditions)
        seeds = validate_seeds(seeds)
        images = np.empty((len(seeds), *IMAGE_SIZE, 1), dtype=np.uint16)
        masks = np.empty((len(seeds), *IMAGE_SIZE, 1), dtype=np.uint8)
        for i, seed in enumerate(seeds):
            images[i, ..., 0], masks[i, ..., 0] = self.sample(seed, cond.get("lesion"))
        return {"images": images, "masks": masks}


def load(card: Any = None, device: Any = None) -> HeadCTPhantom:
    """Entry point used by the host; ``card`` and ``device`` are unused."""
    return HeadCTPhantom()
