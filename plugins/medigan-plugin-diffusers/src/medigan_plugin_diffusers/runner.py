"""The loader of every diffusers card: the card's Hub files fetched and verified by medigan (pinned commit and
sha256), or a local ``save_pretrained`` folder checked against the digest of its files; the pipeline class it names
loaded from them with safetensors only and no network, and one
``torch.Generator`` per sample seeded with the sample's seed, so sample i depends only on seeds[i].
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medigan_host import ModelCard, Samples, WeightsError, fetch_weights


class PipelineCardError(WeightsError):
    """A card's ``diffusers`` section that cannot be loaded (an unknown class, missing files)."""


def pipeline_folder(card: ModelCard) -> tuple[Path, Any]:
    """A folder holding the card's verified files at their repository paths (and what keeps it alive): a local
    ``save_pretrained`` folder named by a ``folder`` weights entry (checked against the digest of its files), or the
    card's Hub files."""
    folders = [entry for entry in card.weights if "folder" in entry]
    if folders:
        if len(card.weights) != 1:
            raise PipelineCardError(f"model {card.id!r}: a card with a weights folder lists that folder alone (it holds "
                                    "every file of the pipeline)")
        return fetch_weights(card, folders[0]["filename"]), None
    files = {entry["filename"]: fetch_weights(card, entry["filename"]) for entry in card.weights}
    roots = {Path(str(path)[: -len(name) - 1]) for name, path in files.items() if str(path).endswith(name)}
    if len(roots) == 1 and all(str(path).endswith(name) for name, path in files.items()):
        return roots.pop(), None
    keep = tempfile.TemporaryDirectory(prefix=f"medigan-{card.id}-")  # files from both caches: link them together
    for name, path in files.items():
        link = Path(keep.name) / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(path, link)
    return Path(keep.name), keep


def _class(module: Any, name: Any, base: type, where: str) -> type:
    found = getattr(module, name, None) if isinstance(name, str) and name.isidentifier() else None
    if not (isinstance(found, type) and issubclass(found, base)):
        raise PipelineCardError(f"{where} is {name!r}, which is not a diffusers {base.__name__} class")
    return found


class DiffusersGenerator:
    """A diffusers pipeline behind medigan's ``generate(seeds, condition=...)``."""

    def __init__(self, card: ModelCard, device: str = "cpu") -> None:
        import diffusers

        spec = card.extra.get("diffusers")
        if not isinstance(spec, Mapping) or "pipeline" not in spec:
            raise PipelineCardError(f"model {card.id!r}: its card has no 'diffusers' section naming the pipeline")
        self.card, self.spec, self.device = card, spec, torch.device(device)
        folder, self._keep = pipeline_folder(card)
        pipeline_class = _class(diffusers, spec["pipeline"], diffusers.DiffusionPipeline, "diffusers.pipeline")
        try:
            self.pipe = pipeline_class.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
        except (OSError, ValueError, TypeError) as exc:
            raise PipelineCardError(f"model {card.id!r}: {spec['pipeline']} cannot be loaded from the card's files "
                                    f"({type(exc).__name__}: {str(exc).splitlines()[0]}); the card must list every "
                                    "file of the pipeline, weights as .safetensors") from exc
        if spec.get("scheduler"):
            scheduler_class = _class(diffusers, spec["scheduler"], diffusers.SchedulerMixin, "diffusers.scheduler")
            self.pipe.scheduler = scheduler_class.from_config(self.pipe.scheduler.config)
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> Samples:
        generators = [torch.Generator(self.device).manual_seed(int(seed)) for seed in seeds]
        kwargs: dict[str, Any] = {"generator": generators, "output_type": "np"}
        if self.spec.get("steps"):
            kwargs["num_inference_steps"] = int(self.spec["steps"])
        prompt_key = self.spec.get("prompt_condition")
        if prompt_key:
            prompt = (condition or {}).get(prompt_key) or self.spec.get("default_prompt")
            if not prompt:
                raise PipelineCardError(f"model {self.card.id!r} needs a prompt: --condition {prompt_key}=TEXT")
            kwargs["prompt"] = [str(prompt)] * len(seeds)
            height, width = self.card.image_size[-2:]
            kwargs.update(height=height, width=width)
            if self.spec.get("guidance") is not None:
                kwargs["guidance_scale"] = float(self.spec["guidance"])
        else:
            kwargs["batch_size"] = len(seeds)
        with torch.inference_mode():
            images = np.asarray(self.pipe(**kwargs).images, dtype=np.float32)
        if images.ndim == 3:
            images = images[..., None]
        if images.shape[-1] != self.card.channels and self.card.channels == 1:
            images = images.mean(axis=-1, keepdims=True)
        return Samples(images=np.ascontiguousarray(np.clip(images, 0.0, 1.0)))


def load(card: ModelCard, device: str) -> DiffusersGenerator:
    return DiffusersGenerator(card, device)
