"""A model card in the layout of the original library's config: ``execution``, ``selection``, ``description``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .cards import ModelCard
from .frameworks import FRAMEWORK_PACKAGES
from .registry import ModelEntry


def _performance(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics as the original's ``selection.performance``: plain numbers, nested groups kept."""
    out: dict[str, Any] = {}
    for name, value in metrics.items():
        if isinstance(value, Mapping):
            out[name] = value["value"] if "value" in value else _performance(value)
        else:
            out[name] = value
    return out


def model_config(entry: ModelEntry, distribution: str | None = None) -> dict[str, Any]:
    """The model's card in the layout of the original's config (``execution``, ``selection``, ``description``),
    with the full card under ``card``."""
    card = entry.card
    size = dict(zip(("depth", "height", "width") if card.ndim == 3 else ("height", "width"), card.image_size, strict=True))
    return {
        "execution": {
            "plugin": entry.plugin, "plugin_version": entry.plugin_version, "distribution": distribution,
            "framework": card.framework, "dependencies": pip_requirements(card, distribution),
            "loader": entry.loader if isinstance(entry.loader, str) else getattr(entry.loader, "__qualname__", repr(entry.loader)),
            "image_size": list(card.image_size), "channels": card.channels, "input": card.input, "outputs": card.outputs,
            "conditions": {k: list(v) for k, v in card.conditions.items()}, "weights": [dict(w) for w in card.weights],
        },
        "selection": {
            "performance": _performance(card.metrics), "organ": [card.anatomy] if card.anatomy else [],
            "modality": [card.modality], "dataset": [card.dataset] if card.dataset else [], "type": card.architecture,
            "license": card.license, "tags": list(card.tags),
            "generates": ["images", "masks"] if card.has_masks else ["images"], **size,
            "condition": sorted(card.conditions), "framework": card.framework, "input": card.input,
        },
        "description": {
            "title": card.name, "version": card.version, "publication": card.citation, "doi": [card.doi] if card.doi else [],
            "comment": card.description, "upstream_id": card.upstream_id,
        },
        "card": card.to_dict(),
    }


def deep_get(config: Any, key: str | None, *, case_sensitive: bool = False) -> Any:
    """The value under a dotted ``key`` (``selection.performance.FID``), or None when a part is missing."""
    if key is None:
        return config
    node = config
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return None
        if part in node:
            node = node[part]
            continue
        match = None if case_sensitive else next((k for k in node if str(k).lower() == part.lower()), None)
        if match is None:
            return None
        node = node[match]
    return node


def pip_requirements(card: ModelCard, distribution: str | None) -> list[str]:
    """What ``pip install`` needs for the model: its framework and the plugin distribution."""
    needs = [FRAMEWORK_PACKAGES[card.framework][1]] if card.framework in FRAMEWORK_PACKAGES else []
    return needs + ([distribution] if distribution else [])
