"""What each model framework needs installed, and which device it runs on."""

from __future__ import annotations

import importlib.util
import re

from .errors import DeviceError, FrameworkMissingError, MediganUsageError

#: framework -> (module to import, pip requirement that provides it)
FRAMEWORK_PACKAGES = {
    "pytorch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "onnx": ("onnxruntime", "onnxruntime"),
    "numpy": ("numpy", "numpy"),
    "jax": ("jax", "jax"),
}
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")
#: Importable module -> pip requirement, where they differ or a plugin commonly needs one besides its framework.
PIP_NAMES = {
    "torch": "torch", "tensorflow": "tensorflow", "onnxruntime": "onnxruntime", "jax": "jax", "keras": "keras",
    "safetensors": "safetensors", "cv2": "opencv-python-headless", "PIL": "pillow", "skimage": "scikit-image",
    "sklearn": "scikit-learn", "yaml": "pyyaml",
}


def require_framework(framework: str, model_id: str, what: str = "model") -> None:
    """Raise FrameworkMissingError, naming the pip command, when the framework is not importable (``what``: the kind
    of thing that needs it, as named in the message)."""
    if framework not in FRAMEWORK_PACKAGES:
        return
    module, requirement = FRAMEWORK_PACKAGES[framework]
    if importlib.util.find_spec(module) is None:
        raise FrameworkMissingError(
            f"{what} {model_id!r} needs {framework}, which is not installed: run `pip install {requirement}` "
            f"(in the environment of this Python) and try again"
        )


def pip_requirement(module: str) -> str:
    """The pip requirement that provides the importable ``module`` (``cv2`` -> ``opencv-python-headless``)."""
    top = module.split(".")[0]
    return PIP_NAMES.get(top, top.replace("_", "-"))


def missing_module_error(exc: ModuleNotFoundError, where: str, own_package: str = "") -> FrameworkMissingError | None:
    """A FrameworkMissingError naming the pip command for a package a loader could not import.

    None when the missing module is part of ``own_package`` (the plugin's own code: a broken plugin, not a
    missing dependency) or has no name.
    """
    name = exc.name or ""
    top = name.split(".")[0]
    if not top or (own_package and top == own_package.split(".")[0]):
        return None
    return FrameworkMissingError(f"{where} needs the Python package {top!r}, which is not installed: run "
                                 f"`pip install {pip_requirement(top)}` (in the environment of this Python) and try again")


def check_device(device: str) -> str:
    """Validate a device string: auto, cpu, cuda, cuda:N or mps."""
    if not isinstance(device, str) or not _DEVICE.match(device.strip().lower()):
        raise MediganUsageError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N, mps")
    return device.strip().lower()


def resolve_device(device: str, framework: str) -> str:
    """Turn ``auto`` into a concrete device for ``framework`` (a GPU when one is visible, else cpu)."""
    device = check_device(device)
    if device != "auto":
        check_available(device, framework)
        return device
    if framework == "pytorch":
        import torch

        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if framework == "tensorflow":
        tf = import_tensorflow()

        return "cuda" if tf.config.list_physical_devices("GPU") else "cpu"
    if framework == "onnx":
        import onnxruntime

        return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
    return "cpu"


#: Environment TensorFlow reads when it is imported: quiet start-up, and oneDNN off so results do not depend on which
#: kernels were picked (oneDNN rounds differently). Values the user set win.
TENSORFLOW_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def import_tensorflow():  # noqa: ANN201 - the module itself
    """Import TensorFlow with :data:`TENSORFLOW_DEFAULTS` applied where the user left them unset."""
    import os

    for name, value in TENSORFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    import tensorflow

    return tensorflow


def check_available(device: str, framework: str) -> None:
    """Raise DeviceError when ``framework`` cannot run on ``device`` here (no GPU, too few GPUs, no MPS).

    Frameworks the host cannot query (numpy, jax, other) are left to their plugins.
    """
    if device == "cpu":
        return
    if framework == "pytorch":
        import torch

        if device == "mps":
            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                raise _unavailable(device, "PyTorch", "this machine or torch build has no Apple MPS support")
            return
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        build = f"torch {torch.__version__} is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
        _check_gpu_index(device, count, "PyTorch", build)
    elif framework == "tensorflow":
        if device == "mps":
            raise _unavailable(device, "TensorFlow", "medigan runs TensorFlow models on cpu or cuda[:N]")
        tf = import_tensorflow()

        _check_gpu_index(device, len(tf.config.list_physical_devices("GPU")), "TensorFlow", "TensorFlow sees no GPU")
    elif framework == "onnx":
        import onnxruntime

        if device == "mps":
            raise _unavailable(device, "onnxruntime", "medigan runs ONNX models on cpu or cuda[:N]")
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise _unavailable(device, "onnxruntime", "its CUDAExecutionProvider is not installed (`pip install "
                                                      "onnxruntime-gpu` provides it)")


def _check_gpu_index(device: str, count: int, label: str, reason_none: str) -> None:
    index = int(device.partition(":")[2] or 0)
    if count == 0:
        raise _unavailable(device, label, reason_none)
    if index >= count:
        gpus = ", ".join(f"cuda:{i}" for i in range(count))
        raise _unavailable(device, label, f"it sees {count} GPU{'s' if count > 1 else ''} ({gpus})")


def _unavailable(device: str, label: str, reason: str) -> DeviceError:
    return DeviceError(f"device {device!r} is not available to {label}: {reason}. Use --device cpu, or --device auto "
                       "to take a GPU only when there is one")
