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


def frechet_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between two feature sets, from the features themselves.

    With no more images than dimensions, ``Tr((S1 S2)^½)`` is the sum of the singular values of the centred
    cross-product ``A Bᵀ / sqrt((n1 - 1)(n2 - 1))`` (an n1 x n2 matrix, cheap for small sets); otherwise the
    covariances go through :func:`frechet_distance`.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise MediganUsageError(f"a Fréchet distance needs at least 2 feature vectors in each set, got {len(a)} and {len(b)}")
    if max(len(a), len(b)) > a.shape[1]:
        return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    ca, cb = a - a.mean(0), b - b.mean(0)
    scale = np.sqrt((len(a) - 1) * (len(b) - 1))
    trace_sqrt = float(np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / scale)
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + (ca * ca).sum() / (len(a) - 1) + (cb * cb).sum() / (len(b) - 1) - 2.0 * trace_sqrt)


@dataclass(frozen=True)
class FIDInfinity:
    """FID∞ (Chong and Forsyth 2020): FID at several set sizes, fitted linearly in 1/n and extrapolated to 1/n = 0."""

    value: float
    sizes: list[int]
    fids: list[float]
    slope: float
    r_squared: float


def fid_infinity(fake: np.ndarray, real: np.ndarray, *, points: int = 15, smallest: float = 0.2,
                 seed: int = 0) -> FIDInfinity:
    """FID∞ of two feature sets: ``points`` sizes from ``smallest`` of the generated set up to all of it, each with a
    random subset of the generated features and a subset of the real ones of the same share; FID_n = FID∞ + slope / n
    fitted by least squares (as Chong and Forsyth 2020, who use 15 sizes from 5,000 to 50,000)."""
    fake, real = np.asarray(fake, dtype=np.float64), np.asarray(real, dtype=np.float64)
    low = max(int(round(len(fake) * smallest)), 10)
    if len(fake) < 20 or len(real) < 20 or low >= len(fake):
        raise MediganUsageError(f"FID∞ needs at least 20 images in each set, got {len(fake)} and {len(real)}")
    sizes = sorted({int(s) for s in np.linspace(low, len(fake), points).round()})
    rng = np.random.default_rng(seed)
    fids = []
    for size in sizes:
        real_size = max(int(round(len(real) * size / len(fake))), 2)
        fids.append(frechet_from_features(fake[rng.choice(len(fake), size, replace=False)],
                                          real[rng.choice(len(real), real_size, replace=False)]))
    x, y = 1.0 / np.asarray(sizes, dtype=np.float64), np.asarray(fids)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    spread = float(((y - y.mean()) ** 2).sum())
    r_squared = 1.0 - float((residual ** 2).sum()) / spread if spread > 0 else 1.0
    return FIDInfinity(float(intercept), sizes, [float(f) for f in fids], float(slope), r_squared)


@dataclass(frozen=True)
class KIDJackknife:
    """The unbiased MMD² of KID's kernel on every image, and its jackknife standard error."""

    value: float
    standard_error: float
    n_fake: int
    n_real: int


def kid_jackknife(fake: np.ndarray, real: np.ndarray) -> KIDJackknife:
    """KID's unbiased MMD² on all images with the two-sample delete-one jackknife standard error (Arvesen 1969):
    ``Var = (m-1)/m Σ_i (θ_-i - θ̄)² + (n-1)/n Σ_j (θ_-j - θ̄)²``, each leave-one-out value computed from row sums of the
    kernel matrices. It measures the estimate's spread whatever the set sizes, unlike the spread over subsets that
    hold (nearly) the whole set."""
    x, y = np.asarray(fake, dtype=np.float64), np.asarray(real, dtype=np.float64)
    m, n, dim = len(x), len(y), x.shape[1]
    if m < 3 or n < 3:
        raise MediganUsageError(f"KID's standard error needs at least 3 images in each set, got {m} and {n}")
    k_xx, k_yy, k_xy = (x @ x.T / dim + 1.0) ** 3, (y @ y.T / dim + 1.0) ** 3, (x @ y.T / dim + 1.0) ** 3
    rows_x, rows_y = k_xx.sum(1) - np.diag(k_xx), k_yy.sum(1) - np.diag(k_yy)
    t_xx, t_yy = rows_x.sum(), rows_y.sum()
    cross_x, cross_y = k_xy.sum(1), k_xy.sum(0)
    s_xy = cross_x.sum()
    value = t_xx / (m * (m - 1)) + t_yy / (n * (n - 1)) - 2.0 * s_xy / (m * n)
    without_x = (t_xx - 2.0 * rows_x) / ((m - 1) * (m - 2)) + t_yy / (n * (n - 1)) - 2.0 * (s_xy - cross_x) / ((m - 1) * n)
    without_y = t_xx / (m * (m - 1)) + (t_yy - 2.0 * rows_y) / ((n - 1) * (n - 2)) - 2.0 * (s_xy - cross_y) / (m * (n - 1))
    variance = ((m - 1) / m * ((without_x - without_x.mean()) ** 2).sum()
                + (n - 1) / n * ((without_y - without_y.mean()) ** 2).sum())
    return KIDJackknife(float(value), float(np.sqrt(variance)), m, n)
