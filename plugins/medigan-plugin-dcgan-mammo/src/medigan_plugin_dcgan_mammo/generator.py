"""The loader: verified safetensors weights -> a DCGAN generator in eval mode on the requested device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medigan_host import ModelCard, Samples, WeightsError, fetch_weights, latents
from medigan_host.weights import model_folder, stored_weights

from .network import DCGANGenerator, state_mismatches
from .specs import WEIGHTS_FILE, GeneratorSpec, UpstreamWeights


def weights_file(card: ModelCard) -> Path:
    """The model's verified weights: from the card's url when it declares one, else the locally converted file."""
    if card.weights:
        return fetch_weights(card)
    path = stored_weights(card, WEIGHTS_FILE)
    if path is None:
        raise WeightsError(missing_weights_message(card))
    return path


def missing_weights_message(card: ModelCard) -> str:
    """What to do when no weights are on this machine: where the original is, and the conversion command."""
    upstream = UpstreamWeights.from_card(card)
    number = (card.upstream_id or card.id).split("_", 1)[0]
    source = (f"The original weights ({card.upstream_id}) are published by the medigan project at {upstream.url} "
              f"(the file {upstream.member!r} inside that zip), without a sha256, so medigan cannot download and vouch "
              "for them itself. Download the zip, then run" if upstream else "Obtain the original checkpoint, then run")
    return (f"model {card.id!r} has no weights on this machine (nothing at {model_folder(card) / WEIGHTS_FILE}). {source} "
            f"`python -m medigan_plugin_dcgan_mammo.convert {number} PATH/TO/DOWNLOADED.zip`: it loads the checkpoint "
            "without running code from it and stores a verified safetensors file there. No random weights are used")


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
    network = DCGANGenerator(spec)
    problems = state_mismatches(network.state_dict(), state)
    if problems:
        raise WeightsError(f"model {card.id!r}: {path} does not fit the card's generator ({'; '.join(problems[:4])}"
                           f"{'; …' if len(problems) > 4 else ''}); it belongs to another model. Convert the right checkpoint")
    network.load_state_dict(state, strict=True)
    return network


class MammoDCGAN:
    """One sample per seed: latents from ``medigan_host.latents``, tanh output mapped to float32 [0, 1]."""

    def __init__(self, card: ModelCard, device: str) -> None:
        self.card = card
        self.spec = GeneratorSpec.from_card(card)
        self.device = torch.device(device)
        network = load_state(card, weights_file(card), self.spec)
        network.requires_grad_(False)
        self.network = network.to(self.device).eval()

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> Samples:
        z = torch.from_numpy(latents(seeds, self.spec.latent_dim)).to(self.device)
        with torch.inference_mode():
            images = self.network(z).add_(1.0).mul_(0.5).clamp_(0.0, 1.0)
            images = images.permute(0, 2, 3, 1).contiguous().to("cpu", torch.float32)
        return Samples(images=np.ascontiguousarray(images.numpy()))


def load(card: ModelCard, device: str) -> MammoDCGAN:
    """medigan loader: ``loader(card, device)`` with a concrete device (cpu, cuda, cuda:N, mps)."""
    return MammoDCGAN(card, device)
