"""A medigan card in other ecosystems' forms: a Hugging Face model card (README with YAML metadata and the metrics as
``model-index``), a MONAI bundle ``metadata.json``, and the JSON Schema of medigan's own card (``docs/card.schema.json``).

Nothing here imports a framework; YAML is written as JSON values (valid YAML 1.2), so no YAML library is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..cards import ModelCard, card_schema

__all__ = ["EXPORT_FORMATS", "card_json_schema", "export_card", "hf_model_card", "monai_metadata"]

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


def monai_metadata(card: ModelCard, *, plugin_version: str | None = None) -> dict[str, Any]:
    """A MONAI bundle ``configs/metadata.json`` describing the card (the fields MONAI's metadata schema requires)."""
    from .._version import __version__

    spatial = list(card.image_size)
    value_range = card.extra.get("monai", {}).get("output_range", [0, 1]) if isinstance(card.extra.get("monai"), Mapping) \
        else [0, 1]
    output = {"type": "image", "format": "magnitude", "modality": card.modality, "num_channels": card.channels,
              "spatial_shape": spatial, "dtype": "float32", "value_range": list(value_range), "is_patch_data": False,
              "channel_def": {str(i): f"channel {i}" for i in range(card.channels)} if card.channels > 1 else {"0": "image"}}
    inputs: dict[str, Any] = {"noise": {"type": "noise", "format": "seed", "num_channels": 1, "spatial_shape": [1],
                                        "dtype": "int64", "value_range": [0, 2**63 - 1], "is_patch_data": False,
                                        "channel_def": {"0": "per-sample seed"}}}
    if card.conditions:
        inputs["condition"] = {"type": "tabular", "format": "conditions", "num_channels": len(card.conditions),
                               "spatial_shape": [len(card.conditions)], "dtype": "float32", "value_range": [],
                               "is_patch_data": False, "channel_def": {str(i): name for i, name in enumerate(card.conditions)}}
    metadata = {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json",
        "version": card.version,
        "changelog": {card.version: f"exported from medigan card {card.id}"},
        "monai_version": str(card.extra.get("monai_version", "1.4.0")),
        "pytorch_version": str(card.extra.get("pytorch_version", "2.1.0")),
        "numpy_version": str(card.extra.get("numpy_version", "1.24.0")),
        "required_packages_version": {"medigan-host": __version__, **({"medigan-plugin": plugin_version}
                                                                         if plugin_version else {})},
        "name": card.name,
        "task": f"{card.modality} image synthesis" + (f" ({card.anatomy})" if card.anatomy else ""),
        "description": card.description,
        "authors": card.citation or "see the medigan card",
        "copyright": f"Licence: {card.license}",
        "data_source": card.dataset,
        "image_classes": f"{card.channels}-channel {card.modality} {'volume' if card.ndim == 3 else 'image'}",
        "intended_use": str(card.extra.get("caveats") or "Research use; not for clinical use."),
        "references": [card.citation] if card.citation else [],
        "license": card.license,
        "network_data_format": {"inputs": inputs, "outputs": {"pred": output}},
    }
    results = _model_index_metrics(card)
    if results:
        metadata["eval_metrics"] = {m["type"]: m["value"] for m in results}
    return metadata


def export_card(card: ModelCard | None, fmt: str, *, plugin: str | None = None, plugin_version: str | None = None) -> str:
    """The text ``medigan card export`` prints: ``hf`` (README.md), ``monai`` (metadata.json) or ``json-schema``."""
    if fmt == "json-schema":
        return json.dumps(card_json_schema(), indent=2) + "\n"
    if card is None:
        raise ValueError(f"format {fmt!r} needs a model")
    if fmt == "hf":
        return hf_model_card(card, plugin=plugin)
    if fmt == "monai":
        return json.dumps(monai_metadata(card, plugin_version=plugin_version), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
