"""The hooks a medigan plugin can implement (pluggy project name ``medigan``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT_NAME = "medigan"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: ``register(card, loader)``: ``card`` is a ModelCard or a dict of its fields; ``loader`` is a callable
#: ``loader(card, device) -> generator`` or an import string ``"package.module:function"``.
Register = Callable[[Any, Any], None]


@hookspec
def medigan_register_models(register: Register) -> None:
    """Register this plugin's models by calling ``register(card, loader)`` once per model.

    Keep this hook cheap: it runs whenever models are listed or searched. Import heavy frameworks
    (torch, tensorflow, onnxruntime) inside the loader, never at module level of the plugin.
    """


@hookspec
def medigan_register_feature_extractors(register: Register) -> None:
    """Register feature extractors for evaluation (FID, KID, precision/recall) with ``register(spec, loader)``.

    ``spec``: a dict with name, description, framework, input_size, channels, feature_dim, normalization, resize and
    optional version, license, trained_on, citation, weights; ``loader(spec, weights_path, device)`` returns a callable
    from float32 (N, C, H, W) batches to (N, feature_dim) features. See docs/evaluation.md. Keep it cheap, as above.
    """
