"""`medigan gallery`: a static HTML page of the installed models, with sample grids and cards, that opens offline.

Layout of the folder::

    DIR/index.html          one section per model: grid, mask legend, card; no scripts, no external URLs
    DIR/models/<id>.png     the sample grid (masks overlaid in colour, 3-D volumes as mid slices)
    DIR/models/<id>.json    the model card
    DIR/gallery.json        what was built: settings and each model's status

A model that cannot be shown (framework missing, image-to-image, a failing plugin) gets a line saying why.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from .._version import __version__
from ..display import card_summary, describe_view, label_colour, label_names, labels_present, mosaic, to_rgb
from ..errors import MediganError, OutputError
from ..registry import Catalog

MARKER = "gallery.json"
INDEX = "index.html"
MODELS = "models"
#: Grids narrower than this are scaled up by a whole factor in the page (pixels stay sharp).
MIN_WIDTH = 512


@dataclass
class GalleryEntry:
    """One model in the gallery: ``status`` is ``shown``, ``skipped`` or ``failed``; ``error`` says why not shown."""

    model: str
    status: str
    error: str = ""
    image: str = ""
    card: str = ""
    labels: list[int] = field(default_factory=list)
    width: int = 0


@dataclass
class GalleryResult:
    index: Path
    entries: list[GalleryEntry]

    @property
    def shown(self) -> list[GalleryEntry]:
        return [e for e in self.entries if e.status == "shown"]


def prepare_folder(folder: Path, overwrite: bool) -> None:
    """Create ``folder``, or accept it when empty, or when it holds a gallery and ``overwrite`` is given."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{str(folder)!r} is a file; give a folder for the gallery")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise OutputError(f"folder {str(folder)!r} is not empty and holds no gallery; choose a new or empty folder")
        if not overwrite:
            raise OutputError(f"folder {str(folder)!r} already holds a gallery; pass --overwrite to replace it")
    (folder / MODELS).mkdir(parents=True, exist_ok=True)
    if not (folder / MARKER).is_file():  # first: a gallery cut short (a plugin ending the process) can be --overwritten
        atomic.write_text(folder / MARKER, json.dumps({"host_version": __version__, "status": "building"}) + "\n")


