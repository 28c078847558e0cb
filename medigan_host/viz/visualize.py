"""`medigan show`: sample grids with masks and the model card, interpolation strips, and the latent explorer.

Figures need matplotlib (``pip install "medigan-host[viz]"``). With a display they open in a window; without one
(no ``DISPLAY``/``WAYLAND_DISPLAY`` on Linux, or a non-interactive matplotlib backend) they are written as PNG files.
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..display import card_summary, describe_view, label_colour, label_names, labels_present, mosaic, to_rgb, value_range
from ..errors import FrameworkMissingError, MediganUsageError, OutputError

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

    from ..models import Model
    from ..samples import Samples
    from .explorer import LatentExplorer

#: matplotlib backends that cannot open a window.
NON_INTERACTIVE_BACKENDS = frozenset({"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"})
#: Samples generated per call of the model while building a figure.
BATCH = 16
DPI = 100


def require_matplotlib() -> Any:
    """Import matplotlib, or say how to install it."""
    try:
        import matplotlib
    except ModuleNotFoundError as exc:
        from ..frameworks import pip_command

        raise FrameworkMissingError('showing images needs matplotlib, which is not installed: run '
                                    f'`{pip_command("medigan-host[viz]")}` (or `pip install matplotlib`)') from exc
    return matplotlib


def has_display() -> bool:
    """Whether a window can open: a display on Linux/BSD, and an interactive matplotlib backend."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd")) and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    backend = str(require_matplotlib().get_backend()).lower()
    return backend not in NON_INTERACTIVE_BACKENDS and not backend.startswith("module://matplotlib_inline")


def new_figure(interactive: bool, size: tuple[float, float]) -> Figure:
    """A pyplot figure (for a window) or a detached one that never touches a GUI (for a PNG)."""
    require_matplotlib()
    if interactive:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=size)
    from matplotlib.figure import Figure

    return Figure(figsize=size)


@dataclass
class Shown:
    """What `medigan show` did: the PNG written (None when a window was shown) and the figure's title."""

    path: Path | None
    title: str


# ---------------------------------------------------------------------------------------------------- samples


def grid_samples(model: Model, n: int, seed: int, condition: Mapping[str, Any] | None = None, inputs: Any = None) -> Samples:
    """Samples 0..n-1 of a run seeded ``seed`` (the images `medigan generate -n n --seed seed` writes)."""
    import numpy as np

    from ..samples import Samples
    from ..seeding import sample_seeds

    if model.card.needs_inputs and inputs is None:
        raise MediganUsageError(f"model {model.card.id!r} translates {model.card.input} inputs: give them with --inputs PATH "
                                "(a .npy array or a folder of .npy/.png files)")
    if inputs is not None:
        n = min(n, len(inputs))
    seeds = sample_seeds(seed, range(n))
    parts = [model.generate(seeds[i:i + BATCH], condition=condition,
                            inputs=None if inputs is None else inputs[i:i + BATCH]) for i in range(0, n, BATCH)]
    masks = [p.masks for p in parts]
    return Samples(images=np.concatenate([p.images for p in parts]),
                   masks=None if masks[0] is None else np.concatenate(masks), seeds=seeds)


def interpolation_samples(model: Model, seed: int, to_seed: int, steps: int, method: str = "slerp",
                          condition: Mapping[str, Any] | None = None) -> Samples:
    """``steps`` samples along the latent path from the latent of sample seed ``seed`` to that of ``to_seed``."""
    import numpy as np

    from ..samples import Samples
    from .interpolation import latent_path

    model.require_latents()
    ends = model.latents_of([seed, to_seed])
    path = latent_path(ends[0], ends[1], steps, method)
    parts = [model.generate_from_latents(path[i:i + BATCH], condition=condition) for i in range(0, steps, BATCH)]
    masks = [p.masks for p in parts]
    return Samples(images=np.concatenate([p.images for p in parts]), masks=None if masks[0] is None else np.concatenate(masks))


# ---------------------------------------------------------------------------------------------------- figures


