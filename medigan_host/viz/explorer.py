"""The latent explorer of the original medigan: matplotlib sliders over groups of a model's latent dimensions.

Each slider adds an offset to one group of ``slider_grouper`` consecutive latent dimensions of a seed's latent; the
image follows every change. "reset" sets all offsets back to 0, "next seed" starts from the latent of the next seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..display import describe_view, to_rgb, value_range
from ..errors import MediganUsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..models import Model

#: More latent dimensions than this many groups are grouped more coarsely, so the window stays usable.
MAX_SLIDERS = 32
#: Slider range: offsets in standard deviations of the Gaussian latent.
OFFSET_RANGE = (-3.0, 3.0)


def slider_groups(size: int, slider_grouper: int, max_sliders: int = MAX_SLIDERS) -> list[range]:
    """Consecutive groups of latent dimensions, ``slider_grouper`` per slider (coarser above ``max_sliders`` sliders)."""
    if isinstance(slider_grouper, bool) or not isinstance(slider_grouper, int) or slider_grouper < 1:
        raise MediganUsageError(f"slider_grouper must be a whole number >= 1 (latent dimensions per slider), got {slider_grouper!r}")
    per = max(slider_grouper, math.ceil(size / max_sliders))
    return [range(start, min(start + per, size)) for start in range(0, size, per)]


class LatentExplorer:
    """An image of ``model`` driven by sliders over its latent; build it on a matplotlib ``figure``."""

    def __init__(self, model: Model, *, seed: int = 0, condition: Mapping[str, Any] | None = None,
                 slider_grouper: int = 10, figure: Figure) -> None:
        from matplotlib.widgets import Button, Slider

        self.model = model
        self.shape = model.require_latents()
        self.condition = condition
        self.groups = slider_groups(math.prod(self.shape), slider_grouper)
        self.figure = figure
        self.seed = seed
        self.base = self._latent_of(seed)
        first = model.generate_from_latents(self.base.reshape(1, *self.shape), condition=condition)
        self.window = value_range(model.card, first.images)

        n = len(self.groups)
        slider_top, row = 0.92, min(0.05, 0.8 / n)
        self.image_axes = figure.add_axes((0.03, 0.12, 0.5, 0.78))
        self.image_axes.set_axis_off()
        self.artist = self.image_axes.imshow(to_rgb(first.images, model.card, first.masks, window=self.window)[0],
                                             interpolation="nearest")
        self.sliders = []
        for i, group in enumerate(self.groups):
            axes = figure.add_axes((0.68, slider_top - (i + 1) * row, 0.25, row * 0.7))
            label = f"z[{group.start}]" if len(group) == 1 else f"z[{group.start}:{group.stop}]"
            slider = Slider(axes, label, *OFFSET_RANGE, valinit=0.0)
            slider.on_changed(self._changed)
            self.sliders.append(slider)
        self.reset_button = Button(figure.add_axes((0.60, 0.02, 0.14, 0.06)), "reset")
        self.reset_button.on_clicked(lambda _event: self.reset())
        self.seed_button = Button(figure.add_axes((0.78, 0.02, 0.16, 0.06)), "next seed")
        self.seed_button.on_clicked(lambda _event: self.set_seed(self.seed + 1))
        self._set_title()

    @staticmethod
    def figure_size(model: Model, slider_grouper: int) -> tuple[float, float]:
        """A figure size that fits the image and one slider per group."""
        n = len(slider_groups(math.prod(model.require_latents()), slider_grouper))
        return 11.0, max(6.0, 0.3 * n + 2.0)

    @property
    def title(self) -> str:
        per = len(self.groups[0])
        view = describe_view(self.model.card)
        return (f"{self.model.card.id}: latent explorer, seed {self.seed}, {len(self.groups)} sliders of {per} latent "
                f"dimension{'s' if per > 1 else ''}" + (f"\n{view}" if view else ""))

    @property
    def offsets(self) -> np.ndarray:
        """The slider values, one per group."""
        return np.array([s.val for s in self.sliders], dtype=np.float32)

    @property
    def latent(self) -> np.ndarray:
        """The seed's latent plus each slider's offset on its group of dimensions, shape ``latent_shape``."""
        z = self.base.copy()
        for group, offset in zip(self.groups, self.offsets, strict=True):
            z[group.start:group.stop] += offset
        return z.reshape(self.shape)

    @property
    def image(self) -> np.ndarray:
        """The RGB image shown now (H, W, 3) uint8."""
        return np.asarray(self.artist.get_array())

    def render(self) -> np.ndarray:
        """Generate the image of the current latent."""
        samples = self.model.generate_from_latents(self.latent[None], condition=self.condition)
        return to_rgb(samples.images, self.model.card, samples.masks, window=self.window)[0]

    def update(self) -> None:
        self.artist.set_data(self.render())
        self.figure.canvas.draw_idle()

    def reset(self) -> None:
        """All offsets back to 0 (one redraw)."""
        self._set_silently([0.0] * len(self.sliders))
        self.update()

    def set_offsets(self, values: list[float]) -> None:
        """Set every slider at once (one redraw)."""
        if len(values) != len(self.sliders):
            raise MediganUsageError(f"give {len(self.sliders)} slider values, got {len(values)}")
        self._set_silently(values)
        self.update()

    def set_seed(self, seed: int) -> None:
        """Start again from the latent of ``seed``, offsets at 0."""
        self.seed = seed
        self.base = self._latent_of(seed)
        self._set_title()
        self.reset()

    def _latent_of(self, seed: int) -> np.ndarray:
        return np.asarray(self.model.latents_of([seed])[0], dtype=np.float32).reshape(-1).copy()

    def _set_title(self) -> None:
        self.figure.suptitle(self.title, fontsize=10)

    def _set_silently(self, values: list[float]) -> None:
        for slider, value in zip(self.sliders, values, strict=True):
            slider.eventson = False
            slider.set_val(float(value))
            slider.eventson = True

    def _changed(self, _value: float) -> None:
        self.update()
