"""What each model framework needs installed, and which device it runs on."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

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


#: Where pip finds the CPU builds of PyTorch: the default index's Linux wheels pull several GB of CUDA libraries.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
_HOST_DISTRIBUTION = "medigan-host"


def require_framework(framework: str, model_id: str, what: str = "model") -> None:
    """Raise FrameworkMissingError, naming the pip command, when the framework is not importable (``what``: the kind
    of thing that needs it, as named in the message)."""
    if framework not in FRAMEWORK_PACKAGES:
        return
    module, requirement = FRAMEWORK_PACKAGES[framework]
    if importlib.util.find_spec(module) is None:
        raise FrameworkMissingError(
            f"{what} {model_id!r} needs {framework}, which is not installed: run `{pip_command(requirement)}` "
            f"(in the environment of this Python) and try again"
        )


def missing_packages(framework: str, loader: object = None, distribution: str | None = None) -> list[str]:
    """The pip requirements a model needs that are not installed, all at once, without importing anything.

    A model needs its framework's package, the plugin that holds its loader, that plugin's own requirements, and the
    packages of the extra named after the framework of ``distribution`` (the plugin that registered it) or of the
    loader's plugin (``medigan-plugin-histology-dcgan[torch]``: torch and safetensors). Only metadata and
    ``importlib.util.find_spec`` are read. Models of framework ``other`` run in environments of their own: nothing."""
    if framework == "other":
        return []
    missing: list[str] = []
    module, requirement = FRAMEWORK_PACKAGES.get(framework, (None, None))
    if module and importlib.util.find_spec(module) is None:
        missing.append(requirement)
    target = loader if isinstance(loader, str) else getattr(loader, "__module__", "") or ""
    top = target.split(":")[0].split(".")[0]
    dists = [distribution] if distribution else []
    if top and importlib.util.find_spec(top) is None:
        if top.startswith("medigan_plugin_"):  # a runner plugin (the ONNX runner) holds the loader; else a broken plugin
            missing.append(pip_requirement(top))
    elif top and pip_requirement(top) != distribution:
        dists.append(pip_requirement(top))
    for dist in dists:
        for name in _needed_by(dist, requirement):
            if name not in missing and not _installed(name):
                missing.append(name)
    return missing


def _needed_by(distribution: str, framework_requirement: str | None) -> list[str]:
    """The requirement names of ``distribution`` (but medigan-host), and those of its extras that name
    ``framework_requirement``; [] when it is not installed."""
    from importlib import metadata

    try:
        requires = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return []
    base, extras = [], {}
    for line in requires:
        name = re.split(r"[\[<>=!~;( ]", line.strip(), maxsplit=1)[0].lower()
        extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", line)
        if extra:
            extras.setdefault(extra.group(1), []).append(name)
        elif name != _HOST_DISTRIBUTION:
            base.append(name)
    for extra, names in extras.items():  # the extra named after the framework: histology-dcgan[torch]
        if framework_requirement and extra.lower() in _EXTRA_NAMES.get(framework_requirement, (framework_requirement,)):
            base += [n for n in names if n not in base and n != _HOST_DISTRIBUTION]
    return base


#: Names of a plugin's extra that installs a framework, by the framework's pip requirement.
_EXTRA_NAMES = {"torch": ("torch", "pytorch"), "tensorflow": ("tensorflow", "tensorflow-cpu", "tf"),
                "onnxruntime": ("onnx", "onnxruntime"), "jax": ("jax",)}


def _installed(requirement: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(requirement)
        return True
    except metadata.PackageNotFoundError:
        return importlib.util.find_spec(requirement.replace("-", "_")) is not None


def require_packages(framework: str, model_id: str, loader: object = None, distribution: str | None = None) -> None:
    """Raise FrameworkMissingError naming every missing package of the model at once (see :func:`missing_packages`)."""
    missing = missing_packages(framework, loader, distribution)
    if missing == [FRAMEWORK_PACKAGES.get(framework, (None, None))[1]]:
        require_framework(framework, model_id)  # the framework alone: the message that names it
    if missing:
        raise FrameworkMissingError(
            f"model {model_id!r} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            f"run `{pip_command(*missing)}` (in the environment of this Python) and try again")


def pip_command(*requirements: str) -> str:
    """The ``pip install`` command for ``requirements`` in the form that works here.

    PyTorch comes from its CPU index (a plain ``pip install torch`` pulls CUDA on Linux); the host's extras and the
    plugins of this repository are named by their folder when the host was installed from a clone
    (``pip install ".[formats]"``, ``pip install ./plugins/medigan-plugin-phantoms``), else by their package name.
    """
    clone = _clone_root()
    torch_family, others = [], []
    for requirement in requirements:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()
        if name in _TORCH_FAMILY:
            torch_family.append(requirement)
        else:
            others.append(_from_clone(requirement, name, clone) if clone else _quoted(requirement))
    commands = [f"pip install {' '.join(others)}"] if others else []
    if torch_family:
        commands.append(f"pip install {' '.join(torch_family)} --index-url {TORCH_CPU_INDEX}")
    return " && ".join(commands)


def _quoted(requirement: str) -> str:
    return f'"{requirement}"' if any(c in requirement for c in "[]<>; ") else requirement


def _from_clone(requirement: str, name: str, clone: Path) -> str:
    extras = requirement[len(name):] if requirement[len(name):].startswith("[") else ""
    if name == _HOST_DISTRIBUTION:
        folder = clone
    elif (clone / "plugins" / name / "pyproject.toml").is_file():
        folder = clone / "plugins" / name
    else:
        return _quoted(requirement)
    try:
        shown = folder.relative_to(Path.cwd())
        text = "." if not shown.parts else f"./{shown.as_posix()}"
    except ValueError:
        text = str(folder)
    return _quoted(text + extras) if extras or " " in text else text


def _clone_root() -> Path | None:
    """The repository folder the host was installed from (``pip install .`` or ``-e .``), when it is still there."""
    import json
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        direct = metadata.distribution(_HOST_DISTRIBUTION).read_text("direct_url.json")
        url = urlparse(json.loads(direct or "{}").get("url", ""))
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        return None
    if url.scheme != "file":
        return None
    root = Path(unquote(url.path))
    return root if (root / "pyproject.toml").is_file() and (root / "medigan_host").is_dir() else None


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
                                 f"`{pip_command(pip_requirement(top))}` (in the environment of this Python) and try again")


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
