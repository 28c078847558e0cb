"""The generator network (PyTorch): a DCGAN generator for 64x64 RGB histology patches.

Latent vector (N, 100) -> image (N, 3, 64, 64) in [-1, 1] (tanh). Shared by the training script, the ONNX
export and the PyTorch loader, so the three always describe the same network.
"""

from __future__ import annotations

import torch
from torch import nn

LATENT_DIM = 100
WIDTH = 32
CHANNELS = 3
IMAGE_SIZE = 64


def _up(c_in: int, c_out: int, first: bool = False) -> list[nn.Module]:
    """A transposed convolution doubling the resolution (4x4 from 1x1 for the first), batch norm, ReLU."""
    conv = nn.ConvTranspose2d(c_in, c_out, 4, 1, 0, bias=False) if first else nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Generator(nn.Module):
    """DCGAN generator (Radford et al. 2016): 1x1 -> 4 -> 8 -> 16 -> 32 -> 64 pixels, tanh output."""

    def __init__(self, latent_dim: int = LATENT_DIM, width: int = WIDTH, channels: int = CHANNELS) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            *_up(latent_dim, width * 8, first=True),
            *_up(width * 8, width * 4),
            *_up(width * 4, width * 2),
            *_up(width * 2, width),
            nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: (N, latent_dim) -> images (N, channels, 64, 64) in [-1, 1]."""
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))
