"""What each model framework needs installed, and which device it runs on."""

from __future__ import annotations

import importlib.util
import re

from .errors import FrameworkMissingError, MediganUsageError

#: framework -> (module to import, pip requirement that provides it)
FRAMEWORK_PACKAGES = {
    "pytorch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "onnx": ("onnxruntime", "onnxruntime"),
    "numpy": ("numpy", "numpy"),
    "jax": ("jax", "jax"),
}
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def require_framework(framework: str, model_id: str) -> None:
    """Raise FrameworkMissingError, naming the pip command, when the framework is not importable."""
    if framework not in FRAMEWORK_PACKAGES:
        return
    module, requirement = FRAMEWORK_PACKAGES[framework]
    if importlib.util.find_spec(module) is None:
        raise FrameworkMissingError(
            f"model {model_id!r} needs {framework}, which is not installed: run `pip install {requirement}` "
            f"(in the environment of this Python) and try again"
        )


def check_device(device: str) -> str:
    """Validate a device string: auto, cpu, cuda, cuda:N or mps."""
    if not isinstance(device, str) or not _DEVICE.match(device.strip().lower()):
        raise MediganUsageError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N, mps")
    return device.strip().lower()


def resolve_device(device: str, framework: str) -> str:
    """Turn ``auto`` into a concrete device for ``framework`` (a GPU when one is visible, else cpu)."""
    device = check_device(device)
    if device != "auto":
        return device
    if framework == "pytorch":
        import torch

        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if framework == "tensorflow":
        import tensorflow as tf

        return "cuda" if tf.config.list_physical_devices("GPU") else "cpu"
    if framework == "onnx":
        import onnxruntime

        return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
    return "cpu"
