"""Low-dose CT simulation in the image domain: band-pass correlated noise scaled to the dose fraction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

IMAGE_SIZE = (256, 256)
DOSES = {"half": 0.5, "quarter": 0.25, "tenth": 0.1}
#: noise standard deviation of a full-dose scan, in HU
FULL_DOSE_SIGMA_HU = 10.0
_AIR = 0  # HU + 1024 of air, -1024 HU


def _noise_filter(shape: tuple[int, int]) -> np.ndarray:
    """A CT-like noise power spectrum: ramp at low frequencies, rolled off by a smooth apodisation window."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    radius = np.hypot(fy, fx) / 0.5
    return radius * np.cos(np.clip(radius, 0, 1) * np.pi / 2) ** 2


class LowDoseCT:
    """Adds dose-dependent correlated noise to CT slices; the dose is drawn from the seed unless given."""

    def __init__(self) -> None:
        self._filter = _noise_filter(IMAGE_SIZE)

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> dict:
        if inputs is None or len(inputs) != len(seeds):
            raise ValueError("ct-lowdose-sim needs one input CT slice per seed")
        out = np.empty((len(seeds), *IMAGE_SIZE, 1), dtype=np.uint16)
        for row, (seed, image) in enumerate(zip(seeds, inputs, strict=True)):
            rng = np.random.default_rng(seed)
            dose_name = (condition or {}).get("dose") or rng.choice(sorted(DOSES))
            if dose_name not in DOSES:
                raise ValueError(f"unknown dose {dose_name!r}; choose one of {', '.join(DOSES)}")
            image = np.asarray(image)
            if image.shape[:2] != IMAGE_SIZE:
                raise ValueError(f"input slices must be {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, got {image.shape}")
            hu = image.reshape(IMAGE_SIZE).astype(np.float64)
            white = rng.standard_normal(IMAGE_SIZE)
            noise = np.fft.irfft2(np.fft.rfft2(white) * self._filter, s=IMAGE_SIZE)
            noise /= noise.std() or 1.0
            sigma = FULL_DOSE_SIGMA_HU * np.sqrt(1.0 / DOSES[dose_name] - 1.0)
            body = hu > _AIR + 124  # denser than -900 HU: noise lives inside the patient, not in the air around
            noisy = np.where(body, hu + sigma * noise, hu)
            out[row, ..., 0] = np.clip(np.rint(noisy), 0, 4095).astype(np.uint16)
        return {"images": out}


def load(card: Any, device: str) -> LowDoseCT:
    return LowDoseCT()
