"""Tiny ONNX generator graphs built with the ``onnx`` package, for the tests of the generic runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LATENT = 16


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def noise_graph(path: Path, *, layout: str = "NCHW", batch: str | int = "n", latent: str | int = LATENT) -> Path:
    """z (N, 16) -> tanh(z @ W) reshaped to a 4x4 single-channel image, NCHW or NHWC."""
    weight = np.random.default_rng(1).standard_normal((LATENT, LATENT)).astype(np.float32) / 4
    shape = [0, 1, 4, 4] if layout == "NCHW" else [0, 4, 4, 1]
    nodes = [
        helper.make_node("MatMul", ["z", "w"], ["h"]),
        helper.make_node("Tanh", ["h"], ["t"]),
        helper.make_node("Reshape", ["t", "shape"], ["images"]),
    ]
    graph = helper.make_graph(
        nodes, "noise",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, latent])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, *shape[1:]])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.array(shape, np.int64), "shape")],
    )
    return _save(graph, path)


def conditional_graph(path: Path) -> Path:
    """Inputs z (N, 16) and ``lesion`` int64 (N,): images = tanh(z) + lesion, so the condition shifts every pixel."""
    nodes = [
        helper.make_node("Tanh", ["z"], ["t"]),
        helper.make_node("Cast", ["lesion"], ["c"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["c", "axis"], ["c2"]),
        helper.make_node("Add", ["t", "c2"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["images"]),
    ]
    graph = helper.make_graph(
        nodes, "conditional",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", LATENT]),
         helper.make_tensor_value_info("lesion", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 1, 4, 4])],
        [numpy_helper.from_array(np.array([1], np.int64), "axis"), numpy_helper.from_array(np.array([0, 1, 4, 4], np.int64), "shape")],
    )
    return _save(graph, path)


def masked_graph(path: Path) -> Path:
    """z -> images tanh(z) and masks (z > 0) as int64 labels, both NCHW 4x4."""
    nodes = [
        helper.make_node("Tanh", ["z"], ["t"]),
        helper.make_node("Reshape", ["t", "shape"], ["images"]),
        helper.make_node("Greater", ["z", "zero"], ["g"]),
        helper.make_node("Cast", ["g"], ["gi"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["gi", "shape"], ["masks"]),
    ]
    graph = helper.make_graph(
        nodes, "masked",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", LATENT])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 1, 4, 4]),
         helper.make_tensor_value_info("masks", TensorProto.INT64, ["n", 1, 4, 4])],
        [numpy_helper.from_array(np.array([0, 1, 4, 4], np.int64), "shape"), numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    return _save(graph, path)
