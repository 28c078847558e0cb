"""The loader of every MONAI card: networks built from ``monai.networks.nets`` classes with the architecture
parameters on the card, weights loaded as state dicts (``torch.load(..., weights_only=True)`` or safetensors),
sampling with ``monai.networks.schedulers``. No bundle configuration is ever parsed or evaluated: the card's
``monai`` section is plain JSON, and a string that looks like a MONAI config expression (``$…``, ``@…``, ``%…``) is
refused, never run.

Sample ``i`` depends only on ``seeds[i]``: its starting noise and every noise the scheduler adds come from a
``torch.Generator`` seeded with it, the network runs on the whole batch, and each sample takes its own scheduler step.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from medigan_host import ModelCard, Samples, WeightsError, fetch_weights

#: The MONAI classes a card may name (nothing else is ever looked up).
NETWORKS = ("DiffusionModelUNet", "AutoencoderKL", "VQVAE")
SCHEDULERS = ("DDPMScheduler", "DDIMScheduler", "PNDMScheduler")
_EXPRESSION_PREFIXES = ("$", "@", "%")


class BundleError(WeightsError):
    """A card's ``monai`` section that cannot be built (a class it may not name, an expression, a bad argument)."""


def plain_arguments(value: Any, where: str) -> Any:
    """``value`` if it is plain JSON data (numbers, booleans, strings that are not config expressions, lists, dicts)."""
    if isinstance(value, str):
        if value.startswith(_EXPRESSION_PREFIXES):
            raise BundleError(f"{where} is {value!r}, a MONAI config expression or reference: medigan never evaluates "
                              "bundle expressions; write the value itself on the card")
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain_arguments(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): plain_arguments(v, f"{where}.{k}") for k, v in value.items()}
    raise BundleError(f"{where} is a {type(value).__name__}; only JSON values may describe a network")


def build(spec: Mapping[str, Any], allowed: Sequence[str], module: Any, where: str) -> Any:
    """An instance of the MONAI class ``spec['class']`` (one of ``allowed``) built with ``spec['args']``."""
    name = spec.get("class")
    if name not in allowed:
        raise BundleError(f"{where}.class is {name!r}; a card may name one of: {', '.join(allowed)}")
    args = plain_arguments(spec.get("args") or {}, f"{where}.args")
    try:
        return getattr(module, name)(**args)
    except (TypeError, ValueError, AssertionError) as exc:
        raise BundleError(f"{where}: {name}({args}) cannot be built ({type(exc).__name__}: {exc}); fix the card's "
                          "architecture parameters") from exc


def load_state(card: ModelCard, net: torch.nn.Module, spec: Mapping[str, Any], where: str) -> None:
    """Load the weights file ``spec['weights']`` of the card into ``net``: tensors only, never pickled code."""
    path = fetch_weights(card, spec["weights"])
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError, SafetensorError, OSError all mean the same to a user
        raise WeightsError(f"{path} is not a state dict of tensors for {where} of model {card.id!r} "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); only tensors are "
                           "loaded (weights_only), never code: remove it with `medigan cache clear "
                           f"{card.id}` and fetch it again") from exc
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    try:
        if spec.get("load_old_state_dict"):
            with contextlib.redirect_stdout(io.StringIO()):  # MONAI prints what it matched; stdout is the user's
                net.load_old_state_dict(dict(state))  # the naming of the original GenerativeModels checkpoints
        else:
            net.load_state_dict(state)
    except (RuntimeError, KeyError, AssertionError) as exc:
        raise WeightsError(f"{path} does not fit {where} ({spec['class']}) of model {card.id!r}: "
                           f"{str(exc).splitlines()[0]}") from exc


