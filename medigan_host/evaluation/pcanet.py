"""``pcanet-phantoms``: a small two-stage PCA network (PCANet-style) in pure NumPy, whose weights ship with the host.

It is the extractor that always works: offline, with no deep-learning framework. Its filters are not learned
by training on labels: they are the principal components of image patches of the procedural phantoms of
``medigan-plugin-phantoms`` (head CT, breast, brain MRI slices), derived with :func:`derive`
(``python -m medigan_host.evaluation.pcanet OUT.npz``). Its numbers are comparable only with other numbers from
the same extractor, never with published Inception FIDs.

Forward pass on (N, 1, 64, 64) images in [0, 1]: 8 zero-mean 7x7 filters, split into positive and negative parts,
2x2 average pooling; 16 3x3x16 filters on that, split again; features = means over a 2x2 grid of the 32 second-stage
maps (128), their global standard deviations (32), and the first stage's global means and standard deviations
(32): 192 numbers per image, each divided by its standard deviation over the derivation images.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SIZE = 64
K1, L1 = 7, 8
K2, L2 = 3, 16
FEATURE_DIM = 4 * 2 * L2 + 2 * L2 + 2 * 2 * L1


class PCANet:
    """The forward pass; ``w1`` (L1, K1*K1), ``w2`` (L2, 2*L1*K2*K2), ``mean2`` (2*L1*K2*K2,), and ``scale``
    (FEATURE_DIM,): each feature is divided by its standard deviation over the derivation images."""

    def __init__(self, w1: np.ndarray, w2: np.ndarray, mean2: np.ndarray, scale: np.ndarray | None = None) -> None:
        self.w1 = w1.astype(np.float32)
        self.w2 = w2.astype(np.float32)
        self.mean2 = mean2.astype(np.float32)
        self.scale = np.ones(FEATURE_DIM) if scale is None else scale.astype(np.float64)

    @classmethod
    def from_file(cls, path: Path) -> PCANet:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["w1"], data["w2"], data["mean2"], data["scale"])

    @classmethod
    def random(cls, seed: int = 0) -> PCANet:
        rng = np.random.default_rng(seed)
        return cls(rng.standard_normal((L1, K1 * K1)), rng.standard_normal((L2, 2 * L1 * K2 * K2)),
                   np.zeros(2 * L1 * K2 * K2))

    def stage1(self, images: np.ndarray) -> np.ndarray:
        """(N, 64, 64) -> (N, 29, 29, 2*L1) rectified, pooled first-stage maps."""
        patches = sliding_window_view(images, (K1, K1), axis=(1, 2))  # (N, 58, 58, K1, K1)
        maps = patches.reshape(*patches.shape[:3], K1 * K1) @ self.w1.T
        return _pool2(_split(maps))

    def stage2(self, maps: np.ndarray) -> np.ndarray:
        """(N, 29, 29, 2*L1) -> (N, 27, 27, 2*L2) rectified second-stage maps."""
        patches = sliding_window_view(maps, (K2, K2), axis=(1, 2))  # (N, 27, 27, C, K2, K2)
        flat = patches.reshape(*patches.shape[:3], -1) - self.mean2
        return _split(flat @ self.w2.T)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        images = np.asarray(batch, dtype=np.float32)[:, 0]
        first = self.stage1(images)
        second = self.stage2(first)
        half = second.shape[1] // 2
        grid = [second[:, :half, :half], second[:, :half, half:], second[:, half:, :half], second[:, half:, half:]]
        parts = [g.mean(axis=(1, 2)) for g in grid]
        parts += [second.std(axis=(1, 2)), first.mean(axis=(1, 2)), first.std(axis=(1, 2))]
        return np.concatenate(parts, axis=1).astype(np.float64) / self.scale


def _split(maps: np.ndarray) -> np.ndarray:
    return np.concatenate([np.maximum(maps, 0.0), np.maximum(-maps, 0.0)], axis=-1)


def _pool2(maps: np.ndarray) -> np.ndarray:
    n, h, w, c = maps.shape
    return maps[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def load(spec: Any, weights: Path | None, device: str) -> PCANet:
    """The extractor loader (random filters when ``weights`` is None)."""
    return PCANet.random() if weights is None else PCANet.from_file(Path(weights))


# -- deriving the shipped filters ------------------------------------------------------------------------------
def _components(samples: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` leading principal directions of the rows of ``samples``, with a fixed sign."""
    centred = samples - samples.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(samples))
    top = vectors[:, np.argsort(values)[::-1][:count]].T
    signs = np.sign(top[np.arange(count), np.abs(top).argmax(axis=1)])
    return top * signs[:, None]


def derive(images: np.ndarray, *, patches: int = 200_000, seed: int = 0) -> dict[str, np.ndarray]:
    """PCA filters from (N, 64, 64) images in [0, 1]: stage 1 on mean-removed 7x7 patches, stage 2 on 3x3x16
    patches of the stage-1 output."""
    rng = np.random.default_rng(seed)
    windows = sliding_window_view(images, (K1, K1), axis=(1, 2)).reshape(-1, K1 * K1)
    pick = windows[rng.choice(len(windows), min(patches, len(windows)), replace=False)].astype(np.float64)
    w1 = _components(pick - pick.mean(axis=1, keepdims=True), L1)
    net = PCANet(w1, np.zeros((L2, 2 * L1 * K2 * K2)), np.zeros(2 * L1 * K2 * K2))
    first = np.concatenate([net.stage1(images[i:i + 64]) for i in range(0, len(images), 64)])
    windows2 = sliding_window_view(first, (K2, K2), axis=(1, 2)).reshape(-1, 2 * L1 * K2 * K2)
    pick2 = windows2[rng.choice(len(windows2), min(patches, len(windows2)), replace=False)].astype(np.float64)
    weights = {"w1": w1.astype(np.float32), "w2": _components(pick2, L2).astype(np.float32),
               "mean2": pick2.mean(axis=0).astype(np.float32)}
    net = PCANet(**weights)
    features = np.concatenate([net(images[i:i + 64, None]) for i in range(0, len(images), 64)])
    return {**weights, "scale": np.maximum(features.std(axis=0), 1e-6).astype(np.float32)}


def phantom_images(per_model: int = 200) -> np.ndarray:
    """(N, 64, 64) grey images in [0, 1] from the phantoms plugin: head CT, breast, and slices of brain MRI volumes."""
    from ..api import load_model
    from .preprocess import Window, preprocess

    full16 = Window(0.0, 65535.0, "uint16 range 0..65535")  # the derivation of the shipped weights used this range

    out = []
    for model_id in ("ct-head-phantom", "mammo-breast-phantom", "mri-brain-phantom-3d"):
        model = load_model(model_id, device="cpu")
        images = model.generate(list(range(per_model if model.card.ndim == 2 else max(per_model // 16, 1)))).images
        if images.ndim == 5:  # volumes: every fourth axial slice
            images = images[:, ::4].reshape(-1, *images.shape[2:])
        window = full16 if images.dtype == np.uint16 else None
        out.append(preprocess(images, size=(SIZE, SIZE), channels=1, normalization="unit", resize_method="antialias",
                              window=window)[:, 0])
    return np.concatenate(out)


if __name__ == "__main__":  # python -m medigan_host.evaluation.pcanet OUT.npz
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m medigan_host.evaluation.pcanet OUT.npz")
    np.savez(sys.argv[1], **derive(phantom_images()))
    print(f"wrote {sys.argv[1]}")
