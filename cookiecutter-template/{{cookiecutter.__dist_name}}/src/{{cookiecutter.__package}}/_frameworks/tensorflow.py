"""The generator in TensorFlow/Keras: a small DCGAN-style network.

UNTRAINED until you train it: without a weights file it is randomly initialised from fixed seeds, so it is
deterministic but produces noise. Weights are a Keras ``.weights.h5`` file (``model.save_weights``), never a pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .network import Layout, layout, network_inputs, to_samples, weights_file

WEIGHTS_SUFFIX = ".weights.h5"


def build_network(shape: Layout, init_seed: int = 0) -> tf.keras.Model:
    """Dense layer to a small feature map, transposed convolutions doubling it, a convolution to the outputs."""
    layers = tf.keras.layers
    conv_t = layers.Conv2DTranspose if shape.ndim == 2 else layers.Conv3DTranspose
    conv = layers.Conv2D if shape.ndim == 2 else layers.Conv3D
    seeds = iter(range(init_seed * 100, init_seed * 100 + 100))

    def init() -> tf.keras.initializers.Initializer:
        return tf.keras.initializers.HeNormal(seed=next(seeds))  # keeps the untrained outputs from fading to a constant

    x = inputs = tf.keras.Input((shape.in_features,))
    x = layers.Dense(shape.widths[0] * int(np.prod(shape.start)), activation="relu", kernel_initializer=init())(x)
    x = layers.Reshape((*shape.start, shape.widths[0]))(x)
    for width in shape.widths[1:]:
        x = conv_t(width, 4, strides=2, padding="same", activation="relu", kernel_initializer=init())(x)
    outputs = conv(shape.out_channels, 3, padding="same", kernel_initializer=init())(x)
    return tf.keras.Model(inputs, outputs, name="generator")


class Generator:
    """The medigan generator object: ``generate(seeds, condition=, inputs=)`` → images (and masks).

    Its contract is the Protocol ``medigan_host.protocols.Generator``, which the host checks when it loads the model
    (``medigan check`` tests the behaviour behind it); see the plugin contract, docs/plugins.md."""

    def __init__(self, card: Any, device: str, weights: Path | None = None, init_seed: int = 0) -> None:
        self.card = card
        self.device = "/CPU:0" if device == "cpu" else "/GPU:" + (device.partition(":")[2] or "0")
        with tf.device(self.device):
            self.net = build_network(layout(card), init_seed)
            if weights is not None:
                self.net.load_weights(str(weights))

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> dict:
        x = network_inputs(self.card, seeds, condition)
        with tf.device(self.device):
            logits = self.net(x, training=False).numpy()
        return to_samples(self.card, logits)

    def save_weights(self, path: str | Path) -> None:
        """Write the network's weights (the name must end in .weights.h5; load them back with ``weights=path``)."""
        self.net.save_weights(str(path))


def load(card: Any, device: str) -> Generator:
    """The loader named in the plugin's registration: builds the generator on ``device``."""
    return Generator(card, device, weights_file(card))
