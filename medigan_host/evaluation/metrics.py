"""The metrics, in NumPy float64: Fréchet distance (FID), kernel inception distance (KID), precision and recall.

All take features (or their statistics) from the same extractor; none imports a deep-learning framework.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MediganUsageError


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians, computed robustly.

    The eigenvalues of ``S1 S2`` are those of ``sqrt(S1) S2 sqrt(S1)``, the squares of the singular values of
    ``sqrt(S1) sqrt(S2)``; so ``Tr((S1 S2)^(1/2))`` is the sum of those singular values, computed from two symmetric
    eigen-decompositions and one SVD: no complex parts, no offset, and no square root of round-off-sized
    eigenvalues, so it stays accurate for singular or near-singular covariances (fewer samples than dimensions).
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise MediganUsageError(f"the two feature statistics do not match: means {mu1.shape} and {mu2.shape}, "
                                f"covariances {s1.shape} and {s2.shape}; compute both with the same extractor")
    trace_sqrt = float(np.linalg.svd(_psd_sqrt(s1) @ _psd_sqrt(s2), compute_uv=False).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix; eigenvalues within round-off of zero
    (below ``dim * eps * largest``, as for a numerical rank) count as 0, so they add no spurious square roots."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    cutoff = len(values) * np.finfo(np.float64).eps * max(float(values.max(initial=0.0)), 0.0)
    return (vectors * np.sqrt(np.where(values > cutoff, values, 0.0))) @ vectors.T


@dataclass(frozen=True)
class KernelDistance:
    """KID: the mean and standard deviation of the unbiased MMD² over ``subsets`` random subsets."""

    mean: float
    std: float
    subsets: int
    subset_size: int


def polynomial_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with the cubic polynomial kernel ``k(x, y) = (x·y / d + 1)^3`` (Bińkowski et al. 2018)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    m, n, dim = len(a), len(b), a.shape[1]
    if m < 2 or n < 2:
        raise MediganUsageError(f"KID needs at least 2 samples in each set, got {m} and {n}")
    k_aa = (a @ a.T / dim + 1.0) ** 3
    k_bb = (b @ b.T / dim + 1.0) ** 3
    k_ab = (a @ b.T / dim + 1.0) ** 3
    term_aa = (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
    term_bb = (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
    return float(term_aa + term_bb - 2.0 * k_ab.mean())


def kernel_distance(fake: np.ndarray, real: np.ndarray, *, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> KernelDistance:
    """KID between two feature sets: unbiased polynomial MMD² on ``subsets`` subsets drawn without replacement.

    ``subset_size`` is lowered to the smaller set's size when that is smaller (recorded in the result).
    """
    size = min(subset_size, len(fake), len(real))
    if size < 2:
        raise MediganUsageError(f"KID needs at least 2 images in each set, got {len(fake)} generated and {len(real)} real")
    rng = np.random.default_rng(seed)
    values = np.array([polynomial_mmd2(fake[rng.choice(len(fake), size, replace=False)],
                                       real[rng.choice(len(real), size, replace=False)]) for _ in range(subsets)])
    return KernelDistance(float(values.mean()), float(values.std()), subsets, size)


@dataclass(frozen=True)
class PrecisionRecall:
    """k-NN manifold precision and recall (Kynkäänniemi et al. 2019)."""

    precision: float
    recall: float
    k: int


def precision_recall(fake: np.ndarray, real: np.ndarray, *, k: int = 3, chunk: int = 1024) -> PrecisionRecall:
    """Precision: the share of generated samples inside the real manifold (the union of balls reaching each real
    sample's k-th nearest real neighbour); recall: the share of real samples inside the generated manifold."""
    fake, real = np.asarray(fake, dtype=np.float64), np.asarray(real, dtype=np.float64)
    if min(len(fake), len(real)) <= k:
        raise MediganUsageError(f"precision/recall with k={k} needs more than {k} images in each set, got "
                                f"{len(fake)} generated and {len(real)} real")
    real_radii = _kth_neighbour_distances(real, k, chunk)
    fake_radii = _kth_neighbour_distances(fake, k, chunk)
    precision = _inside_share(fake, real, real_radii, chunk)
    recall = _inside_share(real, fake, fake_radii, chunk)
    return PrecisionRecall(precision, recall, k)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def _kth_neighbour_distances(points: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """Squared distance of each point to its k-th nearest other point."""
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        d = _squared_distances(points[start:start + chunk], points)
        out[start:start + chunk] = np.partition(d, k, axis=1)[:, k]  # column 0 of the sorted row is the point itself
    return out


def _inside_share(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int) -> float:
    inside = 0
    for start in range(0, len(queries), chunk):
        d = _squared_distances(queries[start:start + chunk], centres)
        inside += int(np.count_nonzero((d <= radii[None, :]).any(axis=1)))
    return inside / len(queries)
