"""A medigan card in other ecosystems' forms: a Hugging Face model card (README with YAML metadata and the metrics as
``model-index``), a MONAI bundle ``metadata.json``, and the JSON Schema of medigan's own card (``docs/card.schema.json``).

Nothing here imports a framework; YAML is written as JSON values (valid YAML 1.2), so no YAML library is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..cards import ModelCard, card_schema

__all__ = ["EXPORT_FORMATS", "MONAI_GENERATOR_SCHEMA", "card_json_schema", "check_bundle_model", "export_card",
           "hf_model_card", "monai_inference", "monai_metadata", "write_monai_bundle"]

EXPORT_FORMATS = ("hf", "monai", "json-schema")
#: SPDX ids the Hub knows under its own lower-case names; anything else is exported as "other" with its name.
_HUB_LICENSES = {"mit", "apache-2.0", "bsd-3-clause", "bsd-2-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0",
                 "cc-by-nc-sa-4.0", "cc0-1.0", "gpl-3.0", "lgpl-3.0", "openrail", "openrail++", "creativeml-openrail-m",
                 "agpl-3.0", "mpl-2.0", "unlicense", "cc-by-nc-nd-4.0", "bigscience-openrail-m"}


def card_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a medigan card: :func:`medigan_host.cards.card_schema`, generated from the
    field declarations the card validator uses."""
    return card_schema()


def hf_model_card(card: ModelCard, *, plugin: str | None = None) -> str:
    """A Hugging Face model card: README.md text with YAML metadata (licence, tags, library, pipeline tag, and
    the card's metrics as ``model-index``) and a body made from the card."""
    license_id = card.license.strip().lower()
    meta: dict[str, Any] = {}
    if license_id in _HUB_LICENSES:
        meta["license"] = license_id
    else:
        meta.update(license="other", license_name=card.license)
    library = {"pytorch": "pytorch", "tensorflow": "keras", "onnx": "onnx"}.get(card.framework)
    if "monai" in card.extra:
        library = "monai"
    elif "diffusers" in card.extra:
        library = "diffusers"
    if library:
        meta["library_name"] = library
    meta["pipeline_tag"] = "image-to-image" if card.needs_inputs else (
        "text-to-image" if _takes_prompt(card) else "unconditional-image-generation")
    meta["tags"] = ["medical-imaging", "medigan", card.modality, *(t for t in card.tags if t not in (card.modality,))]
    results = _model_index_metrics(card)
    if results:
        meta["model-index"] = [{"name": card.id, "results": [{
            "task": {"type": meta["pipeline_tag"], "name": "Image generation"},
            "dataset": {"name": card.dataset or "see the card", "type": card.modality},
            "metrics": results}]}]
    lines = ["---"]
    lines += [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in meta.items()]
    lines += ["---", "", f"# {card.name}", "", card.description, ""]
    facts = [("medigan id", card.id), ("version", card.version), ("modality", card.modality), ("anatomy", card.anatomy),
             ("output", f"{'x'.join(map(str, card.image_size))}, {card.channels} channel(s), {card.outputs}"),
             ("framework", card.framework), ("architecture", card.architecture), ("training data", card.dataset),
             ("licence", card.license), ("plugin", plugin or "")]
    lines += [f"- **{key}**: {value}" for key, value in facts if value]
    if card.conditions:
        lines += ["", "## Conditions", ""]
        lines += [f"- `{name}`: {', '.join(map(str, values))}" for name, values in card.conditions.items()]
    if card.extra.get("caveats"):
        lines += ["", "## Limitations", "", str(card.extra["caveats"])]
    lines += ["", "## Use with medigan", "", "```bash", f"medigan generate {card.id} -n 8 --seed 0 -o out/", "```"]
    if card.citation:
        lines += ["", "## Citation", "", card.citation + (f" (doi:{card.doi})" if card.doi else "")]
    return "\n".join(lines) + "\n"


def _takes_prompt(card: ModelCard) -> bool:
    spec = card.extra.get("diffusers")
    return isinstance(spec, Mapping) and bool(spec.get("prompt_condition"))


