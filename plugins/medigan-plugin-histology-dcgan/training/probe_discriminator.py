"""Can a fresh discriminator tell a trained FastGAN generator's images from real crops? One line per policy.

    python training/probe_discriminator.py src/medigan_plugin_histology_dcgan/weights/fastgan.safetensors \
        --network-options '{"noise_maps": true}' --policies color,translation,cutout none translation

For each DiffAugment policy (as ``train_fastgan.py --augment`` takes it), a new discriminator of ``train_fastgan.py``
is trained for ``--steps`` steps against the *fixed* generator (the generator does not learn), with the recipe's
batch, optimiser and hinge loss, and the mean discriminator loss of the last ``--window`` steps is printed. 4.0 is
the loss of a discriminator that gives real and generated images the same logits (two heads, 2.0 each); a
discriminator that separates them well ends near 0. A policy under which even this easy task stays near 4.0 gives the
generator next to no signal while it trains.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import load_ihc, patch_corners  # noqa: E402
from export_onnx import add_network_options_argument  # noqa: E402
from medigan_plugin_histology_dcgan.fastgan import IMAGE_SIZE, Generator  # noqa: E402
from train import init_weights  # noqa: E402
from train_fastgan import Discriminator, augment_policy, diff_augment, hinge, real_batch  # noqa: E402


def probe(generator: Generator, policy: tuple[str, ...], steps: int, window: int, seed: int, batch_size: int = 8,
          spectral_norm: bool = True) -> dict:
    """Train a fresh discriminator against ``generator`` (fixed) under ``policy``; its losses, summarised."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    critic = Discriminator(spectral_norm=spectral_norm)
    critic.apply(init_weights)
    optimiser = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.999))
    image = load_ihc()
    corners = patch_corners("training", "two-way", size=IMAGE_SIZE)
    losses = []
    started = time.perf_counter()
    for _ in range(steps):
        real = real_batch(image, corners, rng, batch_size)
        with torch.no_grad():
            fake = generator(torch.randn(batch_size, generator.latent_dim))
        loss = hinge(critic(diff_augment(real, policy)), True) + hinge(critic(diff_augment(fake, policy)), False)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return {"policy": ",".join(policy) or "none", "spectral_norm": spectral_norm, "steps": steps,
            f"mean_loss_last_{window}": round(float(np.mean(losses[-window:])), 3),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, help="a train_fastgan.py generator (.safetensors)")
    add_network_options_argument(parser)
    parser.add_argument("--policies", nargs="+", type=augment_policy, default=[augment_policy("color,translation,cutout")],
                        metavar="POLICY", help="DiffAugment policies to probe, as train_fastgan.py --augment takes them")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--window", type=int, default=50, help="average the loss over this many last steps")
    parser.add_argument("--no-spectral-norm", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not 0 < args.window <= args.steps:
        parser.error(f"--window must be between 1 and --steps ({args.steps}), not {args.window}")
    torch.set_num_threads(args.threads)
    generator = Generator(**(args.network_options or {}))
    generator.load_state_dict(load_file(str(args.weights)))
    generator.eval()
    for policy in args.policies:
        print(json.dumps(probe(generator, policy, args.steps, args.window, args.seed,
                               spectral_norm=not args.no_spectral_norm)), flush=True)


if __name__ == "__main__":
    main()
