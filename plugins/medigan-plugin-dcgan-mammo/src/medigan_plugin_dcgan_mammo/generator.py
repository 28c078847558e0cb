"""The loader: the original zip from its record -> verified safetensors in the cache -> a DCGAN generator in eval
mode on the requested device, whose output is mapped to pixels as the original generate function mapped it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medigan_host import ModelCard, Samples, WeightsError, fetch_weights, fixed_batches, latents
from medigan_host.weights import stored_weights

from .network import DCGANGenerator, fitted_spec, state_mismatches
from .specs import WEIGHTS_FILE, GeneratorSpec, PixelMapping

#: Distinct stream of each seed for the class drawn when no condition is given.
_CLASS_STREAM = 0x6D616C69


def weights_file(card: ModelCard) -> Path:
    """The model's verified safetensors weights, made on first use.

    The converted file in the cache (checked against its sha256 record) is used when it is there; otherwise the
    card's weights entry is fetched by the host (downloaded and verified, or a copy placed by hand): a safetensors
    file is used as it is, and the original medigan zip of the model's Zenodo record is converted once into the cache.
    """
    path = stored_weights(card, WEIGHTS_FILE)
    if path is not None:
        return path
    if not card.weights:
        raise WeightsError(f"model {card.id!r} has no weights on this machine and its card names no source for them; "
                           "convert an original checkpoint with `python -m medigan_plugin_dcgan_mammo.convert`")
    original = fetch_weights(card)
    if original.suffix == ".safetensors":  # converted weights published with their sha256 on the card
        return original
    from .convert import store_converted

    path, _, _ = store_converted(card, original)
    return path


def load_state(card: ModelCard, path: Path, spec: GeneratorSpec) -> DCGANGenerator:
    """Build the network and fill it from a safetensors file (never a pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"model {card.id!r}: {path} is not a valid safetensors file ({exc}); medigan loads weights "
                           f"only as safetensors and never unpickles them. Remove it (`medigan cache clear {card.id}`) "
                           "and convert or fetch it again") from exc
    network = DCGANGenerator(fitted_spec(spec, state))
    problems = state_mismatches(network.state_dict(), state)
    if problems:
        raise WeightsError(f"model {card.id!r}: {path} does not fit the card's generator ({'; '.join(problems[:4])}"
                           f"{'; …' if len(problems) > 4 else ''}); it belongs to another model. Convert the right checkpoint")
    network.load_state_dict(state, strict=True)
    return network


def to_pixels(output: np.ndarray, mapping: PixelMapping) -> np.ndarray:
    """The original generate function's pixels (uint8) from the float32 tanh output, channels last."""
    if mapping.method == "half_shift_round":
        scaled = np.float32(255) * (output / np.float32(2) + np.float32(0.5))
        return np.round(scaled).astype(np.uint8)
    scaled = np.array((output - mapping.low) / float(mapping.high - mapping.low), dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        return (0 + scaled * 255).astype(np.uint8)


def class_labels(seeds: Sequence[int], condition: Mapping[str, Any] | None, values: Sequence[Any]) -> np.ndarray:
    """The original's class label of each sample: the condition's, or drawn from each seed when none is given."""
    if condition:
        (value,) = condition.values()
        return np.full(len(seeds), list(values).index(value), dtype=np.int64)
    return np.array([np.random.default_rng([int(s), _CLASS_STREAM]).integers(len(values)) for s in seeds], dtype=np.int64)


class MammoDCGAN:
    """One sample per seed: latents from ``medigan_host.latents``, pixels as the original generate function made them."""

    def __init__(self, card: ModelCard, device: str) -> None:
        self.card = card
        self.spec = GeneratorSpec.from_card(card)
        self.mapping = PixelMapping.from_card(card)
        self.device = torch.device(device)
        network = load_state(card, weights_file(card), self.spec)
        network.requires_grad_(False)
        self.network = network.to(self.device).eval()
        self.values = next(iter(card.conditions.values())) if self.spec.condition else ()

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> Samples:
        z = latents(seeds, self.spec.latent_dim)
        if self.spec.condition is None:
            output = fixed_batches(self._forward, z)  # one batch shape for every run: the batch size changes no bits
        else:
            output = fixed_batches(self._forward, z, class_labels(seeds, condition, self.values))
        return Samples(images=np.ascontiguousarray(to_pixels(output, self.mapping)))

    def _forward(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        with torch.inference_mode():
            output = self.network(torch.from_numpy(z).to(self.device),
                                  None if labels is None else torch.from_numpy(labels).to(self.device))
            return output.permute(0, 2, 3, 1).contiguous().to("cpu", torch.float32).numpy()


def load(card: ModelCard, device: str) -> MammoDCGAN:
    """medigan loader: ``loader(card, device)`` with a concrete device (cpu, cuda, cuda:N, mps)."""
    return MammoDCGAN(card, device)
