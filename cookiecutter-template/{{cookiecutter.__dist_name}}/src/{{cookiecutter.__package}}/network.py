"""What the generator shares with every framework: the network's layout, its input vector, and its output samples.

The network is DCGAN-shaped: the input vector (a seeded latent vector, then the one-hot conditions) goes through a
dense layer to a small feature map, which transposed convolutions double in size stage by stage, and a final
convolution gives the image channels (and two mask logits when the card declares masks). Nothing here imports a
deep-learning framework.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medigan_host import latents

LATENT_DIM = 64
BASE_WIDTH = 32
MIN_WIDTH = 8
MAX_STAGES = 5
MASK_CLASSES = 2


@dataclass(frozen=True)
class Layout:
    """Sizes of the network for one card."""

    size: tuple[int, ...]  # output (H, W) or (D, H, W)
    start: tuple[int, ...]  # feature-map size before the first upsampling stage
    widths: tuple[int, ...]  # feature maps at the start and after each stage
    in_features: int  # latent vector plus one-hot conditions
    channels: int  # image channels
    out_channels: int  # image channels plus mask logits

    @property
    def ndim(self) -> int:
        return len(self.size)

    @property
    def stages(self) -> int:
        return len(self.widths) - 1


def layout(card: Any) -> Layout:
    """As many doubling stages (up to 5) as every side of the image allows."""
    size = tuple(card.image_size)
    stages = min(MAX_STAGES, *(_times_halvable(side) for side in size))
    widths = tuple(max(MIN_WIDTH, BASE_WIDTH >> i) for i in range(stages + 1))
    conditions = sum(len(values) for values in card.conditions.values())
    masks = MASK_CLASSES if card.has_masks else 0
    return Layout(size, tuple(side >> stages for side in size), widths, LATENT_DIM + conditions, card.channels,
                  card.channels + masks)


def _times_halvable(side: int) -> int:
    count = 0
    while side % 2 == 0 and side > 4:
        side //= 2
        count += 1
    return count


def network_inputs(card: Any, seeds: Sequence[int], condition: Mapping[str, Any] | None) -> np.ndarray:
    """One row per seed: its latent vector, then a one-hot block per declared condition.

    A condition that is not given is drawn from the sample's own seed, so sample i depends only on seeds[i].
    """
    z = latents(seeds, LATENT_DIM)
    blocks = [z]
    for k, (name, values) in enumerate(card.conditions.items()):
        onehot = np.zeros((len(seeds), len(values)), dtype=np.float32)
        for row, seed in enumerate(seeds):
            if condition and name in condition:
                index = list(values).index(condition[name])
            else:
                index = int(np.random.default_rng([int(seed), k + 1]).integers(len(values)))
            onehot[row, index] = 1.0
        blocks.append(onehot)
    return np.concatenate(blocks, axis=1).astype(np.float32)


def to_samples(card: Any, logits: np.ndarray) -> dict[str, np.ndarray]:
    """Channels-last network output → float32 images in [0, 1] (and uint8 label masks when the card has masks)."""
    logits = np.asarray(logits, dtype=np.float32)
    images = (0.5 * (1.0 + np.tanh(0.5 * logits[..., :card.channels]))).astype(np.float32)
    out = {"images": np.clip(images, 0.0, 1.0)}
    if card.has_masks:
        out["masks"] = np.argmax(logits[..., card.channels:], axis=-1)[..., None].astype(np.uint8)
    return out


def weights_file(card: Any) -> Any:
    """The weights file the card names, downloaded on first use and checked against its sha256 by the host;
    None when the card names none (the network keeps its seeded random initialisation)."""
    if not card.weights:
        return None
    from medigan_host import fetch_weights

    return fetch_weights(card)
