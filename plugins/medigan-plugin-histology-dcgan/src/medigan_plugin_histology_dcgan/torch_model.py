"""PyTorch loader of ``histology-ihc-dcgan`` and ``histology-ihc-fastgan``: the shipped safetensors weights
(sha256-verified on every load), eval mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from medigan_host import CardError, ModelCard, Samples, WeightsError, fetch_weights, fixed_batches, latents

from . import fastgan, generator

#: The networks a PyTorch card of this plugin may name in its ``network`` field.
NETWORKS = {"dcgan": generator.Generator, "fastgan": fastgan.Generator}


class TorchGenerator:
    """medigan generator object: per-seed latents -> network -> float32 (N, H, W, 3) images in [0, 1]."""

    def __init__(self, card: ModelCard, device: str = "cpu") -> None:
        self.device = torch.device(device)
        network = card.extra.get("network")
        if network not in NETWORKS:
            raise CardError("network", f"names the network {network!r}, which this plugin does not build (it builds "
                                       f"{', '.join(sorted(NETWORKS))}); reinstall medigan-plugin-histology-dcgan",
                            model=card.id)
        options = card.extra.get("network_options") or {}
        try:
            self.net = NETWORKS[network](**options)
        except (TypeError, ValueError) as exc:
            raise CardError("network_options", f"{options!r} do not build the {network} network ({exc}); reinstall "
                                               "medigan-plugin-histology-dcgan", model=card.id) from exc
        #: Explicit latents (interpolation, the latent explorer): ``generate(seeds)`` feeds ``latents(seeds, latent_shape)``.
        self.latent_shape = (self.net.latent_dim,)
        path = fetch_weights(card)
        try:
            state = load_file(str(path), device="cpu")  # safetensors: tensors only, never code
        except Exception as exc:  # SafetensorError and OSError say little to a user
            raise WeightsError(f"{path} is not a safetensors file of model {card.id!r} ({type(exc).__name__}: {exc}); "
                               "reinstall medigan-plugin-histology-dcgan to restore the shipped weights") from exc
        self.net.load_state_dict(state)
        self.net.eval().to(self.device)

    def forward(self, z: np.ndarray) -> np.ndarray:
        """Latents (N, latent_dim) -> images (N, H, W, 3) float32 in [0, 1], in calls of a fixed batch shape
        (``fixed_batches``), so that the batch size never changes an image's bits."""
        return fixed_batches(self._forward, z)

    def _forward(self, z: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.net(torch.from_numpy(z).to(self.device))
            out = out.add(1.0).mul_(0.5).clamp_(0.0, 1.0).permute(0, 2, 3, 1)
            return out.contiguous().cpu().numpy()

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> Samples:
        return Samples(images=self.forward(latents(seeds, self.latent_shape)))

    def generate_from_latents(self, z: np.ndarray, *, condition: Mapping[str, Any] | None = None) -> Samples:
        """One image per latent row of ``z`` (N, latent_dim)."""
        return Samples(images=self.forward(np.ascontiguousarray(z, dtype=np.float32)))


def load(card: ModelCard, device: str) -> TorchGenerator:
    return TorchGenerator(card, device)
