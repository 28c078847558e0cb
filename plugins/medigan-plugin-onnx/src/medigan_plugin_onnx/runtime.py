"""The generic ONNX generator: seeded latents in, images out, on onnxruntime alone.

The graph contract (see the plugin's README):

- one float latent input of shape (N, *latent_shape), fed with ``medigan_host.latents(seeds, latent_shape)``;
- for each condition on the card, an int64 input of that name and shape (N,), holding the index of the value in the
  card's list of allowed values (drawn from the seed when the caller gives no value);
- the first output is the image batch in ``onnx.layout`` with values in ``onnx.output_range``; for cards with
  ``outputs: image+mask`` the second output holds integer label masks in the same layout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from medigan_host import FrameworkMissingError, MediganUsageError, ModelCard, PluginError, Samples, latents

from .files import model_file
from .spec import OnnxSpec, parse_spec

#: Mixed into a sample's seed to draw the conditions the caller left open, apart from the latent stream.
CONDITION_STREAM = 0x636F6E64
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def providers_for(device: str) -> list[Any]:
    """onnxruntime execution providers for a concrete medigan device (cpu, cuda, cuda:N)."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise FrameworkMissingError(f"device {device!r} needs onnxruntime with CUDA, which is not installed: run "
                                        "`pip install onnxruntime-gpu` (instead of onnxruntime), or use --device cpu")
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise MediganUsageError(f"ONNX models run on cpu or cuda[:N], not {device!r}; use --device cpu")


