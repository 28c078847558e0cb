"""A model card in the layout of the original library's config: ``execution``, ``selection``, ``description``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ..cards import ModelCard
from ..frameworks import FRAMEWORK_PACKAGES, pip_command
from ..registry import ModelEntry, _preferred


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
    run = card.extra.get("original") if isinstance(card.extra.get("original"), Mapping) else {}  # original-code cards
    generate_method: dict[str, Any] = {"name": run.get("function", "generate"), "args": {
        "base": list(run.get("base_args", ["model_file", "num_samples", "output_path", "save_images"])),
        "custom": dict(run.get("custom_args", {}))}}
    latent = card.extra.get("latent_size", deep_get(card.extra, "generator.latent_dim", case_sensitive=True))
    if latent is None:
        latent = run.get("latent")  # original-code cards: the latent size their original config declared
    if isinstance(latent, int) and not isinstance(latent, bool):  # the original's sign of a latent-vector model
        generate_method["input_latent_vector_size"] = latent
    size = dict(zip(("depth", "height", "width") if card.ndim == 3 else ("height", "width"), card.image_size, strict=True))
    config = {
        "execution": {
            "generate_method": generate_method, "plugin": entry.plugin, "plugin_version": entry.plugin_version,
            "distribution": distribution,
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
    for part in ("execution", "selection", "description"):  # the original's own config values, where the card keeps them
        if isinstance(card.extra.get(part), Mapping):
            config[part] = _merged(config[part], card.extra[part])
    return config


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def original_id(entry: ModelEntry, catalog: Any) -> str:
    """The id the original library used for the model (its upstream id, when the catalogue resolves that id to this
    model), else its id."""
    upstream = entry.card.upstream_id
    if upstream and _preferred(e for e in catalog if (e.card.upstream_id or "").lower() == upstream.lower()) is entry:
        return upstream
    return entry.id


def original_entries(catalog: Any) -> list[ModelEntry]:
    """The models as the original listed them: one per original model (the one its upstream id resolves to, a native
    model before one running downloaded code), carrying the selection values, description and metrics the other cards
    of that original model hold; then every model without an upstream id. Catalogue order."""
    entries = list(catalog)
    groups: dict[str, list[ModelEntry]] = {}
    for entry in entries:
        if entry.card.upstream_id:
            groups.setdefault(entry.card.upstream_id.lower(), []).append(entry)
    out = []
    for entry in entries:
        group = groups.get((entry.card.upstream_id or "").lower())
        if group is None:
            out.append(entry)
        elif _preferred(group) is entry:
            out.append(_with_siblings(entry, [e for e in group if e is not entry]))
    return out


def _with_siblings(entry: ModelEntry, siblings: list[ModelEntry]) -> ModelEntry:
    if not siblings:
        return entry
    card = entry.card
    metrics: Any = card.metrics
    extra = dict(card.extra)
    for sibling in siblings:
        metrics = _added(metrics, sibling.card.metrics)
        for part in ("selection", "description"):
            if part not in extra and isinstance(sibling.card.extra.get(part), Mapping):
                extra[part] = sibling.card.extra[part]
        run = sibling.card.extra.get("original")
        if "original_condition" not in extra and isinstance(run, Mapping) and isinstance(run.get("condition_arg"), Mapping):
            extra["original_condition"] = run["condition_arg"]  # how the original coded a bare condition
    return dataclasses.replace(entry, card=dataclasses.replace(card, metrics=metrics, extra=extra))


def _added(own: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """``own`` with the keys of ``other`` it lacks (compared case-insensitively, at every level)."""
    out = dict(own)
    for key, value in other.items():
        match = next((k for k in out if str(k).lower() == str(key).lower()), None)
        if match is None:
            out[key] = value
        elif isinstance(out[match], Mapping) and isinstance(value, Mapping) and "value" not in out[match]:
            out[match] = _added(out[match], value)
    return out


class ConfigManager:
    """The original's ``config_manager`` over the installed models: ``model_ids`` (the original's ids where a card
    carries one), ``config_dict`` (id -> config), ``get_config_by_id`` and ``match_model_id``."""

    def __init__(self, generators: Any) -> None:
        self._generators = generators

    def _entries(self) -> list[ModelEntry]:
        return self._generators._original_entries()

    @property
    def model_ids(self) -> list[str]:
        entries = self._entries()
        return [original_id(e, entries) for e in entries]

    @property
    def config_dict(self) -> dict[str, Any]:
        entries = self._entries()
        return {original_id(e, entries): model_config(e, self._generators._distribution(e)) for e in entries}

    def get_config_by_id(self, model_id: str | int, config_key: str | None = None) -> Any:
        return self._generators.get_config_by_id(model_id, config_key)

    def match_model_id(self, provided_model_id: str | int) -> str:
        """The model's id as in :attr:`model_ids`, for any id, upstream id or number of it."""
        return original_id(self._generators._entry(provided_model_id), self._entries())

    def is_model_in_config(self, model_id: str | int) -> bool:
        from ..errors import UnknownModelError

        try:
            self._generators._entry(model_id)
        except UnknownModelError:
            return False
        return True

    def __repr__(self) -> str:
        return f"ConfigManager(model_ids={self.model_ids})"


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