def _model_index_metrics(card: ModelCard) -> list[dict[str, Any]]:
    out = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            metric = card.metric(name)
            if metric is not None:
                out.append({"type": name.lower(), "value": metric["value"], "name": name.upper()})
            elif isinstance(value, Mapping):
                walk(value, f"{name}.")

    walk(card.metrics, "")
    return out


#: MONAI's metadata schema for generative bundles (a latent input, an image output), the one monai.bundle.verify_metadata
#: checks an exported bundle against.
MONAI_GENERATOR_SCHEMA = ("https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
                          "meta_schema_generator_20220718.json")
#: The Python package each card framework needs, for the bundle's package versions.
_FRAMEWORK_PACKAGES = {"pytorch": "torch", "tensorflow": "tensorflow", "onnx": "onnxruntime", "jax": "jax"}


def _installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (read from its metadata, nothing imported), or None."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _packages(card: ModelCard, distribution: str | None, plugin_version: str | None) -> dict[str, str]:
    """The packages a bundle of ``card`` needs besides MONAI, PyTorch and NumPy, at the versions installed here."""
    from .._version import __version__

    packages = {"medigan-host": __version__}
    if distribution and plugin_version:
        packages[distribution] = plugin_version
    framework = _FRAMEWORK_PACKAGES.get(card.framework)
    if framework and framework != "torch":
        for name in (framework, "tensorflow-cpu") if framework == "tensorflow" else (framework,):
            version = _installed_version(name)
            if version:
                packages[name] = version
                break
    return packages


def monai_metadata(card: ModelCard, *, plugin_version: str | None = None, distribution: str | None = None,
                   plugin: str | None = None) -> dict[str, Any]:
    """A MONAI bundle ``configs/metadata.json`` for the card, following MONAI's metadata schema for generators
    (:data:`MONAI_GENERATOR_SCHEMA`): a ``latent`` input, a ``pred`` image output. The MONAI, PyTorch and NumPy
    versions are the ones installed where it is exported (empty when one is not installed); the packages that run it
    (medigan-host, the model's plugin distribution, its framework) are listed with their versions."""
    from .._version import __version__

    spatial = list(card.image_size)
    section = card.extra.get("monai") if isinstance(card.extra.get("monai"), Mapping) else {}
    value_range = list(section.get("output_range", [0, 1])) if section else [0, 1]
    output = {"type": "image", "format": "magnitude", "modality": card.modality, "num_channels": card.channels,
              "spatial_shape": spatial, "dtype": "float32", "value_range": value_range, "is_patch_data": False,
              "channel_def": {str(i): f"channel {i}" for i in range(card.channels)} if card.channels > 1 else {"0": "image"}}
    latent_shape = list(section.get("latent_shape") or [1]) if section else [1]
    inputs: dict[str, Any] = {"latent": {
        "type": "tuples", "format": "latent", "num_channels": 0, "spatial_shape": latent_shape, "dtype": "float32",
        "value_range": [], "is_patch_data": False,
        "channel_def": {"0": "drawn from the per-sample seed (medigan_host.sample_seed(seed, index)): the seed is the "
                             "input"}}}
    if card.conditions:
        inputs["condition"] = {"type": "tabular", "format": "conditions", "num_channels": len(card.conditions),
                               "spatial_shape": [len(card.conditions)], "dtype": "float32", "value_range": [],
                               "is_patch_data": False, "channel_def": {str(i): name for i, name in enumerate(card.conditions)}}
    packages = _packages(card, distribution, plugin_version)
    metadata = {
        "schema": MONAI_GENERATOR_SCHEMA,
        "version": card.version,
        "changelog": {card.version: f"exported from medigan card {card.id} by medigan-host {__version__}"},
        "monai_version": _installed_version("monai") or "",
        "pytorch_version": _installed_version("torch") or "",
        "numpy_version": _installed_version("numpy") or "",
        "optional_packages_version": packages,
        "required_packages_version": packages,
        "name": card.name,
        "task": f"{card.modality} image synthesis" + (f" ({card.anatomy})" if card.anatomy else ""),
        "description": card.description,
        "authors": card.citation or "see the medigan card",
        "copyright": f"Licence: {card.license}",
        "data_source": card.dataset,
        "data_type": "nibabel",
        "image_classes": f"{card.channels}-channel {card.modality} {'volume' if card.ndim == 3 else 'image'}",
        "intended_use": str(card.extra.get("caveats") or "Research use; not for clinical use."),
        "references": [card.citation] if card.citation else [],
        "license": card.license,
        "network_data_format": {"inputs": inputs, "outputs": {"pred": output}},
        "medigan": {"id": card.id, "model_version": card.version, "modality": card.modality, "framework": card.framework,
                    "plugin": plugin, "plugin_distribution": distribution},
    }
    results = _model_index_metrics(card)
    if results:
        metadata["eval_metrics"] = {m["type"]: m["value"] for m in results}
    return metadata


