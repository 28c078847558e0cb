"""What a card says about its generator (``generator``), its original checkpoint (``upstream_weights``) and how the
original's own generate function maps the network output to pixels (``pixel_mapping``).

Plain Python: the plugin module reads these while registering cards, without importing torch or numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medigan_host import ModelCard, PluginError

#: The file name converted weights are stored under in the model's cache folder.
WEIGHTS_FILE = "generator.safetensors"
ACTIVATIONS = ("relu", "leaky_relu")
EMBEDDINGS = ("continuous", "categorical")
MAPPINGS = ("interval", "half_shift_round")


@dataclass(frozen=True)
class ConditionSpec:
    """How a conditional generator embeds its class label (the original's ``embed_nn``): a ``continuous`` label
    through Linear(1, latent) [+ BatchNorm1d], or a ``categorical`` one through Embedding(classes, embedding_dim) and
    Linear(embedding_dim, latent); then LeakyReLU(``leakiness``). The embedding is concatenated to the latent as
    ``latent_dim`` more input channels."""

    embedding: str = "continuous"
    batch_norm: bool = False
    leakiness: float = 0.1
    classes: int = 2
    embedding_dim: int = 50

    def to_dict(self) -> dict[str, Any]:
        return {"embedding": self.embedding, "batch_norm": self.batch_norm, "leakiness": self.leakiness,
                "classes": self.classes, "embedding_dim": self.embedding_dim}


@dataclass(frozen=True)
class GeneratorSpec:
    """A DCGAN generator for square images: a latent vector through ``len(widths)`` transposed-convolution blocks
    (kernel 4; the first maps 1x1 to 4x4, each next one doubles the size; BatchNorm; ReLU or LeakyReLU), then a
    last transposed convolution to ``channels`` and tanh. Five blocks give 128x128 images. With ``condition``, the
    embedded class label is concatenated to the latent before the first block."""

    latent_dim: int
    widths: tuple[int, ...]
    activation: str = "relu"
    negative_slope: float = 0.2
    channels: int = 1
    condition: ConditionSpec | None = None

    @property
    def image_size(self) -> int:
        return 4 * 2 ** len(self.widths)

    @property
    def input_channels(self) -> int:
        return self.latent_dim * (2 if self.condition else 1)

    def to_dict(self) -> dict[str, Any]:
        out = {"latent_dim": self.latent_dim, "widths": list(self.widths), "activation": self.activation,
               "negative_slope": self.negative_slope, "channels": self.channels}
        if self.condition is not None:
            out["condition"] = self.condition.to_dict()
        return out

    @classmethod
    def from_card(cls, card: ModelCard) -> GeneratorSpec:
        """Read and check the card's ``generator`` field against its image size, channels and conditions."""
        raw = card.extra.get("generator")
        where = f"model {card.id!r}: card field 'generator'"
        if not isinstance(raw, Mapping):
            raise PluginError(f"{where} is missing: it must give latent_dim, widths and activation")
        try:
            condition = None
            if raw.get("condition") is not None:
                c = raw["condition"]
                condition = ConditionSpec(embedding=str(c.get("embedding", "continuous")),
                                          batch_norm=bool(c.get("batch_norm", False)),
                                          leakiness=float(c.get("leakiness", 0.1)), classes=int(c.get("classes", 2)),
                                          embedding_dim=int(c.get("embedding_dim", 50)))
            spec = cls(latent_dim=int(raw["latent_dim"]), widths=tuple(int(w) for w in raw["widths"]),
                       activation=str(raw.get("activation", "relu")), negative_slope=float(raw.get("negative_slope", 0.2)),
                       channels=int(raw.get("channels", card.channels)), condition=condition)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PluginError(f"{where} is malformed ({type(exc).__name__}: {exc}); it needs latent_dim, widths, activation") from exc
        if spec.activation not in ACTIVATIONS:
            raise PluginError(f"{where}: activation must be one of {', '.join(ACTIVATIONS)}, got {spec.activation!r}")
        if spec.latent_dim < 1 or not spec.widths or min(spec.widths) < 1:
            raise PluginError(f"{where}: latent_dim and widths must be positive, got {raw!r}")
        if (spec.image_size, spec.image_size) != tuple(card.image_size) or spec.channels != card.channels:
            raise PluginError(f"{where}: {len(spec.widths)} blocks make {spec.image_size}x{spec.image_size}x{spec.channels} "
                              f"images, but the card says {card.image_size} with {card.channels} channel(s)")
        if spec.condition is not None:
            if spec.condition.embedding not in EMBEDDINGS:
                raise PluginError(f"{where}: condition.embedding must be one of {', '.join(EMBEDDINGS)}")
            if len(card.conditions) != 1 or len(next(iter(card.conditions.values()))) > spec.condition.classes:
                raise PluginError(f"{where}: a conditional generator needs exactly one card condition with at most "
                                  f"{spec.condition.classes} values (in the order of the original's class labels)")
        return spec


@dataclass(frozen=True)
class PixelMapping:
    """How the original generate function turned the tanh output into 8-bit pixels.

    ``interval``: NumPy ``(x - lo) / (hi - lo)`` on the float32 output, widened to float64, times 255, cast to uint8
    (truncating; values outside [lo, hi] are cast as NumPy casts them) — the BCN-AIM packages' ``interval_mapping``.
    ``half_shift_round``: ``round(255 * (x / 2 + 0.5))`` in float32, cast to uint8 — Alyafi's ``run_generator``.
    """

    method: str
    low: float = -1.0
    high: float = 1.0

    @classmethod
    def from_card(cls, card: ModelCard) -> PixelMapping:
        raw = card.extra.get("pixel_mapping")
        where = f"model {card.id!r}: card field 'pixel_mapping'"
        if not isinstance(raw, Mapping) or raw.get("method") not in MAPPINGS:
            raise PluginError(f"{where} must be {{'method': one of {', '.join(MAPPINGS)}, ...}}, got {raw!r}")
        low, high = raw.get("from", (-1.0, 1.0))
        if not float(high) > float(low):
            raise PluginError(f"{where}: 'from' must be [low, high] with low < high, got {raw.get('from')!r}")
        return cls(method=str(raw["method"]), low=float(low), high=float(high))


@dataclass(frozen=True)
class UpstreamWeights:
    """What is inside the original medigan zip of a model (from the card): the checkpoint's path and its layout."""

    member: str
    layout: str

    @classmethod
    def from_card(cls, card: ModelCard) -> UpstreamWeights | None:
        raw = card.extra.get("upstream_weights")
        if not isinstance(raw, Mapping):
            return None
        return cls(member=str(raw["member"]), layout=str(raw.get("layout", "")))
