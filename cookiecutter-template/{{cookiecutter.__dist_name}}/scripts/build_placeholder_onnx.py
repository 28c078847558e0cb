"""Build the UNTRAINED placeholder network src/{{ cookiecutter.__package }}/generator.onnx with the onnx helper API.

Random weights from a fixed seed, in the layout of network.py: a dense layer to a small feature map, transposed
convolutions doubling it, a convolution to the outputs. Writes the file's sha256 and size into the WEIGHTS line of
plugin.py. Needs `pip install onnx` (the plugin itself needs only onnxruntime). Replace the file with your trained,
exported network when you have one.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from medigan_host import ModelCard  # noqa: E402
from {{ cookiecutter.__package }}.network import layout  # noqa: E402
from {{ cookiecutter.__package }}.plugin import CARD  # noqa: E402

OPSET = 17
IR_VERSION = 8


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """He initialisation: keeps the untrained outputs from fading to a constant through the ReLU layers."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def build(seed: int = 0) -> onnx.ModelProto:
    shape = layout(ModelCard.from_dict({k: v for k, v in CARD.items() if k != "weights"}))
    rng = np.random.default_rng(seed)
    spatial = int(np.prod(shape.start))
    kernel = [4] * shape.ndim
    init = [
        numpy_helper.from_array(he_normal(rng, (shape.in_features, shape.widths[0] * spatial), shape.in_features), "dense_w"),
        numpy_helper.from_array(np.zeros(shape.widths[0] * spatial, np.float32), "dense_b"),
        numpy_helper.from_array(np.array([-1, shape.widths[0], *shape.start], np.int64), "feature_shape"),
    ]
    nodes = [helper.make_node("Gemm", ["z", "dense_w", "dense_b"], ["dense"]),
             helper.make_node("Relu", ["dense"], ["dense_relu"]),
             helper.make_node("Reshape", ["dense_relu", "feature_shape"], ["x0"])]
    x = "x0"
    for i, (wide, narrow) in enumerate(zip(shape.widths[:-1], shape.widths[1:], strict=True)):
        fan_in = wide * 2 ** shape.ndim  # a stride-2 kernel of 4 puts 2 taps per axis on each output
        init += [numpy_helper.from_array(he_normal(rng, (wide, narrow, *kernel), fan_in), f"up{i}_w"),
                 numpy_helper.from_array(np.zeros(narrow, np.float32), f"up{i}_b")]
        nodes += [helper.make_node("ConvTranspose", [x, f"up{i}_w", f"up{i}_b"], [f"up{i}"], kernel_shape=kernel,
                                   strides=[2] * shape.ndim, pads=[1] * (2 * shape.ndim)),
                  helper.make_node("Relu", [f"up{i}"], [f"x{i + 1}"])]
        x = f"x{i + 1}"
    init += [numpy_helper.from_array(he_normal(rng, (shape.out_channels, shape.widths[-1], *[3] * shape.ndim),
                                               shape.widths[-1] * 3 ** shape.ndim), "out_w"),
             numpy_helper.from_array(np.zeros(shape.out_channels, np.float32), "out_b")]
    nodes.append(helper.make_node("Conv", [x, "out_w", "out_b"], ["logits"], kernel_shape=[3] * shape.ndim,
                                  pads=[1] * (2 * shape.ndim)))
    graph = helper.make_graph(
        nodes, "generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", shape.in_features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", shape.out_channels, *shape.size])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="medigan plugin template (untrained placeholder)")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def record_in_card(path: Path) -> None:
    """Put the file's sha256 and size into the WEIGHTS line of plugin.py."""
    plugin = path.with_name("plugin.py")
    entry = {"url": "package://{{ cookiecutter.__package }}/" + path.name,
             "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "size": path.stat().st_size}
    line = "WEIGHTS = [{" + ", ".join(f'"{k}": {v!r}'.replace("'", '"') for k, v in entry.items()) + "}]"
    text, count = re.subn(r"^WEIGHTS = .*$", line, plugin.read_text(encoding="utf-8"), count=1, flags=re.M)
    if count != 1:
        sys.exit(f"error: no line starting with 'WEIGHTS = ' in {plugin}; add the weights entry to the card by hand: {entry}")
    plugin.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    target = ROOT / "src" / "{{ cookiecutter.__package }}" / "generator.onnx"
    onnx.save(build(), str(target))
    record_in_card(target)
    print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size} bytes, untrained) and its sha256 into plugin.py")
