"""The ``onnx`` section of a model card: which file holds the graph and how its output maps to images.

```
"onnx": {
    "file": "generator.onnx",                  # which weights entry holds the graph; for folder models, the file
                                               #   beside the card (relative path)
    "sha256": "…64 hex digits…",               # folder models: checked every time the model loads (optional)
    "layout": "NCHW",                          # NCHW (default) or NHWC; NCDHW / NDHWC for 3-D models
    "output_range": [-1, 1],                   # the value range of the graph's image output (default: tanh, [-1, 1])
    "dtype": "float32",                        # what the model returns: float32 in [0, 1] (default), uint8, uint16
    "latent_shape": [100]                      # optional: needed only when the graph's latent input has symbolic dims
}
```

Models shipped by a plugin declare the graph as a card ``weights`` entry (``package://`` for a file inside the plugin,
``https://`` for one downloaded on first use); the host's ``fetch_weights`` verifies it. Only parsing and checking
happen here; nothing imports onnxruntime.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medigan_host import CardError, ModelCard

LAYOUTS = {2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}
DTYPES = ("float32", "uint8", "uint16")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class OnnxSpec:
    """The validated ``onnx`` section of one card."""

    file: str | None
    sha256: str | None
    layout: str
    output_range: tuple[float, float]
    dtype: str
    latent_shape: tuple[int, ...] | None

    @property
    def channels_first(self) -> bool:
        return self.layout[1] == "C"


def parse_spec(card: ModelCard) -> OnnxSpec:
    """Read and check ``card.extra["onnx"]``; raise CardError naming the model and the key when it is wrong."""

    def fail(message: str) -> CardError:
        return CardError("onnx", message, model=card.id)

    if card.framework != "onnx":
        raise fail(f"the ONNX runner only runs cards with framework 'onnx', this one says {card.framework!r}")
    section = card.extra.get("onnx", {})
    if not isinstance(section, Mapping):
        raise fail("must be a dict such as {'file': 'generator.onnx', 'layout': 'NCHW', 'output_range': [-1, 1]}")
    unknown = set(section) - {"file", "sha256", "layout", "output_range", "dtype", "latent_shape"}
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}; allowed: file, sha256, layout, output_range, dtype, latent_shape")
    file = section.get("file")
    if file is not None and (not isinstance(file, str) or not file.strip() or file.startswith(("/", "\\")) or ".." in file.split("/")):
        raise fail(f"file must be a relative path such as 'weights/generator.onnx', got {file!r}")
    sha256 = section.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256.lower())):
        raise fail(f"sha256 must be 64 hexadecimal digits (run `sha256sum FILE`), got {sha256!r}")
    if file is None and not card.weights:
        raise fail("say where the graph is: a card 'weights' entry (package:// for a file shipped in a plugin), or "
                   "'file' for a model kept in a folder")
    allowed_layouts = LAYOUTS[card.ndim]
    layout = str(section.get("layout", allowed_layouts[0])).upper()
    if layout not in allowed_layouts:
        raise fail(f"layout must be one of {', '.join(allowed_layouts)} for a {card.ndim}-D model, got {section.get('layout')!r}")
    output_range = _range(section.get("output_range", (-1.0, 1.0)), fail)
    dtype = section.get("dtype", "float32")
    if dtype not in DTYPES:
        raise fail(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    latent_shape = section.get("latent_shape")
    if latent_shape is not None:
        if isinstance(latent_shape, int) and not isinstance(latent_shape, bool):
            latent_shape = [latent_shape]
        if not isinstance(latent_shape, (list, tuple)) or not latent_shape or not all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in latent_shape):
            raise fail(f"latent_shape must be a list of positive whole numbers such as [100], got {section.get('latent_shape')!r}")
        latent_shape = tuple(latent_shape)
    return OnnxSpec(file, sha256.lower() if sha256 else None, layout, output_range, dtype, latent_shape)


def _range(value: Any, fail) -> tuple[float, float]:
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
          and value[0] < value[1])
    if not ok:
        raise fail(f"output_range must be [low, high] with low < high, e.g. [-1, 1] for tanh or [0, 1], got {value!r}")
    return float(value[0]), float(value[1])
