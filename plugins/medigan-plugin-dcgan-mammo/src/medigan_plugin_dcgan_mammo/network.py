"""The DCGAN generator network in PyTorch, built from a :class:`~.specs.GeneratorSpec`."""

from __future__ import annotations

import dataclasses

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


class ConditionEmbedding(nn.Module):
    """A class label -> ``latent_dim`` channels, as the original conditional generators embed it (``embed_nn``)."""

    def __init__(self, spec: GeneratorSpec) -> None:
        super().__init__()
        condition = spec.condition
        self.categorical = condition.embedding == "categorical"
        if self.categorical:
            layers = [nn.Embedding(condition.classes, condition.embedding_dim),
                      nn.Linear(condition.embedding_dim, spec.latent_dim)]
        else:
            layers = [nn.Linear(1, spec.latent_dim)]
            if condition.batch_norm:
                layers.append(nn.BatchNorm1d(spec.latent_dim))
        self.layers = nn.Sequential(*layers, nn.LeakyReLU(condition.leakiness))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        x = labels.long() if self.categorical else labels.reshape(-1, 1).float()
        return self.layers(x)


class DCGANGenerator(nn.Module):
    """Latent vectors (N, latent_dim) [and class labels (N,)] -> images (N, channels, S, S) in [-1, 1],
    S = 4 * 2**len(widths)."""

    def __init__(self, spec: GeneratorSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embed = ConditionEmbedding(spec) if spec.condition is not None else None
        blocks, previous = [], spec.input_channels
        for index, width in enumerate(spec.widths):
            blocks.append(UpBlock(previous, width, first=index == 0, activation=_activation(spec)))
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.ConvTranspose2d(previous, spec.channels, KERNEL, 2, 1, bias=False)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = z.reshape(z.shape[0], self.spec.latent_dim, 1, 1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: give one class label per latent")
            x = torch.cat([x, self.embed(labels).reshape(z.shape[0], self.spec.latent_dim, 1, 1)], dim=1)
        return torch.tanh(self.to_image(self.blocks(x)))


def _activation(spec: GeneratorSpec) -> nn.Module:
    return nn.ReLU(inplace=True) if spec.activation == "relu" else nn.LeakyReLU(spec.negative_slope, inplace=True)


def fitted_spec(spec: GeneratorSpec, state: dict[str, torch.Tensor]) -> GeneratorSpec:
    """``spec`` with its label embedding as ``state`` holds it: the original conditional generators were trained with
    either embedding (categorical or continuous, with or without BatchNorm1d), which the checkpoint shows."""
    if spec.condition is None or "embed.layers.0.weight" not in state:
        return spec
    second = state.get("embed.layers.1.weight")
    categorical = second is not None and second.dim() == 2
    first = state["embed.layers.0.weight"]
    condition = dataclasses.replace(
        spec.condition, embedding="categorical" if categorical else "continuous",
        batch_norm="embed.layers.1.running_mean" in state,
        classes=int(first.shape[0]) if categorical else spec.condition.classes,
        embedding_dim=int(first.shape[1]) if categorical else spec.condition.embedding_dim)
    return dataclasses.replace(spec, condition=condition)


def state_mismatches(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """How ``state`` differs from ``expected`` (missing, unexpected and mis-shaped tensors); empty when it fits."""
    problems = [f"missing {k} {tuple(v.shape)}" for k, v in expected.items() if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [f"{k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    return problems