def build_gallery(output_dir: str | Path, n: int = 8, *, models: Sequence[str] | None = None, seed: int = 0,
                  device: str = "auto", overwrite: bool = False, catalog: Catalog | None = None) -> GalleryResult:
    """Write the gallery of ``models`` of ``catalog`` (default: every installed model) into ``output_dir``."""
    from .visualize import require_matplotlib

    require_matplotlib()
    if catalog is None:
        from ..api import installed_catalog

        catalog = installed_catalog()
    entries = [catalog.get(m) for m in models] if models else list(catalog)  # unknown names fail before anything is written
    unique = list({e.card.id: e for e in entries}.values())
    folder = Path(output_dir)
    prepare_folder(folder, overwrite)
    earlier = _gallery_files(folder)
    results = [_build_entry(entry, folder, n, seed, device) for entry in unique]
    cards = {e.card.id: e for e in unique}
    atomic.write_text(folder / INDEX, render_index(results, cards, n, seed))
    settings = {"host_version": __version__, "num_samples": n, "seed": seed, "models": [asdict(r) for r in results]}
    atomic.write_text(folder / MARKER, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    for name in earlier - _gallery_files(folder):  # the earlier gallery's models that this one does not show
        (folder / MODELS / name).unlink(missing_ok=True)
    return GalleryResult(folder / INDEX, results)


def _gallery_files(folder: Path) -> set[str]:
    """The names in ``models/`` that the gallery recorded in ``folder`` wrote (plain file names only, so that a
    hand-edited gallery.json cannot name anything outside ``models/``)."""
    from ..cards import safe_filename

    try:
        recorded = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("models", [])
    except (OSError, ValueError, AttributeError):
        return set()
    names = set()
    for entry in recorded if isinstance(recorded, list) else []:
        for key in ("image", "card"):
            path = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(path, str) and path.startswith(f"{MODELS}/") and safe_filename(path[len(MODELS) + 1:]):
                names.add(path[len(MODELS) + 1:])
    return names


def _build_entry(entry: Any, folder: Path, n: int, seed: int, device: str) -> GalleryEntry:
    from ..models import load
    from .visualize import grid_samples

    card = entry.card
    card_file = f"{MODELS}/{card.id}.json"
    atomic.write_text(folder / card_file, json.dumps({**card.to_dict(), "plugin": entry.plugin,
                                                      "plugin_version": entry.plugin_version}, indent=2, ensure_ascii=False) + "\n")
    if card.needs_inputs:
        return GalleryEntry(card.id, "skipped", f"image-to-image model (input: {card.input}): it needs inputs; see it with "
                                                f"`medigan show {card.id} --inputs PATH`", card=card_file)
    try:
        samples = grid_samples(load(entry, device), n, seed)
    except MediganError as error:
        return GalleryEntry(card.id, "failed", str(error), card=card_file)
    image_file = f"{MODELS}/{card.id}.png"
    grid = mosaic(to_rgb(samples.images, card, samples.masks), min(n, 4))
    atomic.write_bytes(folder / image_file, png_bytes(grid))
    return GalleryEntry(card.id, "shown", image=image_file, card=card_file, labels=labels_present(samples.masks),
                        width=int(grid.shape[1]))


def png_bytes(rgb: Any) -> bytes:
    """An (H, W, 3) uint8 array as PNG bytes."""
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    imsave(buffer, rgb, format="png")
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
nav a { margin-right: .8rem; }
section { border-top: 1px solid #ccc; padding: 1rem 0; }
.model { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
img.grid { image-rendering: pixelated; max-width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .9rem; }
td { padding: .15rem .6rem .15rem 0; vertical-align: top; }
td:first-child { color: #666; white-space: nowrap; }
.swatch { display: inline-block; width: .9em; height: .9em; margin: 0 .3em 0 .8em; vertical-align: middle; }
.failed, .skipped { color: #a33; }
.note { color: #666; font-size: .9rem; }
"""


def render_index(entries: list[GalleryEntry], cards: dict[str, Any], n: int, seed: int) -> str:
    """The gallery page: inline CSS, relative links only."""
    shown = sum(e.status == "shown" for e in entries)
    nav = " ".join(f'<a href="#{html.escape(e.model)}">{html.escape(e.model)}</a>' for e in entries)
    sections = "\n".join(_section(e, cards[e.model].card, cards[e.model].plugin) for e in entries)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>medigan gallery</title>
<style>{_CSS}</style>
</head>
<body>
<h1>medigan gallery</h1>
<p class="note">{shown} of {len(entries)} installed models shown, {n} samples each (run seed {seed}: the samples
<code>medigan generate MODEL -n {n} --seed {seed}</code> writes); medigan-host {html.escape(__version__)}.</p>
<nav>{nav}</nav>
{sections}
</body>
</html>
"""


def _section(entry: GalleryEntry, card: Any, plugin: str) -> str:
    model = html.escape(entry.model)
    head = f'<section id="{model}">\n<h2>{model}</h2>\n<p>{html.escape(card.name)}</p>'
    card_link = f'<a href="{html.escape(entry.card)}">card (JSON)</a>' if entry.card else ""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                   for k, v in [*card_summary(card), ("plugin", plugin)])
    table = f"<div><table>{rows}</table><p>{card_link}</p></div>"
    if entry.status != "shown":
        reason = f'<p class="{entry.status}">{entry.status}: {html.escape(entry.error)}</p>'
        return f"{head}\n{reason}\n{table}\n</section>"
    width = entry.width * max(1, -(-MIN_WIDTH // max(entry.width, 1)))  # whole factor, at least MIN_WIDTH
    view = describe_view(card)
    caption = f'<figcaption class="note">{html.escape(view)}</figcaption>' if view else ""
    figure = (f'<figure><img class="grid" src="{html.escape(entry.image)}" width="{width}" alt="samples of {model}">'
              f"{_legend_html(entry, label_names(card))}{caption}</figure>")
    return f'{head}\n<p class="note">{html.escape(card.description)}</p>\n<div class="model">{figure}{table}</div>\n</section>'


def _legend_html(entry: GalleryEntry, names: Mapping[str, str]) -> str:
    if not entry.labels:
        return ""
    items = "".join(f'<span class="swatch" style="background: rgb{label_colour(v)}"></span>'
                    f"{html.escape(names.get(str(v), f'label {v}'))}" for v in entry.labels)
    return f'<p class="note">masks:{items}</p>'
