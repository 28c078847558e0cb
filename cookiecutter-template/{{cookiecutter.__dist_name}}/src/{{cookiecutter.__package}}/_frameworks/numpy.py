"""The generator in NumPy: a small two-layer perceptron (MLP), no deep-learning framework needed.

UNTRAINED until you train it: without a weights file it is randomly initialised from a fixed seed, so it is
deterministic but produces noise. Weights are an ``.npz`` file read with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .network import layout, network_inputs, to_samples, weights_file

WEIGHTS_SUFFIX = ".npz"
HIDDEN = 128


class Generator:
    """The medigan generator object: ``generate(seeds, condition=, inputs=)`` → images (and masks).

    Its contract is the Protocol ``medigan_host.protocols.Generator``, which the host checks when it loads the model
    (``medigan check`` tests the behaviour behind it); see the plugin contract, docs/plugins.md."""

    def __init__(self, card: Any, device: str, weights: Path | None = None, init_seed: int = 0) -> None:
        if device != "cpu":
            raise ValueError(f"the NumPy generator runs on the CPU only, not on {device!r}; use --device cpu")
        self.card = card
        shape = layout(card)
        self.out_shape = (*shape.size, shape.out_channels)
        outputs = int(np.prod(self.out_shape))
        rng = np.random.default_rng(init_seed)
        self.params = {
            "w1": _glorot(rng, shape.in_features, HIDDEN), "b1": np.zeros(HIDDEN, np.float32),
            "w2": _glorot(rng, HIDDEN, outputs), "b2": np.zeros(outputs, np.float32),
        }
        if weights is not None:
            with np.load(weights, allow_pickle=False) as stored:
                for name, value in self.params.items():
                    if stored[name].shape != value.shape:
                        raise ValueError(f"weights {name} have shape {stored[name].shape}, the network needs {value.shape}")
                    self.params[name] = stored[name].astype(np.float32)

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> dict:
        p = self.params
        hidden = np.tanh(network_inputs(self.card, seeds, condition) @ p["w1"] + p["b1"])
        logits = (hidden @ p["w2"] + p["b2"]).reshape(len(seeds), *self.out_shape)
        return to_samples(self.card, logits)

    def save_weights(self, path: str | Path) -> None:
        """Write the parameters as an .npz file (load it back with ``weights=path``)."""
        with open(path, "wb") as handle:
            np.savez(handle, **self.params)


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)


def load(card: Any, device: str) -> Generator:
    """The loader named in the plugin's registration."""
    return Generator(card, device, weights_file(card))
