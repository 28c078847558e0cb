"""Side-by-side grids for looking at a generator: 64 generated patches next to 64 real crops at the same scale.

    python training/grids.py fastgan training/output-fastgan/generator.safetensors --out results/fastgan-grid.png
    python training/grids.py dcgan src/medigan_plugin_histology_dcgan/weights/generator.safetensors --out dcgan-grid.png

Left: the images of seeds ``sample_seeds(--seed, range(64))`` (what ``medigan generate --seed S -n 64`` writes), as
8-bit pixels, 1:1 (no resampling). Right: 64 random crops of the same size from the training part of ihc.png (a
128x128 crop cannot lie inside one 128-px held-out tile except at 4 positions, so the real side shows training
crops), 1:1. The two 8x8 grids are separated by a white band.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import SPLITS, crops, load_ihc, patch_corners  # noqa: E402
from evaluate import _network  # noqa: E402
from export_onnx import add_network_options_argument  # noqa: E402

from medigan_host import latents  # noqa: E402
from medigan_host.seeding import sample_seeds  # noqa: E402


def tile(images: np.ndarray, columns: int = 8, gap: int = 2) -> np.ndarray:
    """(N, H, W, 3) uint8 -> one grid image, ``gap`` white pixels between tiles."""
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = image
    return grid


def generated(kind: str, weights: Path, n: int, run_seed: int, options: dict | None = None) -> np.ndarray:
    import torch
    from safetensors.torch import load_file

    net = _network(kind, options)
    net.load_state_dict(load_file(str(weights)))
    net.eval()
    z = latents(sample_seeds(run_seed, range(n)), net.latent_dim)
    with torch.inference_mode():
        unit = ((net(torch.from_numpy(z)) + 1) * 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return np.rint(unit * 255).astype(np.uint8)


def main() -> None:
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["dcgan", "fastgan"])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=SPLITS, default="three-way",
                        help="the tile split whose training part the real crops come from (data.py)")
    add_network_options_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="image file to write: .png (lossless) or .jpg (quality 85)")
    args = parser.parse_args()
    fake = generated(args.model, args.weights, 64, args.seed, args.network_options)
    size = fake.shape[1]
    corners = patch_corners("training", args.split, size=size)
    real = crops(load_ihc(), corners[np.random.default_rng(args.seed).choice(len(corners), 64, replace=False)], size)
    left, right = tile(fake), tile(real)
    band = np.full((left.shape[0], 3 * size // 8, 3), 255, np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid = Image.fromarray(np.concatenate([left, band, right], axis=1))
    if args.out.suffix.lower() in (".jpg", ".jpeg"):  # for documentation: a tenth of the PNG's size
        grid.save(args.out, quality=85, subsampling=0)
    else:
        grid.save(args.out, optimize=True)
    print(f"wrote {args.out}: left 64 generated {size}x{size}, right 64 real training crops {size}x{size}")


if __name__ == "__main__":
    main()