def _window_note(card: Any, images: np.ndarray) -> str:
    if images.dtype.name != "uint16" and "display_range" not in card.extra:
        return ""
    low, high = value_range(card, images)
    source = "card display_range" if "display_range" in card.extra else "batch min-max"
    return f"window [{low:g}, {high:g}] ({source})"


def _legend(ax: Any, card: Any, masks: np.ndarray | None) -> None:
    from matplotlib.patches import Patch

    names = label_names(card)
    handles = [Patch(color=[c / 255 for c in label_colour(v)], label=names.get(str(v), f"label {v}")) for v in labels_present(masks)]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.01), ncol=min(len(handles), 5), fontsize=8,
                  frameon=False, title="masks")


def draw_card(ax: Any, card: Any, condition: Mapping[str, Any] | None = None, width: int = 46) -> None:
    """The model card as a two-column text panel in ``ax``."""
    ax.axis("off")
    lines = []
    for key, value in card_summary(card, condition):
        wrapped = textwrap.wrap(str(value), width) or ["-"]
        lines.append(f"{key:<15} {wrapped[0]}")
        lines.extend(f"{'':<15} {more}" for more in wrapped[1:])
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8, transform=ax.transAxes)


def samples_figure(card: Any, samples: Samples, title: str, *, condition: Mapping[str, Any] | None = None,
                   columns: int | None = None, interactive: bool = False) -> Figure:
    """A grid (or strip) of samples, masks in colour, the card beside it."""
    tiles = to_rgb(samples.images, card, samples.masks)
    image = mosaic(tiles, columns)
    h, w = image.shape[:2]
    panel_w = 5.0
    img_w = min(12.0, max(4.0, w / DPI * 1.5))
    img_h = img_w * h / w
    fig = new_figure(interactive, (img_w + panel_w, max(img_h + 1.2, 4.0)))
    grid = fig.add_gridspec(1, 2, width_ratios=[img_w, panel_w], wspace=0.05)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    _legend(ax, card, samples.masks)
    notes = "; ".join(filter(None, [describe_view(card), _window_note(card, samples.images)]))
    fits = max(20, int(img_w * 11))  # characters of 10-pt text over the grid's width: a long title wraps, not overlaps
    ax.set_title("\n".join(textwrap.fill(part, fits) for part in (title, notes) if part), fontsize=10)
    draw_card(fig.add_subplot(grid[0, 1]), card, condition)
    return fig


def png_target(path: str | Path, overwrite: bool = False) -> Path:
    """``path`` checked as a place to write a PNG: a .png name in an existing folder, new unless ``overwrite``."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"{str(path)!r}: figures are written as PNG; give a file name ending in .png")
    if path.is_dir():
        raise OutputError(f"{str(path)!r} is a folder; give a file name ending in .png")
    if path.exists() and not overwrite:
        raise OutputError(f"{str(path)!r} already exists; pass --overwrite to replace it, or give another --output-file")
    if not path.parent.is_dir():
        raise OutputError(f"folder {str(path.parent)!r} does not exist; create it first")
    return path


def save_png(fig: Figure, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``fig`` to ``path`` atomically; an existing file is replaced only with ``overwrite``."""
    from .. import atomic

    path = png_target(path, overwrite)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    atomic.write_bytes(path, buffer.getvalue())
    return path


def present(fig: Figure, target: Path | None, title: str) -> Shown:
    """Write ``fig`` to ``target``, or (None) open it in a window and wait until it is closed."""
    if target is None:
        import matplotlib.pyplot as plt

        plt.show()
        return Shown(None, title)
    return Shown(save_png(fig, target, overwrite=True), title)


def _target(output: str | Path | None, default_name: str, overwrite: bool) -> Path | None:
    """Where a figure goes: ``output``; None (a window) when there is a display; else ``default_name``."""
    require_matplotlib()
    if output is None and has_display():
        return None
    return png_target(output or default_name, overwrite)


# ---------------------------------------------------------------------------------------------------- commands