class OnnxGenerator:
    """A medigan generator object over one ONNX graph (see the module docstring for the graph contract)."""

    def __init__(self, path: Path, card: ModelCard, device: str = "cpu", spec: OnnxSpec | None = None,
                 session_options: ort.SessionOptions | None = None) -> None:
        self.card = card
        self.spec = spec or parse_spec(card)
        if card.needs_inputs:
            raise PluginError(f"model {card.id!r}: the generic ONNX runner generates from noise; a model with input "
                              f"{card.input!r} needs a loader of its own")
        options = session_options or ort.SessionOptions()
        options.log_severity_level = 3
        threads = os.environ.get("OMP_NUM_THREADS", "").strip()
        if session_options is None and threads.isdigit() and int(threads) > 0:
            options.intra_op_num_threads = int(threads)  # a process given N cores (e.g. a Ray worker) uses N threads
        providers = providers_for(device)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
            raise PluginError(f"model {card.id!r}: onnxruntime cannot load {str(path)!r}: {exc}") from exc
        self.device = device
        self._bind_inputs()
        self._bind_outputs()

    # -- graph checks ----------------------------------------------------------------------------------
    def _bind_inputs(self) -> None:
        card = self.card
        inputs = {i.name: i for i in self.session.get_inputs()}
        missing = [name for name in card.conditions if name not in inputs]
        if missing:
            raise PluginError(f"model {card.id!r}: the card declares condition(s) {missing} but the ONNX graph has no input "
                              f"of that name (its inputs: {sorted(inputs)})")
        latent = [i for name, i in inputs.items() if name not in card.conditions]
        if len(latent) != 1:
            raise PluginError(f"model {card.id!r}: the ONNX graph must have exactly one latent input besides the condition "
                              f"inputs, it has {[i.name for i in latent]}")
        self.latent_name = latent[0].name
        if latent[0].type not in _FLOAT_TYPES:
            raise PluginError(f"model {card.id!r}: latent input {self.latent_name!r} has type {latent[0].type}, expected float")
        self.latent_dtype = _FLOAT_TYPES[latent[0].type]
        dims = list(latent[0].shape)[1:]
        if self.spec.latent_shape is not None:
            concrete = [d for d in dims if isinstance(d, int)]
            if len(dims) != len(self.spec.latent_shape) or any(
                    isinstance(d, int) and d != s for d, s in zip(dims, self.spec.latent_shape, strict=True)):
                raise PluginError(f"model {card.id!r}: onnx.latent_shape {list(self.spec.latent_shape)} does not fit the graph's "
                                  f"latent input {list(latent[0].shape)} ({concrete})")
            self.latent_shape = self.spec.latent_shape
        elif dims and all(isinstance(d, int) and d > 0 for d in dims):
            self.latent_shape = tuple(dims)
        else:
            raise PluginError(f"model {card.id!r}: the latent input {self.latent_name!r} has shape {list(latent[0].shape)}; "
                              "give its per-sample shape on the card as onnx.latent_shape, e.g. [100]")
        for name in card.conditions:
            if inputs[name].type != "tensor(int64)":
                raise PluginError(f"model {card.id!r}: condition input {name!r} must be int64 indices, it is {inputs[name].type}")

    def _bind_outputs(self) -> None:
        outputs = self.session.get_outputs()
        wanted = 2 if self.card.has_masks else 1
        if len(outputs) < wanted:
            raise PluginError(f"model {self.card.id!r}: the card declares outputs {self.card.outputs!r}, so the graph needs "
                              f"{wanted} outputs (images{', masks' if wanted == 2 else ''}); it has {len(outputs)}")
        self.output_names = [o.name for o in outputs[:wanted]]

    # -- generation ------------------------------------------------------------------------------------
    def feeds(self, seeds: Sequence[int], condition: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """The graph inputs for ``seeds``: row i depends only on ``seeds[i]`` (and the condition)."""
        feeds = {self.latent_name: latents(seeds, self.latent_shape).astype(self.latent_dtype, copy=False)}
        for name, allowed in self.card.conditions.items():
            if condition and name in condition:
                index = np.full(len(seeds), allowed.index(condition[name]), dtype=np.int64)
            else:
                index = np.array([np.random.default_rng([int(s), CONDITION_STREAM]).integers(len(allowed)) for s in seeds],
                                 dtype=np.int64)
            feeds[name] = index
        return feeds

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> Samples:
        """One sample per seed, as the card declares it."""
        return self._run(self.feeds(seeds, condition))

    def generate_from_latents(self, z: np.ndarray, *, condition: Mapping[str, Any] | None = None) -> Samples:
        """One sample per latent row of ``z`` (N, *latent_shape); a conditional graph needs every condition given."""
        missing = [name for name in self.card.conditions if not condition or name not in condition]
        if missing:
            raise MediganUsageError(f"model {self.card.id!r}: generating from explicit latents needs every condition, "
                                    f"missing {missing} (e.g. --condition {missing[0]}={self.card.conditions[missing[0]][0]})")
        feeds = {self.latent_name: np.ascontiguousarray(z, dtype=self.latent_dtype)}
        for name, allowed in self.card.conditions.items():
            feeds[name] = np.full(len(z), allowed.index(condition[name]), dtype=np.int64)
        return self._run(feeds)

    def _run(self, feeds: dict[str, np.ndarray]) -> Samples:
        results = self.session.run(self.output_names, feeds)
        images = self.to_images(results[0])
        masks = self.to_masks(results[1]) if self.card.has_masks else None
        return Samples(images=images, masks=masks)

    def to_images(self, raw: np.ndarray) -> np.ndarray:
        """Graph output -> (N, [D,] H, W, C) array in the card's dtype (three passes over the data)."""
        images = self._channels_last(raw, "image")  # a view: the first ufunc below does the transposing copy
        low, high = self.spec.output_range
        scale = 1.0 / (high - low)
        unit = np.empty(images.shape, dtype=np.float32)
        np.multiply(images, np.float32(scale), out=unit, casting="unsafe")
        np.subtract(unit, np.float32(low * scale), out=unit)
        np.clip(unit, 0.0, 1.0, out=unit)
        if self.spec.dtype == "float32":
            return unit
        top = 255.0 if self.spec.dtype == "uint8" else 65535.0
        return np.rint(unit * top).astype(self.spec.dtype)

    def to_masks(self, raw: np.ndarray) -> np.ndarray:
        if raw.dtype.kind not in "biu":
            raise PluginError(f"model {self.card.id!r}: the graph's mask output has dtype {raw.dtype}; masks must be integer labels")
        return np.ascontiguousarray(self._channels_last(raw, "mask"))

    def _channels_last(self, raw: np.ndarray, what: str) -> np.ndarray:
        """A channels-last view of a graph output (checked for its number of dimensions)."""
        ndim = self.card.ndim + 2
        if raw.ndim != ndim:
            raise PluginError(f"model {self.card.id!r}: the graph's {what} output has shape {raw.shape}, expected "
                              f"{ndim} dimensions in layout {self.spec.layout}")
        if self.spec.channels_first:
            return raw.transpose(0, *range(2, ndim), 1)
        return raw


def load(card: ModelCard, device: str) -> OnnxGenerator:
    """medigan loader for any card with framework ``onnx`` and an ``onnx`` section."""
    spec = parse_spec(card)
    return OnnxGenerator(model_file(card, spec), card, device, spec)