def monai_inference(card: ModelCard) -> dict[str, Any]:
    """A bundle ``configs/inference.json`` that generates ``num_samples`` samples of the card's model with medigan
    (which must be installed with the model's plugin), as NIfTI files under ``output_dir``: ``python -m monai.bundle
    run --config_file configs/inference.json`` (``--num_samples 8 --seed 3`` to change them)."""
    return {
        "imports": ["$import medigan_host", "$import medigan_host.catalog.export"],
        "bundle_root": ".",
        "model_id": card.id,
        "model_version": card.version,
        "num_samples": 4,
        "seed": 0,
        "output_format": "nifti",
        "output_dir": "$@bundle_root + '/samples'",
        "device": "auto",
        "initialize": ["$medigan_host.catalog.export.check_bundle_model(@model_id, @model_version)"],
        "run": ["$medigan_host.generate(@model_id, @num_samples, @output_dir, seed=@seed, format=@output_format, "
                "device=@device, overwrite=True)"],
        "finalize": [],
    }


def check_bundle_model(model_id: str, version: str) -> None:
    """What an exported bundle's ``initialize`` runs: the model must be installed, at the version it was exported at."""
    from ..api import get_card
    from ..errors import MediganUsageError

    installed = get_card(model_id).version
    if installed != version:
        raise MediganUsageError(f"this MONAI bundle was exported for {model_id} {version}, but {installed} is installed: "
                                f"install that version of its plugin, or export the bundle again")


def write_monai_bundle(card: ModelCard, folder: Any, *, plugin: str | None = None, plugin_version: str | None = None,
                       distribution: str | None = None) -> list[Any]:
    """Write a MONAI bundle of the card into ``folder``: ``configs/metadata.json`` (:func:`monai_metadata`),
    ``configs/inference.json`` (:func:`monai_inference`), ``models/`` (empty: the weights stay where medigan keeps and
    verifies them) and ``docs/README.md``. Returns the files written (each replaced atomically)."""
    from pathlib import Path

    from ..atomic import write_text

    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file; give a folder for the bundle")
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    (root / "docs").mkdir(exist_ok=True)
    files = {
        root / "configs" / "metadata.json": monai_metadata(card, plugin_version=plugin_version, distribution=distribution,
                                                           plugin=plugin),
        root / "configs" / "inference.json": monai_inference(card),
    }
    for path, data in files.items():
        write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    readme = root / "docs" / "README.md"
    write_text(readme, hf_model_card(card, plugin=plugin).split("---\n", 2)[-1].lstrip()
               + "\n## Run as a MONAI bundle\n\n`python -m monai.bundle run --config_file configs/inference.json` "
                 "generates samples with medigan (installed with the model's plugin, see configs/metadata.json).\n")
    return [*files, readme]


def export_card(card: ModelCard | None, fmt: str, *, plugin: str | None = None, plugin_version: str | None = None,
                distribution: str | None = None) -> str:
    """The text ``medigan card export`` prints: ``hf`` (README.md), ``monai`` (metadata.json) or ``json-schema``."""
    if fmt == "json-schema":
        return json.dumps(card_json_schema(), indent=2) + "\n"
    if card is None:
        raise ValueError(f"format {fmt!r} needs a model")
    if fmt == "hf":
        return hf_model_card(card, plugin=plugin)
    if fmt == "monai":
        return json.dumps(monai_metadata(card, plugin_version=plugin_version, distribution=distribution, plugin=plugin),
                          indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
