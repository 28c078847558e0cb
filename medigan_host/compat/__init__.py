"""The original medigan API (``Generators``, its configuration and its ``generate`` keywords) over the installed
plugins, for programs written against medigan 1.x. Builds on the core, :mod:`~medigan_host.generation`,
:mod:`~medigan_host.catalog` and, for ``get_as_torch_dataloader``, :mod:`~medigan_host.pipelines`.
Its names are imported on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["ConfigManager", "GenerateFunction", "Generators", "MatchedEntry", "ModelMatchCandidate"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".generators", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .generators import ConfigManager, GenerateFunction, Generators, MatchedEntry, ModelMatchCandidate
