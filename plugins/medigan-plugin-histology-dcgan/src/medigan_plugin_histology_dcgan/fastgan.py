"""The 128x128 generator network (PyTorch): a light FastGAN-style generator for IHC histology patches.

Latent vector (N, 1024) -> image (N, 3, 128, 128) in [-1, 1] (tanh). The latent is a spatial noise map of 16
channels on an 8x8 grid (reshaped inside the network), so every 16-pixel cell of the patch has noise of its own.
Built with ``noise_maps=True`` (the shipped model), the latent is 6400 numbers: that map, then one-channel noise maps
of 16x16, 32x32 and 64x64 added at those resolutions with learned strengths (without them every patch carries the
same diagonal lattice). ``latent_scale`` < 1 is the truncation trick. A card passes these as ``network_options``.
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


#: How a stage doubles its resolution before its convolution.
UPSAMPLING = ("nearest", "bilinear")


def _up(c_in: int, c_out: int, mode: str) -> nn.Sequential:
    resize = nn.Upsample(scale_factor=2, mode=mode) if mode == "nearest" else nn.Upsample(scale_factor=2, mode=mode, align_corners=False)
    return nn.Sequential(resize, *_conv_bn_act(c_in, c_out))


class _Excitation(nn.Module):
    """Skip-layer excitation: channel gates for a high-resolution map from a low-resolution one."""

    def __init__(self, c_low: int, c_high: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_low, c_high, 4, 1, 0, bias=False),
                                 nn.LeakyReLU(0.1), nn.Conv2d(c_high, c_high, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.net(low)


#: Resolutions at which a generator built with ``noise_maps=True`` adds a per-pixel noise map (taken from its latent).
NOISE_SIZES = (16, 32, 64)


class _NoiseInjection(nn.Module):
    """Adds a one-channel noise map with a learned per-channel strength (zero at the start), as FastGAN and StyleGAN
    do; here the noise is part of the latent, so an image stays a function of its seed."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class Generator(nn.Module):
    """8x8 noise map -> 8 -> 16 -> 32 -> 64 -> 128 pixels, tanh output; about 0.28 M parameters."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS, upsample: str = "nearest", latent_scale: float = 1.0,
                 noise_maps: bool = False) -> None:
        super().__init__()
        if upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {UPSAMPLING}, not {upsample!r}")
        if not 0.0 < float(latent_scale) <= 1.0:
            raise ValueError(f"latent_scale must be in (0, 1], not {latent_scale!r}")
        #: The truncation trick as a scale (psi): latents are multiplied by it before the network, trading variety for
        #: fidelity. 1.0 while training; a card may set a smaller one for sampling.
        self.latent_scale = float(latent_scale)
        w8, w16, w32, w64, w128 = widths
        #: With noise maps, the latent is the 8x8x16 map followed by one noise map per size of ``NOISE_SIZES``.
        self.noise_sizes = NOISE_SIZES if noise_maps else ()
        self.latent_dim = LATENT_DIM + sum(size * size for size in self.noise_sizes)
        self.noise = nn.ModuleList(_NoiseInjection(w) for w in (w16, w32, w64)) if noise_maps else None
        self.init = nn.Sequential(*_conv_bn_act(LATENT_CHANNELS, w8), *_conv_bn_act(w8, w8))
        self.up16 = nn.Sequential(_up(w8, w16, upsample), *_conv_bn_act(w16, w16))
        self.up32 = _up(w16, w32, upsample)
        self.up64 = _up(w32, w64, upsample)
        self.up128 = _up(w64, w128, upsample)
        self.se64 = _Excitation(w8, w64)
        self.se128 = _Excitation(w16, w128)
        self.to_rgb = nn.Sequential(nn.Conv2d(w128, CHANNELS, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: (N, latent_dim) -> images (N, 3, 128, 128) in [-1, 1]."""
        if self.latent_scale != 1.0:
            z = z * self.latent_scale
        n = z.shape[0]
        x8 = self.init(z[:, :LATENT_DIM].reshape(n, LATENT_CHANNELS, LATENT_GRID, LATENT_GRID))
        x16 = self.up16(x8)
        if self.noise is None:
            x64 = self.se64(x8, self.up64(self.up32(x16)))
        else:
            maps, start = [], LATENT_DIM
            for size in self.noise_sizes:
                maps.append(z[:, start:start + size * size].reshape(n, 1, size, size))
                start += size * size
            x16 = self.noise[0](x16, maps[0])
            x64 = self.se64(x8, self.noise[2](self.up64(self.noise[1](self.up32(x16), maps[1])), maps[2]))
        x128 = self.se128(x16, self.up128(x64))
        return self.to_rgb(x128)
