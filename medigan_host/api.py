"""The Python API: list models, read their cards, load them, generate.

With the ``medigan`` command, the only code that reaches for the process-wide plugin host: features take the
:class:`~medigan_host.registry.Catalog` (or host) they work on, and their public functions default to
:func:`installed_catalog` / :func:`plugin_host` when none is given."""

from __future__ import annotations

from typing import Any

from .cards import ModelCard
from .models import Model, load
from .plugins import PluginHost, get_host
from .registry import Catalog


def list_models(**filters: Any) -> list[ModelCard]:
    """Cards of all installed models, optionally filtered by exact field values.

    ``list_models(modality="ct", framework="numpy")``; a filter on a list field (``tags``) matches when
    the value is in the list. No model framework is imported.
    """
    fields = set(ModelCard.__dataclass_fields__)
    unknown = set(filters) - fields
    if unknown:
        raise TypeError(f"unknown filter(s) {sorted(unknown)}; filter on card fields such as modality, framework, outputs")
    cards = [entry.card for entry in get_host().catalog]
    return [card for card in cards if all(_matches(getattr(card, k), v) for k, v in filters.items())]


def _matches(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, tuple) and not isinstance(wanted, (tuple, list)):
        return any(str(a).lower() == str(wanted).lower() for a in actual)
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()
    return actual == (tuple(wanted) if isinstance(wanted, list) else wanted)


def get_card(model: str | int) -> ModelCard:
    """The card of ``model`` (id, upstream id or its number)."""
    return get_host().catalog.get(model).card


def load_model(model: str | int, device: str = "auto", *, trust_remote_code: bool = False) -> Model:
    """Import and build ``model`` on ``device`` (auto, cpu, cuda, cuda:N, mps).

    ``trust_remote_code=True`` lets models whose card says ``remote_code: true`` run the code downloaded with them."""
    return load(get_host().catalog.get(model), device, trust_remote_code=trust_remote_code)


def plugin_host() -> PluginHost:
    """The process-wide plugin host (the installed plugins and those registered in this process)."""
    return get_host()


def installed_catalog() -> Catalog:
    """The models of the process-wide plugin host."""
    return get_host().catalog
