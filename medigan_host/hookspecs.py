"""The hooks a medigan plugin can implement (pluggy project name ``medigan``).

A plugin is a module (or an object) with functions marked ``@medigan_host.hookimpl`` and named after the hooks
below, found through the entry-point group ``medigan.plugins``. Every hook here is a *registration* hook: it gets a
``register`` callback and calls it once per thing it adds. The host calls each hook through
:func:`medigan_host.hookcalls.collect_registrations`: plugins in name order, each under ``MEDIGAN_PLUGIN_TIMEOUT``
seconds, the registrations checked after the hook returned. A hook that raises or times out registers nothing; one
rejected registration skips only itself. Either way the failure is reported (``medigan plugins``, a
``PluginWarning``) and every other plugin keeps working. The host's own formats and extractors are registered
through the same hooks, by default plugins called first, so a plugin cannot replace a built-in.

Every hook must stay cheap: it runs whenever its registry is first needed (``medigan list``, ``search``, ``rank``
collect models). Import heavy frameworks (torch, tensorflow, onnxruntime, monai, diffusers) inside loaders and
encoders, never in the hook or at the plugin module's top level.

The objects behind the registrations are described as code too: :mod:`medigan_host.protocols` (the generator a
model's loader returns), :class:`medigan_host.ModelCard`, :class:`medigan_host.Writer`.
"""

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

    :param register: ``register(card, loader)``. ``card`` is a :class:`medigan_host.ModelCard` or a dict of its
        fields (see docs/cards.md); ``loader`` is a callable ``loader(card, device)`` or an import string
        ``"package.module:function"``, called when the model is loaded, that returns an object satisfying
        :class:`medigan_host.protocols.Generator` (and :class:`~medigan_host.protocols.LatentGenerator` for
        interpolation).

    :returns: nothing; what the hook returns is ignored.

    Called once per process (and again after a plugin is registered or unregistered) when the model catalog is first
    needed: listing, searching, ranking, loading. An invalid card, or an id another plugin registered first, skips
    that model only.

    Keep this hook cheap: it runs whenever models are listed or searched. Import heavy frameworks
    (torch, tensorflow, onnxruntime) inside the loader, never at module level of the plugin.
    """


@hookspec
def medigan_register_feature_extractors(register: Register) -> None:
    """Register feature extractors for evaluation (FID, KID, precision/recall) with ``register(spec, loader)``.

    :param register: ``register(spec, loader)``. ``spec`` is a dict with name, description, framework, input_size,
        channels, feature_dim, normalization, resize and optional version, license, trained_on, citation, weights;
        ``loader(spec, weights_path, device)`` (a callable or ``"package.module:function"``) returns a callable from
        float32 (N, C, H, W) batches to (N, feature_dim) features. See docs/evaluation.md.

    :returns: nothing; what the hook returns is ignored.

    Called when the extractors are first needed (``medigan extractors``, ``evaluate``, ``study``), after the host's
    own extractors; a name registered before is skipped. Keep it cheap, as above: import the network in the loader.
    """


@hookspec
def medigan_register_writers(register: Callable[[Any], None]) -> None:
    """Register output formats for ``medigan generate --format`` with ``register(writer)``.

    :param register: ``register(writer)``. ``writer`` is a :class:`medigan_host.Writer`: a name, a file
        extension (letters and digits, dot-separated), ``encode(array, kind, context) -> bytes`` (the same bytes for
        the same array and context), the dimensionalities it holds, a description, and the modules ``encode``
        imports (checked, not imported, before a run writes anything). See docs/formats.md.

    :returns: nothing; what the hook returns is ignored.

    Called when an output format is first looked up (a run, ``medigan generate``), after the host's own formats
    (png, png16, npy, nifti, nifti-gz, dicom, tiff); a name registered before is skipped. Keep it cheap: import the
    format's library inside ``encode``.
    """
