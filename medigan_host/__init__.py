"""medigan: pretrained generative models for medical image synthesis, from installable plugins.

Listing and searching models imports no deep-learning framework; a model's framework is imported only
when the model is loaded. The names below are imported on first use, so ``import medigan_host`` and the
``medigan`` command start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    CardError,
    ConditionError,
    DeviceError,
    FrameworkMissingError,
    MediganError,
    MediganUsageError,
    OutputError,
    OutputLockedError,
    PluginError,
    UnknownModelError,
    WeightsError,
)

#: public name -> the submodule that defines it
_LAZY = {
    "get_card": "api", "list_models": "api", "load_model": "api",
    "ModelCard": "cards",
    "Generators": "compat",
    "RunResult": "generation.engine", "generate": "generation.engine",
    "evaluate": "evaluation.evaluate", "list_extractors": "evaluation.extractors",
    "hookimpl": "hookspecs", "hookspec": "hookspecs",
    "Model": "models",
    "ENTRY_POINT_GROUP": "plugins", "PluginInfo": "plugins", "PluginWarning": "plugins", "list_plugins": "plugins",
    "register_plugin": "plugins", "reset_host": "plugins", "unregister_plugin": "plugins",
    "Ranking": "catalog.ranking", "rank_models": "catalog.ranking",
    "Samples": "samples",
    "SearchResults": "catalog.search", "search_models": "catalog.search",
    "fixed_batches": "seeding", "latents": "seeding", "sample_seed": "seeding",
    "fetch_weights": "weights",
    "Writer": "formats.writers", "register_writer": "formats.writers",
}

__all__ = [
    "CardError", "ConditionError", "DeviceError", "ENTRY_POINT_GROUP", "FrameworkMissingError", "Generators",
    "MediganError", "MediganUsageError", "Model", "ModelCard", "OutputError", "OutputLockedError", "PluginError",
    "PluginInfo", "PluginWarning", "Ranking", "RunResult", "Samples", "SearchResults", "UnknownModelError",
    "WeightsError", "Writer", "__version__", "evaluate", "fetch_weights", "fixed_batches", "generate", "get_card", "hookimpl", "hookspec",
    "latents", "list_extractors", "list_models", "list_plugins", "load_model", "rank_models", "register_plugin", "register_writer",
    "reset_host", "sample_seed", "search_models", "unregister_plugin",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'medigan_host' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from .api import get_card, list_models, load_model
    from .cards import ModelCard
    from .catalog.ranking import Ranking, rank_models
    from .catalog.search import SearchResults, search_models
    from .compat.generators import Generators
    from .evaluation.evaluate import evaluate
    from .evaluation.extractors import list_extractors
    from .formats.writers import Writer, register_writer
    from .generation.engine import RunResult, generate
    from .hookspecs import hookimpl, hookspec
    from .models import Model
    from .plugins import (
        ENTRY_POINT_GROUP,
        PluginInfo,
        PluginWarning,
        list_plugins,
        register_plugin,
        reset_host,
        unregister_plugin,
    )
    from .samples import Samples
    from .seeding import fixed_batches, latents, sample_seed
    from .weights import fetch_weights
