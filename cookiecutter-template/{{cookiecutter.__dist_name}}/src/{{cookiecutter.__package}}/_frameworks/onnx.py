"""The generator on ONNX Runtime: runs the network the card's weights entry names, with onnxruntime alone.

The card names ``generator.onnx``, shipped in this package and UNTRAINED: ``scripts/build_placeholder_onnx.py`` built
it with random weights from a fixed seed when the project was created. Replace it with your trained network exported
to ONNX (for example ``torch.onnx.export``) with one input of shape (batch, features) and one output of shape
(batch, channels, *image size), and update the sha256 and size in the card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from .network import network_inputs, to_samples, weights_file

WEIGHTS_SUFFIX = ".onnx"


class Generator:
    """The medigan generator object: ``generate(seeds, condition=, inputs=)`` → images (and masks).

    Its contract is the Protocol ``medigan_host.protocols.Generator``, which the host checks when it loads the model
    (``medigan check`` tests the behaviour behind it); see the plugin contract, docs/plugins.md."""

    def __init__(self, card: Any, device: str, weights: Path | None = None) -> None:
        if weights is None:
            raise ValueError("the card names no ONNX file in its weights: ship the network in the package and name it "
                             "there (package://...), or publish it and give its url and sha256")
        self.card = card
        self.path = Path(weights)
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            options = {"device_id": int(device.partition(":")[2] or 0)}
            providers.insert(0, ("CUDAExecutionProvider", options))  # type: ignore[arg-type]
        session_options = onnxruntime.SessionOptions()
        session_options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(self.path), session_options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> dict:
        x = network_inputs(self.card, seeds, condition)
        (logits,) = self.session.run(None, {self.input_name: x})
        return to_samples(self.card, np.moveaxis(logits, 1, -1))

    def save_weights(self, path: str | Path) -> None:
        """Write the network (the .onnx file this generator runs) to ``path``."""
        Path(path).write_bytes(self.path.read_bytes())


def load(card: Any, device: str) -> Generator:
    """The loader named in the plugin's registration: opens the network on ``device``."""
    return Generator(card, device, weights_file(card))
