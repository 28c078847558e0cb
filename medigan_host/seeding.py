"""Seeds: one per sample, derived from the run seed and the sample index, and the latents they give."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Per-sample seeds are below 2**53 so that every JSON reader keeps them exact.
MAX_SEED = 2**53 - 1


def sample_seed(run_seed: int, index: int) -> int:
    """The seed of sample ``index`` in a run seeded with ``run_seed``; independent of batching and sharding."""
    digest = hashlib.blake2b(f"medigan-sample:{run_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & MAX_SEED


def sample_seeds(run_seed: int, indices: Sequence[int]) -> list[int]:
    """:func:`sample_seed` for several indices."""
    return [sample_seed(run_seed, i) for i in indices]


def check_seed(seed: object, what: str = "seed") -> int:
    """Return ``seed`` if it is a whole number in [0, 2**53); otherwise raise a clear ValueError."""
    from .errors import MediganUsageError

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise MediganUsageError(f"{what} must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return seed


def latents(seeds: Sequence[int], shape: int | Sequence[int], dtype: str = "float32") -> np.ndarray:
    """A standard-normal latent array of shape ``(len(seeds), *shape)``; row i depends only on ``seeds[i]``.

    Plugins use this for noise-input models so that the same seed gives the same sample in any batch.
    """
    import numpy as np

    dims = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    out = np.empty((len(seeds), *dims), dtype=dtype)
    for row, seed in enumerate(seeds):
        out[row] = np.random.default_rng(int(seed)).standard_normal(dims, dtype=np.float64).astype(dtype, copy=False)
    return out


def fixed_batches(fn: Callable[..., np.ndarray], *arrays: np.ndarray, size: int = 16) -> np.ndarray:
    """``fn(*chunks)`` over the rows of ``arrays`` (each of the same length N) in calls of exactly ``size`` rows, the
    results' rows joined in order: ``fn`` sees a batch of ``size`` whatever N is, the last one padded with zero rows
    whose results are dropped.

    Deep-learning frameworks pick CPU and GPU kernels by batch shape, and two kernels can differ in the last bits
    of a float; called this way, a sample's pixels depend only on its own inputs, so a run's images are the same
    for every ``--batch-size``, as medigan promises. The cost is at most ``size - 1`` padded rows per call.
    """
    import numpy as np

    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    n = len(arrays[0]) if arrays else 0
    if any(len(a) != n for a in arrays):
        raise ValueError(f"the arrays have {sorted({len(a) for a in arrays})} rows; fixed_batches needs one length")
    parts = []
    for start in range(0, n, size):
        chunks = []
        for array in arrays:
            chunk = np.asarray(array[start:start + size])
            if len(chunk) < size:
                chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            chunks.append(chunk)
        parts.append(np.asarray(fn(*chunks))[:min(size, n - start)])
    if not parts:
        return np.asarray(fn(*(np.asarray(a) for a in arrays)))
    return np.concatenate(parts)
