"""Running a PyTorch feature network on NumPy batches (shared by the torch extractors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError


class TorchNetwork:
    """A network in eval mode on a device; called with a float32 (N, C, H, W) array, returns (N, D) float64."""

    def __init__(self, network: torch.nn.Module, device: str) -> None:
        self.network = network.eval().to(device)
        self.device = device

    @classmethod
    def build(cls, network: torch.nn.Module, weights: Path | None, device: str) -> TorchNetwork:
        """Load ``weights`` (a state dict file) strictly into ``network``; None keeps its random initialisation."""
        if weights is not None:
            try:
                state = torch.load(str(weights), map_location="cpu", weights_only=True)
                state = state.get("state_dict", state) if isinstance(state, dict) else state
                network.load_state_dict(state, strict=True)
            except (RuntimeError, OSError, KeyError, AttributeError) as exc:
                raise WeightsError(f"weights file {weights} does not fit the {type(network).__name__} network: "
                                   f"{str(exc)[:400]}; give a PyTorch state dict with the layer names in its docs") from exc
        return cls(network, device)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.network(torch.from_numpy(batch).to(self.device))
        return out.double().cpu().numpy()
