"""The generator in PyTorch: a small DCGAN-style network.

UNTRAINED until you train it: without a weights file it is randomly initialised from a fixed seed, so it is
deterministic but produces noise. Weights are loaded with ``torch.load(..., weights_only=True)``, which refuses
pickled code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .network import Layout, layout, network_inputs, to_samples, weights_file

WEIGHTS_SUFFIX = ".pt"


class Network(nn.Module):
    """Dense layer to a small feature map, transposed convolutions doubling it, a convolution to the outputs."""

    def __init__(self, shape: Layout) -> None:
        super().__init__()
        conv_t = nn.ConvTranspose2d if shape.ndim == 2 else nn.ConvTranspose3d
        conv = nn.Conv2d if shape.ndim == 2 else nn.Conv3d
        self.shape = shape
        self.dense = nn.Linear(shape.in_features, shape.widths[0] * int(np.prod(shape.start)))
        layers: list[nn.Module] = [nn.ReLU()]
        for wide, narrow in zip(shape.widths[:-1], shape.widths[1:], strict=True):
            layers += [conv_t(wide, narrow, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        layers.append(conv(shape.widths[-1], shape.out_channels, kernel_size=3, padding=1))
        self.body = nn.Sequential(*layers)
        for module in self.modules():  # He initialisation keeps the untrained outputs from fading to a constant
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.dense(x).view(x.shape[0], self.shape.widths[0], *self.shape.start)
        return self.body(features)


class Generator:
    """The medigan generator object: ``generate(seeds, condition=, inputs=)`` → images (and masks).

    Its contract is the Protocol ``medigan_host.protocols.Generator``, which the host checks when it loads the model
    (``medigan check`` tests the behaviour behind it); see the plugin contract, docs/plugins.md."""

    def __init__(self, card: Any, device: str, weights: Path | None = None, init_seed: int = 0) -> None:
        self.card = card
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.net = Network(layout(card))
        if weights is not None:
            self.net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.net.to(self.device).eval()

    @torch.inference_mode()
    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> dict:
        x = torch.from_numpy(network_inputs(self.card, seeds, condition)).to(self.device)
        logits = self.net(x).float().cpu().numpy()
        return to_samples(self.card, np.moveaxis(logits, 1, -1))

    def save_weights(self, path: str | Path) -> None:
        """Write the network's parameters as a state dict (load it back with ``weights=path``)."""
        torch.save(self.net.state_dict(), path)


def load(card: Any, device: str) -> Generator:
    """The loader named in the plugin's registration: builds the generator on ``device``."""
    return Generator(card, device, weights_file(card))
