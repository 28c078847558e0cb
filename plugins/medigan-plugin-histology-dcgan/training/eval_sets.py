"""The image folders of the plugin's evaluation with ``medigan evaluate``: 64x64 crops as 8-bit RGB PNGs.

    medigan generate histology-ihc-fastgan-onnx -n 500 --seed 0 -o eval/generated/
    python training/eval_sets.py --generated eval/generated --n 500 --out eval/
    medigan evaluate --fake eval/generated-64 --real eval/test-64 --extractor inception-v3-fid -o eval/fastgan

Writes, in ``--out`` (the tiles of ``data.py``'s three-way split; ``--split two-way``: the split of the DCGAN and of
the FastGAN up to 1.3.0, which has no test tiles and writes ``validation-64/`` in place of ``test-64/``):

- ``test-64/``: ``n`` random 64x64 crops inside the 4 test tiles of ihc.png (crop seed ``--seed``). No training run
  and no selection step of ``histology-ihc-fastgan`` 1.4.0 has seen these tiles: its checkpoint was chosen on the
  validation tiles (``select_checkpoint.py``), so numbers on these crops are test numbers.
- ``training-64/``: ``n`` random 64x64 crops of the split's training part (crop seed ``--seed`` + 1), for the
  real-against-real reference and for ``--metric memorization``.
- ``generated-64/`` (with ``--generated RUN``): one random 64x64 window of each image of a run that ``medigan
  generate`` wrote (window seed ``--seed`` + 2, as ``evaluate.py``), in manifest order; a 64x64 model's images are
  copied whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import PATCH, SPLITS, crops, load_ihc, patch_corners  # noqa: E402


def real_crops(part: str, n: int, seed: int, split: str) -> np.ndarray:
    """(n, 64, 64, 3) uint8 random crops of one part of a split (as ``evaluate_fid.real_images``)."""
    corners = patch_corners(part, split)
    picks = np.random.default_rng(seed).choice(len(corners), size=n, replace=False)
    return crops(load_ihc(), corners[picks])


def generated_windows(run: Path, seed: int) -> np.ndarray:
    """One 64x64 window of each image of a ``medigan generate`` run, at a seeded position, in manifest order."""
    from medigan_host.evaluation.features import image_files
    from medigan_host.formats.readers import read_image

    files, _ = image_files(run)
    images = np.stack([read_image(path) for path in files])
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise SystemExit(f"{run}: expected 8-bit RGB PNGs, got {images.dtype} {images.shape}")
    size = images.shape[1]
    if size == PATCH:
        return images
    corners = np.random.default_rng(seed).integers(0, size - PATCH + 1, (len(images), 2))
    return np.stack([im[y:y + PATCH, x:x + PATCH] for im, (y, x) in zip(images, corners, strict=True)])


def write_pngs(images: np.ndarray, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:06d}.png")
    print(f"{len(images)} images written to {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0, help="crop seed of the held-out crops (+1: training, +2: windows)")
    parser.add_argument("--split", choices=SPLITS, default="three-way", help="the tile split of data.py")
    parser.add_argument("--generated", type=Path, help="a run folder of `medigan generate` to cut 64x64 windows from")
    args = parser.parse_args()
    held_out = "test" if SPLITS[args.split]["test"] else "validation"
    write_pngs(real_crops(held_out, args.n, args.seed, args.split), args.out / f"{held_out}-64")
    write_pngs(real_crops("training", args.n, args.seed + 1, args.split), args.out / "training-64")
    if args.generated is not None:
        write_pngs(generated_windows(args.generated, args.seed + 2), args.out / "generated-64")


if __name__ == "__main__":
    main()
