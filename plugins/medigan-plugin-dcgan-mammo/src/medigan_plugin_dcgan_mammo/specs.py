"""The generator hyper-parameters a card carries (its ``generator`` field), and where its original weights are.

Plain Python: the plugin module reads these while registering cards, without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medigan_host import ModelCard, PluginError

#: The file name converted weights are stored under in the model's cache folder.
WEIGHTS_FILE = "generator.safetensors"
ACTIVATIONS = ("relu", "leaky_relu")


@dataclass(frozen=True)
class GeneratorSpec:
    """A DCGAN generator for square images: a latent vector through ``len(widths)`` transposed-convolution blocks
    (kernel 4; the first maps 1x1 to 4x4, each next one doubles the size; BatchNorm; ReLU or LeakyReLU), then a
    last transposed convolution to ``channels`` and tanh. Five blocks give 128x128 images."""

    latent_dim: int
    widths: tuple[int, ...]
    activation: str = "relu"
    negative_slope: float = 0.2
    channels: int = 1

    @property
    def image_size(self) -> int:
        return 4 * 2 ** len(self.widths)

    def to_dict(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "widths": list(self.widths), "activation": self.activation,
                "negative_slope": self.negative_slope, "channels": self.channels}

    @classmethod
    def from_card(cls, card: ModelCard) -> GeneratorSpec:
        """Read and check the card's ``generator`` field against its image size and channels."""
        raw = card.extra.get("generator")
        where = f"model {card.id!r}: card field 'generator'"
        if not isinstance(raw, Mapping):
            raise PluginError(f"{where} is missing: it must give latent_dim, widths and activation")
        try:
            spec = cls(latent_dim=int(raw["latent_dim"]), widths=tuple(int(w) for w in raw["widths"]),
                       activation=str(raw.get("activation", "relu")), negative_slope=float(raw.get("negative_slope", 0.2)),
                       channels=int(raw.get("channels", card.channels)))
        except (KeyError, TypeError, ValueError) as exc:
            raise PluginError(f"{where} is malformed ({type(exc).__name__}: {exc}); it needs latent_dim, widths, activation") from exc
        if spec.activation not in ACTIVATIONS:
            raise PluginError(f"{where}: activation must be one of {', '.join(ACTIVATIONS)}, got {spec.activation!r}")
        if spec.latent_dim < 1 or not spec.widths or min(spec.widths) < 1:
            raise PluginError(f"{where}: latent_dim and widths must be positive, got {raw!r}")
        if (spec.image_size, spec.image_size) != tuple(card.image_size) or spec.channels != card.channels:
            raise PluginError(f"{where}: {len(spec.widths)} blocks make {spec.image_size}x{spec.image_size}x{spec.channels} "
                              f"images, but the card says {card.image_size} with {card.channels} channel(s)")
        return spec


@dataclass(frozen=True)
class UpstreamWeights:
    """Where the original medigan release of a model's weights is, and what is inside it (from the card)."""

    url: str
    member: str
    layout: str

    @classmethod
    def from_card(cls, card: ModelCard) -> UpstreamWeights | None:
        raw = card.extra.get("upstream_weights")
        if not isinstance(raw, Mapping):
            return None
        return cls(url=str(raw["url"]), member=str(raw["member"]), layout=str(raw.get("layout", "")))
