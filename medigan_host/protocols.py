"""The generator contract as code: what a plugin's loader returns, as :class:`typing.Protocol` classes.

``loader(card, device)`` returns an object satisfying :class:`Generator`; one that also satisfies
:class:`LatentGenerator` can be interpolated and explored (``medigan interpolate``, ``medigan explore``). The host
checks a loaded generator against them (:func:`medigan_host.models.load`, :attr:`medigan_host.models.Model.latent_shape`),
and ``medigan check`` runs the behaviour behind them. Annotate a plugin's generator with them to have a type checker
verify it::

    from medigan_host.protocols import Generator

    def load(card, device) -> Generator:
        return MyGenerator(device)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Generator", "LatentGenerator", "satisfies"]


@runtime_checkable
class Generator(Protocol):
    """What every model's loader returns.

    ``generate`` makes one sample per seed, the same sample for the same seed (batch-invariant): an array of
    shape ``(N, *image_size[, C])``, or a :class:`medigan_host.Samples`, or a dict with ``images`` (and ``masks`` for
    models whose card lists them). ``condition`` holds the card's declared conditions (checked by the host before
    the call); ``inputs`` the images of an image-to-image model (None otherwise). A generator that declares
    ``options`` (a tuple of names) also receives ``options=`` with those keyword options when a user gives some.
    """

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None,
                 inputs: Any = None) -> Any: ...


@runtime_checkable
class LatentGenerator(Generator, Protocol):
    """A :class:`Generator` that takes explicit latents: ``latent_shape`` is one sample's latent shape, and
    ``generate_from_latents(z)`` makes one sample per row of ``z`` (shape ``(N, *latent_shape)``, float32).
    ``generate(seeds)`` must equal ``generate_from_latents(latents_of(seeds))``; ``latents_of`` is optional (the host
    uses :func:`medigan_host.latents` when it is absent)."""

    latent_shape: Sequence[int]

    def generate_from_latents(self, latents: Any, *, condition: Mapping[str, Any] | None = None) -> Any: ...


def satisfies(obj: Any, protocol: type) -> bool:
    """Whether ``obj`` has the members of ``protocol``; an object whose attributes raise on access does not (plugin
    code is untrusted: its failure is never the host's)."""
    try:
        return isinstance(obj, protocol)
    except Exception:  # noqa: BLE001 - a property of the plugin's object raised
        return False
