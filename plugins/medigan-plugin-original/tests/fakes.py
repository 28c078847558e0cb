"""Stand-ins for the original model packages, in the original layout: a zip holding one folder named after the
config's ``package_name`` with an ``__init__.py`` that defines the original's generate function with its base and
custom arguments, and a small weights file (an ``.npy`` array here) that the function reads from ``model_file``.

Each stand-in makes outputs the way the card says the original does: noise models draw from numpy's global random
state (which the worker seeds per sample); latent models compute from ``z``; image-to-image models read the PNG in
``input_path``; conditional models change with their condition; mask models return a 4th channel or an
(image, mask) pair. Everything is uint8, as the originals' save code writes PNGs.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from medigan_host import ModelCard

#: The factor stored as the stand-in's weights; outputs depend on it, so a wrong weights file shows.
WEIGHT = 3


def signature(card: ModelCard) -> str:
    spec = card.extra["original"]
    custom = ", ".join(f"{name}={value!r}" for name, value in spec.get("custom_args", {}).items())
    return ", ".join(filter(None, [", ".join(spec["base_args"]), custom]))


def _sample_code(card: ModelCard) -> str:
    """Python lines making one sample ``item`` (uint8), with ``k`` its index in the call."""
    spec = card.extra["original"]
    h, w = card.image_size
    c = card.channels
    if spec.get("latent_arg"):
        arg = spec["latent_arg"]
        base = (f"    zz = np.asarray({arg}[k]).reshape(-1)\n"
                f"    grid = np.add.outer(np.arange({h}), np.arange({w})) % zz.size\n"
                f"    img = ((zz[grid] * 40 + 128).clip(0, 255)).astype(np.uint8)[..., None].repeat({c}, -1)\n")
    elif spec.get("input_arg"):
        arg = spec["input_arg"]
        base = (f"    from PIL import Image\n"
                f"    names = sorted(os.listdir({arg}))\n"
                f"    src = np.asarray(Image.open(os.path.join({arg}, names[0])))\n"
                f"    img = (255 - src).astype(np.uint8).reshape({h}, {w}, -1)[..., :1].repeat({c}, -1)\n")
    else:
        base = f"    img = np.random.randint(0, 256 // WEIGHT, size=({h}, {w}, {c})).astype(np.uint8) * WEIGHT\n"
    rule = spec.get("condition_arg")
    if rule:
        value = rule["arg"] if rule.get("wrap") != "list" else f"{rule['arg']}[0]"
        base += f"    if {value} is not None:\n        img = (img // 2 + 7 * (int({value}) % 10)).astype(np.uint8)\n"
    kind = spec.get("output", "image")
    if kind == "image_mask_channels":
        base += "    item = np.concatenate([img, ((img[..., :1] > 128) * 255).astype(np.uint8)], axis=-1)\n"
    elif kind == "image_mask_pair":
        base += "    item = (img, ((img[..., :1] > 128) * 255).astype(np.uint8).repeat(3, -1))\n"
    else:
        base += "    item = img[..., 0] if img.shape[-1] == 1 else img\n"
    return base


def package_source(card: ModelCard, body: str | None = None) -> str:
    """The stand-in ``__init__.py``: the original's function name and arguments, returning ``num_samples`` samples
    when ``save_images`` is False. ``body`` replaces the sample code (for crashing, hanging, exiting workers)."""
    spec = card.extra["original"]
    lines = ["import os", "import numpy as np", "", f"WEIGHT = {WEIGHT}", "",
             f"def {spec['function']}({signature(card)}):",
             "    global WEIGHT",
             "    WEIGHT = int(np.load(model_file)[0])",
             "    print('stand-in original generating', num_samples)  # the originals print; this must not break the pipe",
             "    out = []",
             "    for k in range(int(num_samples)):"]
    code = body if body is not None else _sample_code(card)
    lines += ["    " + line for line in code.rstrip("\n").splitlines()]
    lines += ["        out.append(item)", "    return out", ""]
    return "\n".join(lines)


def package_zip(card: ModelCard, source: str | None = None) -> bytes:
    """The record's zip: ``<package>/__init__.py`` and ``<package>/<weights file>`` (plus a stray README)."""
    spec = card.extra["original"]
    weights = io.BytesIO()
    np.save(weights, np.array([WEIGHT], dtype=np.int64), allow_pickle=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(f"{spec['package']}/__init__.py", source if source is not None else package_source(card))
        zipped.writestr(f"{spec['package']}/{spec['weights_file']}", weights.getvalue())
        zipped.writestr(f"{spec['package']}/README.md", "stand-in")
    return buffer.getvalue()


def record_of(card: ModelCard) -> tuple[int, str]:
    entry = card.weights[0]
    return int(entry["doi"].rsplit(".", 1)[1]), entry["filename"]
