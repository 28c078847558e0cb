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


#: How many sample inputs the stand-ins of image-to-image models ship in their package.
SHIPPED = 3


def shipped_inputs(card: ModelCard) -> np.ndarray:
    """The sample inputs an image-to-image stand-in ships (uint8, one grey channel, the card's size)."""
    h, w = card.image_size
    return np.stack([((np.arange(h * w).reshape(h, w) * (k + 3)) % 241).astype(np.uint8) for k in range(SHIPPED)])


def shipped_folder(card: ModelCard) -> str:
    """Where, inside the zip, the original's default ``input_path`` points (the zip unpacks into ``models/``)."""
    spec = card.extra["original"]
    default = spec["custom_args"][spec["input_arg"]].rstrip("/")
    return default[len("models/"):] if default.startswith("models/") else f"{spec['package']}/{default}"


def package_zip(card: ModelCard, source: str | None = None, *, samples: bool = True) -> bytes:
    """The record's zip: ``<package>/__init__.py`` and ``<package>/<weights file>`` (plus a stray README); the
    stand-ins of image-to-image models also ship :data:`SHIPPED` sample PNGs where their default input_path points."""
    from PIL import Image

    spec = card.extra["original"]
    weights = io.BytesIO()
    np.save(weights, np.array([WEIGHT], dtype=np.int64), allow_pickle=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(f"{spec['package']}/__init__.py", source if source is not None else package_source(card))
        zipped.writestr(f"{spec['package']}/{spec['weights_file']}", weights.getvalue())
        zipped.writestr(f"{spec['package']}/README.md", "stand-in")
        if samples and spec.get("input_arg"):
            for k, image in enumerate(shipped_inputs(card)):
                png = io.BytesIO()
                Image.fromarray(image).save(png, format="PNG")
                zipped.writestr(f"{shipped_folder(card)}/sample_{k}.png", png.getvalue())
    return buffer.getvalue()


def wheel(folder, name: str, version: str, source: str) -> None:
    """A pure-Python wheel of one module ``name`` (whose code is ``source``) in ``folder``, for offline installs."""
    import base64
    import hashlib

    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": source,
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: medigan-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
                     f"{len(text.encode())}\n" for path, text in files.items()) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as zipped:
        for path, text in {**files, f"{dist}/RECORD": record}.items():
            zipped.writestr(path, text)


def record_of(card: ModelCard) -> tuple[int, str]:
    entry = card.weights[0]
    return int(entry["doi"].rsplit(".", 1)[1]), entry["filename"]


#: A stand-in built from the original medigan template (templates/examples/__init__.py of the original repository):
#: a DCGAN generator ``main`` of transposed convolutions loaded from the checkpoint's ``generator`` entry, a latent
#: drawn with ``torch.randn(num_samples, nz, 1, 1)`` and the template's interval mapping of [-1, 0] to 0..255.
TEMPLATE_SOURCE = '''import numpy as np
import torch
import torch.nn as nn


class Generator(nn.Module):
    def __init__(self, nz=100, ngf=64):
        super().__init__()
        layers, previous = [], nz
        for i, width in enumerate([ngf * 16, ngf * 8, ngf * 4, ngf * 2, ngf]):
            layers += [nn.ConvTranspose2d(previous, width, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(True)]
            previous = width
        layers += [nn.ConvTranspose2d(previous, 1, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x)


def interval_mapping(image, from_min, from_max, to_min, to_max):
    scaled = np.array((image - from_min) / float(from_max - from_min), dtype=float)
    return to_min + (scaled * (to_max - to_min))


def generate(model_file, num_samples, output_path, save_images):
    device = torch.device("cpu")
    net = Generator()
    net.load_state_dict(torch.load(model_file, map_location=device)["generator"])
    net.eval()
    z = torch.randn(num_samples, 100, 1, 1, device=device)
    images = net(z).detach().cpu().numpy()
    return [interval_mapping(img.transpose(1, 2, 0), -1.0, 0.0, 0, 255).astype("uint8") for img in images]
'''


def template_zip(card: ModelCard, seed: int = 11) -> bytes:
    """The record's zip of a template-based original (00005, 00006): the template code and a checkpoint of a randomly
    initialised generator with trained-looking BatchNorm statistics."""
    import torch

    namespace: dict = {}
    exec(compile(TEMPLATE_SOURCE, "template", "exec"), namespace)  # the stand-in's own network class
    torch.manual_seed(seed)
    network = namespace["Generator"]()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    checkpoint = io.BytesIO()
    torch.save({"generator": network.state_dict(), "discriminator": {}}, checkpoint)
    spec = card.extra["original"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(f"{spec['package']}/__init__.py", TEMPLATE_SOURCE)
        zipped.writestr(f"{spec['package']}/{spec['weights_file']}", checkpoint.getvalue())
    return buffer.getvalue()
