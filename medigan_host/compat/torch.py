"""The original medigan's torch dataset items, over medigan's lazily generated :class:`SyntheticDataset`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..pipelines.torch import SyntheticDataset
from .generate import original_array

__all__ = ["OriginalDataset"]


class OriginalDataset(SyntheticDataset):
    """Items as the original's ``SyntheticDataset``: ``{"sample": x, "mask"?: mask, "label"?: condition}``,
    where ``x`` is the array ``Generators.generate(..., save_images=False)`` returns for that sample (its dtype,
    value range and (H, W, C) layout; a DataLoader's default collation turns it into a tensor), and
    ``transform`` is called as the original called it: ``x, mask = transform(x, mask)`` for models with masks,
    ``x = transform(x)`` otherwise. Item i is still sample i of the run, generated when read."""

    def __init__(self, model: Any, num_samples: int | None = None, *, transform: Any = None, **options: Any) -> None:
        super().__init__(model, num_samples, **options)
        self.original_transform = transform
        self.model_options: dict[str, Any] = {}

    @property
    def keys(self) -> list[str]:
        return ["sample"] + (["mask"] if self.card.has_masks else []) + (["label"] if self.source.condition else [])

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        out = []
        for chunk, samples in self.source.batches([self._index(i) for i in indices], self.model_options):
            for row in range(len(chunk)):
                x = original_array(self.card, samples.images[row])
                mask = samples.masks[row] if samples.masks is not None else None
                if self.original_transform is not None:
                    if mask is not None:
                        x, mask = self.original_transform(x, mask)
                    else:
                        x = self.original_transform(x)
                item: dict[str, Any] = {"sample": x}
                if self.source.condition:
                    item["label"] = self.source.label()
                if mask is not None:
                    item["mask"] = mask
                out.append(item)
        return out

    def __repr__(self) -> str:
        return f"OriginalDataset({self.card.id!r}, num_samples={self.num_samples}, seed={self.source.seed})"