#: The distribution of the plugin that runs the original library's own model code (in its own environment).
ORIGINAL_CODE_DISTRIBUTION = "medigan-plugin-original"
#: Requirements the original configs listed that are not pip packages (``Path`` is the standard library's).
_NOT_PACKAGES = frozenset({"path", "pathlib"})


def runs_original_code(entry: ModelEntry, distribution: str | None) -> bool:
    """Whether the model runs the original library's code: from the original-code plugin, or a card that says so
    (``"original_code": true``, or ``"remote_code": true`` for code downloaded with the model)."""
    extra = entry.card.extra
    return distribution == ORIGINAL_CODE_DISTRIBUTION or extra.get("original_code") is True or extra.get("remote_code") is True


def _module_of(requirement: str) -> str | None:
    """The module a pip requirement provides (``opencv-contrib-python-headless>=4`` -> ``cv2``)."""
    from ..frameworks import PIP_NAMES

    name = re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].strip()
    if not name or name.lower() in _NOT_PACKAGES:
        return None
    lowered = name.lower()
    if lowered.startswith("opencv"):
        return "cv2"
    by_pip = {pip.lower(): module for module, pip in PIP_NAMES.items()}
    return by_pip.get(lowered, {"pillow": "PIL", "pyyaml": "yaml", "scikit-image": "skimage"}.get(lowered,
                                                                                                   lowered.replace("-", "_")))


def missing_requirements(entry: ModelEntry, distribution: str | None) -> tuple[list[str], str]:
    """The model's requirements that are not importable here, and the command that installs them: ``medigan env
    create MODEL`` for original-code models (their own environment, built or not), else ``pip install …``."""
    import importlib.util
    from importlib import metadata

    card = entry.card
    if isinstance(card.extra.get("environment"), Mapping):  # runs in its own environment (`medigan env`)
        from ..environments import EnvironmentMissingError, require_env

        command = f"medigan env create {card.upstream_id or card.id}"
        try:
            require_env(card)
        except EnvironmentMissingError as exc:
            return [f"its own environment, which is not built or out of date ({exc})"], command
        return [], command
    if runs_original_code(entry, distribution):
        wanted = [str(r) for r in card.extra.get("dependencies") or []]
        missing = [r for r in wanted if (m := _module_of(r)) is not None and importlib.util.find_spec(m) is None]
        if distribution and not _installed(metadata, distribution):
            missing.append(distribution)
        return missing, f"medigan env create {card.upstream_id or entry.id}"
    requirements = pip_requirements(card, distribution)
    missing = []
    if card.framework in FRAMEWORK_PACKAGES and importlib.util.find_spec(FRAMEWORK_PACKAGES[card.framework][0]) is None:
        missing.append(FRAMEWORK_PACKAGES[card.framework][1])
    if distribution and not _installed(metadata, distribution):
        missing.append(distribution)
    return missing, pip_command(*requirements)


def _installed(metadata: Any, distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True