def show(model_id: str | int, n: int = 16, seed: int = 0, *, condition: Mapping[str, Any] | None = None,
         output: str | Path | None = None, overwrite: bool = False, inputs: Any = None, device: str = "auto") -> Shown:
    """`medigan show MODEL`: a grid of ``n`` samples with masks and the card; a window, or a PNG when headless."""
    from ..api import get_card, load_model

    target = _target(output, f"{get_card(model_id).id}-grid.png", overwrite)
    model = load_model(model_id, device)
    samples = grid_samples(model, n, seed, condition, inputs)
    title = f"{model.card.id}: {len(samples)} samples, run seed {seed}"
    fig = samples_figure(model.card, samples, title, condition=condition, interactive=target is None)
    return present(fig, target, title)


def show_interpolation(model_id: str | int, seed: int = 0, to_seed: int | None = None, steps: int = 8, method: str = "slerp", *,
                       condition: Mapping[str, Any] | None = None, output: str | Path | None = None,
                       overwrite: bool = False, device: str = "auto") -> Shown:
    """`medigan show MODEL --interpolate`: a strip of ``steps`` images from sample seed ``seed`` to ``to_seed``."""
    from ..api import get_card, load_model

    to_seed = seed + 1 if to_seed is None else to_seed
    target = _target(output, f"{get_card(model_id).id}-interpolation.png", overwrite)
    model = load_model(model_id, device)
    samples = interpolation_samples(model, seed, to_seed, steps, method, condition)
    title = f"{model.card.id}: {method} latent path, {steps} steps from seed {seed} to seed {to_seed}"
    fig = samples_figure(model.card, samples, title, condition=condition, columns=steps, interactive=target is None)
    return present(fig, target, title)


def explore(model_id: str | int, seed: int = 0, slider_grouper: int = 10, *, condition: Mapping[str, Any] | None = None,
            output: str | Path | None = None, overwrite: bool = False, device: str = "auto") -> Shown:
    """`medigan show MODEL --explore`: the latent explorer in a window; with ``output``, a PNG of its first view."""
    from ..api import get_card, load_model
    from .explorer import LatentExplorer

    require_matplotlib()
    if output is None and not has_display():
        raise MediganUsageError("the latent explorer is interactive and needs a display (no DISPLAY or WAYLAND_DISPLAY, "
                                "or a non-interactive matplotlib backend); give --output-file FILE.png for a snapshot, or use "
                                "--interpolate for a strip")
    target = _target(output, f"{get_card(model_id).id}-explorer.png", overwrite)
    model = load_model(model_id, device)
    explorer = LatentExplorer(model, seed=seed, condition=condition, slider_grouper=slider_grouper,
                              figure=new_figure(target is None, LatentExplorer.figure_size(model, slider_grouper)))
    return present(explorer.figure, target, explorer.title)


def visualize(model_id: str | int, slider_grouper: int = 10, auto_close: bool = False, *, seed: int = 0,
              condition: Mapping[str, Any] | None = None, device: str = "auto") -> LatentExplorer:
    """The latent explorer of the original medigan (``Generators.visualize``): sliders over groups of latent dimensions.

    Opens a window and blocks until it is closed; ``auto_close=True`` builds the explorer, draws it once and closes it
    (also without a display), returning the :class:`~medigan_host.viz.explorer.LatentExplorer` for scripts and tests.
    """
    from ..api import load_model
    from .explorer import LatentExplorer

    require_matplotlib()
    interactive = has_display()
    if not interactive and not auto_close:
        raise MediganUsageError("the latent explorer is interactive and needs a display (no DISPLAY or WAYLAND_DISPLAY, "
                                "or a non-interactive matplotlib backend); `medigan show MODEL --explore --output-file FILE.png` "
                                "writes a snapshot without one")
    model = load_model(model_id, device)
    fig = new_figure(interactive, LatentExplorer.figure_size(model, slider_grouper))
    explorer = LatentExplorer(model, seed=seed, condition=condition, slider_grouper=slider_grouper, figure=fig)
    if interactive:
        import matplotlib.pyplot as plt

        if auto_close:
            plt.close(fig)
        else:
            plt.show()
    else:
        fig.canvas.draw()
    return explorer
