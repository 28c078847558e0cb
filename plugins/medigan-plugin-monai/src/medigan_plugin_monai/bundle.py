"""A MONAI bundle folder read directly as a medigan model: ``configs/metadata.json`` and ``configs/inference.json``
(or ``inference.yaml``, read with ``yaml.safe_load``) become a card, ``models/`` holds its weights.

Only data is read, never run: the network comes from ``network_def`` (a ``_target_`` naming one of the runner's MONAI
network classes, its other keys the arguments), the scheduler from ``scheduler``, an optional autoencoder from
``autoencoder_def``; an argument that is a ``@name`` reference takes the plain value of that top-level key, and any
``$`` expression is refused. The weights files (``models/model.pt`` or ``models/model.safetensors``, and
``models/autoencoder.pt`` for an autoencoder) are pinned by the sha256 they have when the folder is registered and
checked again when the model loads. Imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Folders of MONAI bundles to register as models (separated by the path separator).
BUNDLES_ENV = "MEDIGAN_MONAI_BUNDLES"

#: network_data_format modality (DICOM-like codes or words) -> medigan card modality
_MODALITIES = {"mr": "mri", "mri": "mri", "ct": "ct", "xr": "xray", "dx": "xray", "cr": "xray", "xray": "xray",
               "mg": "mammography", "us": "ultrasound", "pt": "pet", "sm": "histology", "es": "endoscopy"}


class BundleFolderError(ValueError):
    """A bundle folder that cannot be read as a model; the message says what is missing or wrong."""


def _load(path: Path) -> Any:
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    try:
        import yaml
    except ImportError:
        raise BundleFolderError(f"{path} is YAML and PyYAML is not installed: `pip install pyyaml`, or convert it to "
                                f"{path.with_suffix('.json').name}") from None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _config(folder: Path, name: str) -> dict[str, Any]:
    for suffix in (".json", ".yaml", ".yml"):
        path = folder / "configs" / f"{name}{suffix}"
        if path.is_file():
            try:
                data = _load(path)
            except (OSError, ValueError) as exc:
                raise BundleFolderError(f"{path} cannot be read: {exc}") from None
            if not isinstance(data, dict):
                raise BundleFolderError(f"{path} holds {type(data).__name__}, not a mapping")
            return data
    raise BundleFolderError(f"bundle {folder} has no configs/{name}.json (nor .yaml): a MONAI bundle needs "
                            f"configs/metadata.json, configs/inference.json and models/")


def _resolve(value: Any, config: Mapping[str, Any], where: str) -> Any:
    """``value`` with ``@name`` references to plain top-level values replaced; expressions refused."""
    if isinstance(value, str) and value.startswith("@"):
        key = value[1:]
        if key not in config or isinstance(config[key], str) and config[key].startswith(("$", "@", "%")):
            raise BundleFolderError(f"{where} is {value!r}: a reference medigan can only follow to a plain value; "
                                    "write the value in inference.json")
        return _resolve(config[key], config, where)
    if isinstance(value, str) and value.startswith(("$", "%")):
        raise BundleFolderError(f"{where} is {value!r}, a MONAI config expression: medigan never evaluates "
                                "bundle expressions; write the value itself")
    if isinstance(value, list):
        return [_resolve(v, config, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {k: _resolve(v, config, f"{where}.{k}") for k, v in value.items()}
    return value


def _component(config: Mapping[str, Any], key: str, folder: Path) -> dict[str, Any] | None:
    spec = config.get(key)
    if spec is None:
        return None
    if not isinstance(spec, Mapping) or not isinstance(spec.get("_target_"), str):
        raise BundleFolderError(f"bundle {folder}: inference config '{key}' must be a mapping with a '_target_' class")
    args = {k: _resolve(v, config, f"{key}.{k}") for k, v in spec.items() if not k.startswith("_")}
    return {"class": spec["_target_"].rsplit(".", 1)[-1], "args": args}


def _weights_file(folder: Path, stem: str) -> Path | None:
    return next((folder / "models" / f"{stem}{suffix}" for suffix in (".safetensors", ".pt")
                 if (folder / "models" / f"{stem}{suffix}").is_file()), None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64].strip("-_")
    return slug or "monai-bundle"


def bundle_card(folder: str | Path) -> dict[str, Any]:
    """The medigan card of the MONAI bundle in ``folder``; BundleFolderError when it cannot be one."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise BundleFolderError(f"MONAI bundle folder {folder} does not exist")
    metadata = _config(folder, "metadata")
    inference = _config(folder, "inference")
    diffusion = _component(inference, "network_def", folder)
    scheduler = _component(inference, "scheduler", folder)
    if diffusion is None or scheduler is None:
        raise BundleFolderError(f"bundle {folder}: configs/inference has no 'network_def' and 'scheduler': medigan runs "
                                "diffusion bundles (a DiffusionModelUNet and a MONAI scheduler)")
    model_file = _weights_file(folder, "model")
    if model_file is None:
        raise BundleFolderError(f"bundle {folder} has no models/model.pt (nor model.safetensors)")
    weights = [{"url": model_file.as_uri(), "sha256": _sha256(model_file), "filename": model_file.name}]
    diffusion["weights"] = model_file.name
    section: dict[str, Any] = {"bundle": folder.name, "source": folder.as_uri(), "diffusion": diffusion,
                               "scheduler": scheduler}
    autoencoder = _component(inference, "autoencoder_def", folder)
    if autoencoder is not None:
        auto_file = _weights_file(folder, "autoencoder")
        if auto_file is None:
            raise BundleFolderError(f"bundle {folder} defines autoencoder_def but has no models/autoencoder.pt")
        weights.append({"url": auto_file.as_uri(), "sha256": _sha256(auto_file), "filename": auto_file.name})
        autoencoder["weights"] = auto_file.name
        section["autoencoder"] = autoencoder
        if isinstance(inference.get("latent_shape"), list):
            section["latent_shape"] = _resolve(inference["latent_shape"], inference, "latent_shape")
    steps = _resolve(inference.get("num_inference_steps", scheduler["args"].get("num_train_timesteps", 1000)),
                     inference, "num_inference_steps")
    section["scheduler"]["inference_steps"] = int(steps)
    output = ((metadata.get("network_data_format") or {}).get("outputs") or {}).get("pred") or {}
    spatial_dims = int(diffusion["args"].get("spatial_dims", 2))
    shape = output.get("spatial_shape") or []
    if not (isinstance(shape, list) and len(shape) >= spatial_dims and all(isinstance(v, int) for v in shape)):
        raise BundleFolderError(f"bundle {folder}: metadata network_data_format.outputs.pred.spatial_shape must list the "
                                f"{spatial_dims} sizes of the generated image, got {shape!r}")
    value_range = output.get("value_range")
    if isinstance(value_range, list) and len(value_range) == 2 and value_range[0] != value_range[1]:
        section["output_range"] = [float(v) for v in value_range]
    medigan = metadata.get("medigan") if isinstance(metadata.get("medigan"), Mapping) else {}
    modality = str(output.get("modality") or medigan.get("modality") or "other").strip().lower()
    task = str(metadata.get("task") or folder.name)
    license_file = folder / "docs" / "license.txt"
    card = {
        "id": str(medigan.get("id") or _slug(str(metadata.get("name") or folder.name))),
        "name": str(metadata.get("name") or task),
        "version": str(metadata.get("version") or "0.0.0"),
        "description": str(metadata.get("description") or task) or task,
        "framework": "pytorch",
        "modality": _MODALITIES.get(modality, re.sub(r"[^a-z0-9_+-]", "-", modality) or "other"),
        "image_size": [int(v) for v in shape[-spatial_dims:]],
        "channels": int(output.get("num_channels") or diffusion["args"].get("out_channels", 1)),
        "license": str(metadata.get("license") or (f"see {license_file}" if license_file.is_file()
                                                    else "not stated by the bundle")),
        "architecture": f"MONAI bundle: {diffusion['class']} with {scheduler['class']}",
        "dataset": str(metadata.get("data_source") or ""),
        "citation": "; ".join(map(str, metadata.get("references") or [])),
        "tags": ["monai", "bundle", "local"],
        "weights": weights,
        "monai": section,
    }
    return card
