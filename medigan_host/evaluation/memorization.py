"""Memorisation: does a model copy its training images? Nearest real neighbours, authenticity, α-precision, β-recall.

Definitions of Alaa et al. 2022 (How faithful is your synthetic data? Sample-level metrics for evaluating and
auditing generative models, ICML), computed on the extractor's features (the paper's one-class embedding is
replaced by the features themselves, centred on the mean of the real ones; recorded):

- **authenticity**: a generated sample is a copy when it is closer to its nearest real (training) image ``r`` than
  ``r`` is to its own nearest other real image; the score is the share of generated samples that are not copies.
  With held-out real images (never seen in training), the same test on them gives the rate expected of genuinely
  new images, to compare with.
- **α-precision** ``P(α)``: the share of generated samples inside the ball around the real centre that holds the
  fraction α of the real samples (its α-quantile radius). **β-recall** ``R(β)``: the share of real samples whose
  nearest generated sample is closer than their nearest other real sample and lies in the β-support of the generated
  set (the β-quantile ball around the generated centre). Integrated scores ``1 - 2 ∫ |P(α) - α| dα`` and
  ``1 - 2 ∫ |R(β) - β| dβ`` (1: ideal), over 30 levels from 0 to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MediganUsageError
from .metrics import _squared_distances

#: The α and β levels of the curves (as the reference implementation: 30 evenly spaced from 0 to 1).
LEVELS = np.linspace(0.0, 1.0, 30)


@dataclass(frozen=True)
class Memorization:
    """Per generated sample: its nearest real image (index, distance) and whether it counts as a copy; the scores."""

    nearest: np.ndarray  # (n_fake,) index into the real set
    distance: np.ndarray  # (n_fake,) Euclidean feature distance to it
    real_gap: np.ndarray  # (n_fake,) that real image's distance to its nearest other real image
    copies: np.ndarray  # (n_fake,) bool
    authenticity: float
    alpha_precision: float
    beta_recall: float
    alpha_curve: np.ndarray
    beta_curve: np.ndarray
    holdout_copies: float | None = None  # share of held-out real images that the same test flags


def nearest(queries: np.ndarray, points: np.ndarray, *, exclude_self: bool = False,
            chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Index and Euclidean distance of each query's nearest point (another point when ``exclude_self``)."""
    index = np.empty(len(queries), dtype=np.int64)
    dist = np.empty(len(queries))
    for start in range(0, len(queries), chunk):
        d = _squared_distances(queries[start:start + chunk], points)
        if exclude_self:
            rows = np.arange(len(d))
            d[rows, start + rows] = np.inf
        index[start:start + chunk] = d.argmin(axis=1)
        dist[start:start + chunk] = np.sqrt(d[np.arange(len(d)), index[start:start + chunk]])
    return index, dist


def memorization(fake: np.ndarray, real: np.ndarray, holdout: np.ndarray | None = None) -> Memorization:
    """Nearest real neighbour of every generated sample, authenticity, and the integrated α-precision and β-recall.

    ``real`` are the features of the training images; ``holdout`` (optional) of real images the model never saw.
    """
    fake, real = np.asarray(fake, dtype=np.float64), np.asarray(real, dtype=np.float64)
    if len(fake) < 2 or len(real) < 2:
        raise MediganUsageError(f"memorisation needs at least 2 generated and 2 real images, got {len(fake)} and {len(real)}")
    _, real_gap_all = nearest(real, real, exclude_self=True)  # each real image's distance to its nearest other one
    index, distance = nearest(fake, real)
    real_gap = real_gap_all[index]
    copies = distance < real_gap
    holdout_copies = None
    if holdout is not None and len(holdout):
        h_index, h_distance = nearest(np.asarray(holdout, dtype=np.float64), real)
        holdout_copies = float(np.mean(h_distance < real_gap_all[h_index]))

    centre = real.mean(axis=0)
    radii = np.quantile(np.linalg.norm(real - centre, axis=1), LEVELS)
    fake_to_centre = np.linalg.norm(fake - centre, axis=1)
    alpha_curve = np.array([np.mean(fake_to_centre <= r) for r in radii])

    fake_centre = fake.mean(axis=0)
    r_index, real_to_fake = nearest(real, fake)
    closest_to_centre = np.linalg.norm(fake[r_index] - fake_centre, axis=1)
    beta_radii = np.quantile(closest_to_centre, LEVELS)
    covered = real_to_fake <= real_gap_all
    beta_curve = np.array([np.mean(covered & (closest_to_centre <= r)) for r in beta_radii])

    step = LEVELS[1] - LEVELS[0]
    return Memorization(index, distance, real_gap, copies, float(1.0 - copies.mean()),
                        float(1.0 - 2.0 * np.abs(LEVELS - alpha_curve).sum() * step),
                        float(1.0 - 2.0 * np.abs(LEVELS - beta_curve).sum() * step),
                        alpha_curve, beta_curve, holdout_copies)


def pairs_grid(pairs: list[tuple[np.ndarray, np.ndarray]], tile: int = 128, gap: int = 4, per_row: int = 4) -> np.ndarray:
    """(H, W, 3) uint8 grid of pairs, ``per_row`` pairs a row, in order: in each pair the generated image is on the
    left and its nearest real image on the right, with a thin gap; pairs are separated by a wider white gap.

    Each image is given as float (H, W, C) in [0, 1] (already windowed) and resized to ``tile`` x ``tile``.
    """
    from .preprocess import match_channels, resize

    def cell(image: np.ndarray) -> np.ndarray:
        return match_channels(resize(image[None].astype(np.float32), (tile, tile), "antialias"), 3)[0]

    pair_width = 2 * tile + gap
    tiles = [np.concatenate([cell(fake), np.ones((tile, gap, 3), np.float32), cell(real)], axis=1) for fake, real in pairs]
    columns = max(min(per_row, len(tiles)), 1)
    rows = (len(tiles) + columns - 1) // columns
    grid = np.ones((max(rows, 1) * (tile + 3 * gap) - 3 * gap, columns * (pair_width + 3 * gap) - 3 * gap, 3), np.float32)
    for i, pair in enumerate(tiles):
        top, left = (i // columns) * (tile + 3 * gap), (i % columns) * (pair_width + 3 * gap)
        grid[top:top + tile, left:left + pair_width] = pair
    return np.rint(np.clip(grid, 0.0, 1.0) * 255).astype(np.uint8)
