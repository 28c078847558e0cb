"""Measure the installed ``cdcgan-histology-ihc`` against the held-out real patches; print the card's metrics as JSON.

Generates ``--n`` patches per class through medigan (the same path users take) and compares them with every
labelled 64x64 patch of the held-out region (rows 288-511, columns 224-415 of ihc.png, never trained on):

- ``condition_accuracy``: the share of generated patches that the labelling rule puts on the requested side
  (DAB-positive area >= 30 %, halfway between the negative <= 10 % and positive >= 50 % training classes).
- ``dab_positive_area.<class>``: mean DAB-positive area per class, generated, with the held-out real value as
  reference and that of 3000 training patches beside it.
- ``colour_mean_abs_diff.<class>``: mean absolute difference of the mean RGB colour (0-255), generated vs held-out real.

    python plugins/medigan-plugin-cdcgan-histology/training/evaluate.py --n 500
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from medigan_plugin_cdcgan_histology.plugin import MODEL_ID  # noqa: E402
from medigan_plugin_cdcgan_histology.stain import dab_positive_fraction  # noqa: E402
from train import CLASSES, crop, load_ihc, patch_positions  # noqa: E402

import medigan_host  # noqa: E402

DECISION = 0.3
#: Training patches per class measured for comparison (drawn with a fixed seed from all training positions).
TRAINING_SAMPLE = 3000


def real_patches(threshold: float, *, held_out: bool, limit: int | None = None) -> dict[str, np.ndarray]:
    """Every labelled held-out patch, or ``limit`` training patches per class drawn with a fixed seed."""
    image, rng = load_ihc(), np.random.default_rng(0)
    out = {}
    for c, corners in patch_positions(image, threshold, held_out=held_out).items():
        if limit is not None and len(corners) > limit:
            corners = corners[rng.choice(len(corners), size=limit, replace=False)]
        out[c] = crop(image, corners)
    return out


def generated_patches(n: int, seed: int) -> dict[str, np.ndarray]:
    out = {}
    for value in CLASSES:
        batches = medigan_host.generate(MODEL_ID, n, seed=seed, batch_size=64, condition={"dab": value}, device="cpu")
        out[value] = np.concatenate([b.images for b in batches])
    return out


def metrics(n: int, seed: int) -> dict:
    card = medigan_host.get_card(MODEL_ID)
    threshold = card.extra["labelling"]["dab_threshold"]
    real, fake = real_patches(threshold, held_out=True), generated_patches(n, seed)
    seen = real_patches(threshold, held_out=False, limit=TRAINING_SAMPLE)
    area = {c: dab_positive_fraction(fake[c], threshold) for c in CLASSES}
    real_area = {c: dab_positive_fraction(real[c], threshold) for c in CLASSES}
    seen_area = {c: dab_positive_fraction(seen[c], threshold) for c in CLASSES}
    correct = np.concatenate([area["negative"] < DECISION, area["positive"] >= DECISION])
    out: dict = {"condition_accuracy": {"value": round(float(correct.mean()), 4), "n": int(correct.size),
                                        "reference": f"labelling rule at {DECISION:.0%} DAB-positive area",
                                        "extractor": "colour deconvolution (stain.py)"}}
    out["dab_positive_area"] = {c: {"value": round(float(area[c].mean()), 4), "n": n,
                                    "reference": round(float(real_area[c].mean()), 4), "reference_n": len(real[c]),
                                    "training": round(float(seen_area[c].mean()), 4), "training_n": len(seen[c])}
                                for c in CLASSES}
    out["colour_mean_abs_diff"] = {
        c: {"value": round(float(np.abs(fake[c].reshape(-1, 3).mean(0) - real[c].reshape(-1, 3).mean(0)).mean()), 2),
            "n": n, "reference": "mean RGB (0-255) of the held-out real patches"} for c in CLASSES}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="generated patches per class")
    parser.add_argument("--seed", type=int, default=2024, help="run seed of the generated patches")
    args = parser.parse_args()
    print(json.dumps(metrics(args.n, args.seed), indent=2))


if __name__ == "__main__":
    main()
