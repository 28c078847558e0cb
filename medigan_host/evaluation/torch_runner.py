"""Running a PyTorch feature network on NumPy batches (shared by the torch extractors)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightsError


class TorchNetwork:
    """A network in eval mode on a device; called with a float32 (N, C, H, W) array, returns (N, D) float64."""

    def __init__(self, network: torch.nn.Module, device: str) -> None:
        self.network = network.eval().to(device)
        self.device = device

    @classmethod
    def build(cls, network: torch.nn.Module, weights: Path | None, device: str, state: Any = None) -> TorchNetwork:
        """Load ``weights`` (a state dict file; ``state`` when already read with :func:`read_state`) strictly into
        ``network``; None keeps its random initialisation."""
        if weights is not None:
            try:
                state = read_state(weights) if state is None else state
                network.load_state_dict(state, strict=True)
            except (RuntimeError, OSError, KeyError, AttributeError) as exc:
                raise WeightsError(f"weights file {weights} does not fit the {type(network).__name__} network: "
                                   f"{str(exc)[:400]}; give a PyTorch state dict with the layer names in its docs") from exc
        return cls(network, device)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.network(torch.from_numpy(batch).to(self.device))
        return out.double().cpu().numpy()


def read_state(weights: Path) -> Any:
    """The state dict in a weights file (a checkpoint's ``state_dict`` entry when it holds one)."""
    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, AttributeError, EOFError, pickle.UnpicklingError) as exc:
        raise WeightsError(f"cannot read the weights file {weights} as a PyTorch state dict: {str(exc)[:300]}") from exc
    return state.get("state_dict", state) if isinstance(state, dict) else state
