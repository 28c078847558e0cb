"""The DCGAN generator network in PyTorch, built from a :class:`~.specs.GeneratorSpec`."""

from __future__ import annotations

import torch
from torch import nn

from .specs import GeneratorSpec

KERNEL = 4


class UpBlock(nn.Module):
    """Transposed convolution (kernel 4, no bias), BatchNorm, activation: 1x1 -> 4x4 when first, else size x 2."""

    def __init__(self, in_channels: int, out_channels: int, *, first: bool, activation: nn.Module) -> None:
        super().__init__()
        stride, padding = (1, 0) if first else (2, 1)
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, KERNEL, stride, padding, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class DCGANGenerator(nn.Module):
    """Latent vectors (N, latent_dim) -> images (N, channels, S, S) in [-1, 1], S = 4 * 2**len(widths)."""

    def __init__(self, spec: GeneratorSpec) -> None:
        super().__init__()
        self.spec = spec
        blocks, previous = [], spec.latent_dim
        for index, width in enumerate(spec.widths):
            blocks.append(UpBlock(previous, width, first=index == 0, activation=_activation(spec)))
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.ConvTranspose2d(previous, spec.channels, KERNEL, 2, 1, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.reshape(z.shape[0], self.spec.latent_dim, 1, 1)
        return torch.tanh(self.to_image(self.blocks(x)))


def _activation(spec: GeneratorSpec) -> nn.Module:
    return nn.ReLU(inplace=True) if spec.activation == "relu" else nn.LeakyReLU(spec.negative_slope, inplace=True)


def state_mismatches(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """How ``state`` differs from ``expected`` (missing, unexpected and mis-shaped tensors); empty when it fits."""
    problems = [f"missing {k} {tuple(v.shape)}" for k, v in expected.items() if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [f"{k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    return problems
