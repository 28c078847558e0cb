"""The 128x128 generator network (PyTorch): a light FastGAN-style generator for IHC histology patches.

Latent vector (N, 1024) -> image (N, 3, 128, 128) in [-1, 1] (tanh). The latent is a spatial noise map of 16
channels on an 8x8 grid (reshaped inside the network), so every 16-pixel cell of the patch has noise of its own.
Each stage doubles the resolution by nearest-neighbour upsampling followed by a 3x3 convolution (no transposed
convolutions, hence no checkerboard), batch norm and a leaky ReLU; two skip-layer excitations (Liu et al. 2021, FastGAN)
let the 8- and 16-pixel stages rescale the channels of the 64- and 128-pixel stages. Shared by the training
script, the ONNX export and the PyTorch loader, so the three always describe the same network.
"""

from __future__ import annotations

import torch
from torch import nn

LATENT_CHANNELS = 16
LATENT_GRID = 8
LATENT_DIM = LATENT_CHANNELS * LATENT_GRID * LATENT_GRID
CHANNELS = 3
IMAGE_SIZE = 128
#: Feature channels at 8, 16, 32, 64 and 128 pixels.
WIDTHS = (96, 64, 48, 24, 12)


def _conv_bn_act(c_in: int, c_out: int) -> list[nn.Module]:
    """3x3 convolution, batch norm, leaky ReLU."""
    return [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), *_conv_bn_act(c_in, c_out))


class _Excitation(nn.Module):
    """Skip-layer excitation: channel gates for a high-resolution map from a low-resolution one."""

    def __init__(self, c_low: int, c_high: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_low, c_high, 4, 1, 0, bias=False),
                                 nn.LeakyReLU(0.1), nn.Conv2d(c_high, c_high, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.net(low)


class Generator(nn.Module):
    """8x8 noise map -> 8 -> 16 -> 32 -> 64 -> 128 pixels, tanh output; about 0.6 M parameters."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        self.latent_dim = LATENT_DIM
        w8, w16, w32, w64, w128 = widths
        self.init = nn.Sequential(*_conv_bn_act(LATENT_CHANNELS, w8), *_conv_bn_act(w8, w8))
        self.up16 = nn.Sequential(_up(w8, w16), *_conv_bn_act(w16, w16))
        self.up32 = _up(w16, w32)
        self.up64 = _up(w32, w64)
        self.up128 = _up(w64, w128)
        self.se64 = _Excitation(w8, w64)
        self.se128 = _Excitation(w16, w128)
        self.to_rgb = nn.Sequential(nn.Conv2d(w128, CHANNELS, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: (N, 1024) -> images (N, 3, 128, 128) in [-1, 1]."""
        x8 = self.init(z.reshape(z.shape[0], LATENT_CHANNELS, LATENT_GRID, LATENT_GRID))
        x16 = self.up16(x8)
        x64 = self.se64(x8, self.up64(self.up32(x16)))
        x128 = self.se128(x16, self.up128(x64))
        return self.to_rgb(x128)