class MonaiGenerator:
    """Diffusion (DDPM/DDIM, optionally in an autoencoder's latent space) from a card's ``monai`` section."""

    def __init__(self, card: ModelCard, device: str = "cpu") -> None:
        import monai.networks.nets as nets
        import monai.networks.schedulers as schedulers

        self.card = card
        self.device = torch.device(device)
        spec = card.extra.get("monai")
        if not isinstance(spec, Mapping) or "diffusion" not in spec or "scheduler" not in spec:
            raise BundleError(f"model {card.id!r}: its card has no 'monai' section with 'diffusion' and 'scheduler'")
        self.spec = spec
        self.diffusion = build(spec["diffusion"], NETWORKS, nets, "monai.diffusion")
        load_state(card, self.diffusion, spec["diffusion"], "monai.diffusion")
        self.diffusion.eval().to(self.device)
        self.autoencoder = None
        if spec.get("autoencoder"):
            self.autoencoder = build(spec["autoencoder"], NETWORKS, nets, "monai.autoencoder")
            load_state(card, self.autoencoder, spec["autoencoder"], "monai.autoencoder")
            self.autoencoder.eval().to(self.device)
        self.scheduler_spec = spec["scheduler"]
        self._schedulers = schedulers
        self.steps = int(self.scheduler_spec.get("inference_steps") or 1000)
        channels = int(spec["diffusion"]["args"].get("out_channels", card.channels))
        self.noise_shape = tuple(spec.get("latent_shape") or (channels, *card.image_size))
        conditioning = spec.get("conditioning") or {}
        self.condition_order = list(conditioning.get("order") or [])
        self.concat = bool(conditioning.get("concat"))
        self.crossattn = bool(conditioning.get("crossattn"))
        self.low, self.high = (float(v) for v in spec.get("output_range", (0.0, 1.0)))

    def _scheduler(self) -> Any:
        scheduler = build(self.scheduler_spec, SCHEDULERS, self._schedulers, "monai.scheduler")
        scheduler.set_timesteps(num_inference_steps=self.steps)
        return scheduler

    def _conditioning(self, count: int, condition: Mapping[str, Any] | None) -> torch.Tensor | None:
        if not self.condition_order:
            return None
        values = {**(self.card.extra.get("condition_defaults") or {}), **(condition or {})}
        missing = [name for name in self.condition_order if name not in values]
        if missing:
            raise BundleError(f"model {self.card.id!r} needs the conditions {', '.join(missing)} (no default on its card)")
        row = torch.tensor([[float(values[name]) for name in self.condition_order]], dtype=torch.float32)
        return row.unsqueeze(1).expand(count, 1, len(self.condition_order)).to(self.device)  # (N, 1, K)

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> Samples:
        generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        image = torch.stack([torch.randn(self.noise_shape, generator=g) for g in generators]).to(self.device)
        context = self._conditioning(len(seeds), condition)
        scheduler = self._scheduler()
        takes_generator = "generator" in inspect.signature(scheduler.step).parameters
        with torch.inference_mode():
            for t in scheduler.timesteps:
                model_input = image
                if context is not None and self.concat:
                    extra = context.squeeze(1).reshape(len(seeds), -1, *([1] * (image.ndim - 2)))
                    model_input = torch.cat([image, extra.expand(-1, -1, *image.shape[2:])], dim=1)
                timesteps = torch.full((len(seeds),), int(t), device=self.device, dtype=torch.long)
                output = self.diffusion(model_input, timesteps=timesteps, context=context if self.crossattn else None)
                steps = []
                for i, generator in enumerate(generators):  # one step per sample, with that sample's own noise
                    kwargs = {"generator": generator} if takes_generator else {}
                    steps.append(scheduler.step(output[i:i + 1].cpu(), t, image[i:i + 1].cpu(), **kwargs)[0])
                image = torch.cat(steps).to(self.device)
            if self.autoencoder is not None:
                image = self.autoencoder.decode_stage_2_outputs(image)
        out = ((image.float().cpu() - self.low) / (self.high - self.low)).clamp_(0.0, 1.0)
        return Samples(images=np.ascontiguousarray(np.moveaxis(out.numpy(), 1, -1), dtype=np.float32))


def load(card: ModelCard, device: str) -> MonaiGenerator:
    return MonaiGenerator(card, device)
