"""Streaming feature statistics: float64 mean and covariance merged batch by batch (Chan et al.), bounded memory."""

from __future__ import annotations

import numpy as np

from ..errors import MediganUsageError


class RunningStats:
    """Mean and covariance of feature vectors seen in batches; memory is O(dim²) whatever the number of samples.

    Each batch's own mean and centred scatter are merged into the totals with Chan's parallel update, which stays
    accurate when features have a large common offset (unlike summing raw second moments).
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.count = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self._scatter = np.zeros((dim, dim), dtype=np.float64)

    def update(self, features: np.ndarray) -> None:
        """Add a batch of shape (N, dim)."""
        batch = np.asarray(features, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise MediganUsageError(f"expected features of shape (N, {self.dim}), got {batch.shape}")
        n = len(batch)
        if n == 0:
            return
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        batch_scatter = centred.T @ centred
        total = self.count + n
        delta = batch_mean - self.mean
        self._scatter += batch_scatter + np.outer(delta, delta) * (self.count * n / total)
        self.mean += delta * (n / total)
        self.count = total

    @property
    def covariance(self) -> np.ndarray:
        """The unbiased sample covariance (divided by N - 1), as ``numpy.cov`` computes it."""
        if self.count < 2:
            raise MediganUsageError(f"a covariance needs at least 2 images, got {self.count}")
        return self._scatter / (self.count - 1)
