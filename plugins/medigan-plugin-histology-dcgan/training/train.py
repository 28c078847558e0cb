"""Train the histology DCGAN on 64x64 patches of scikit-image's ihc.png, on the CPU, reproducibly by seed.

    python training/train.py --out training/output            # the shipped model: seed 0, 1600 iterations
    python training/train.py --iterations 20 --out /some/dir  # a smoke test

Same seed, iterations, thread count and torch version give the same file, byte for byte. Recipe: DCGAN generator
(width 32, latent 100, batch norm) against a spectrally normalised DCGAN discriminator, hinge loss, Adam
(lr 2e-4, betas 0.5/0.999) for both, batch 32, random dihedral flips/rotations, an exponential moving average (EMA)
of the generator weights (decay 0.999) whose batch-norm statistics are re-estimated at the end over 3200 latents.
Writes generator.safetensors (the EMA generator), training.json (settings, losses, time) and samples.png.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import crops, dihedral, load_ihc, patch_corners, to_unit  # noqa: E402
from medigan_plugin_histology_dcgan.generator import CHANNELS, LATENT_DIM, WIDTH, Generator  # noqa: E402

HERE = Path(__file__).resolve().parent


def discriminator(width: int = WIDTH, channels: int = CHANNELS) -> nn.Module:
    """DCGAN discriminator, 64 -> 32 -> 16 -> 8 -> 4 -> 1, spectral norm on every convolution."""
    sn = nn.utils.parametrizations.spectral_norm
    layers: list[nn.Module] = []
    c_in = channels
    for c_out in (width, width * 2, width * 4, width * 8):
        layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        c_in = c_out
    layers.append(sn(nn.Conv2d(c_in, 1, 4, 1, 0)))
    return nn.Sequential(*layers, nn.Flatten())


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, step: int, decay: float) -> None:
    rate = min(decay, (1 + step) / (10 + step))
    for target, source in zip(ema.parameters(), model.parameters(), strict=True):
        target.lerp_(source, 1 - rate)
    for target, source in zip(ema.buffers(), model.buffers(), strict=True):
        target.copy_(source)


@torch.no_grad()
def recalibrate_batch_norm(generator: nn.Module, batches: int, batch_size: int, seed: int) -> None:
    """Replace the running batch-norm statistics by their exact average over ``batches`` random batches."""
    rng = torch.Generator().manual_seed(seed)
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    generator.train()
    for _ in range(batches):
        generator(torch.randn(batch_size, generator.latent_dim, generator=rng))
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    generator.eval()


def save_grid(images: np.ndarray, path: Path, columns: int = 8) -> None:
    """Write (N, 3, H, W) images in [-1, 1] as one PNG grid."""
    from PIL import Image

    n, _, h, w = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + 2), columns * (w + 2), 3), 255, np.uint8)
    pixels = np.clip(np.rint((images.transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255).astype(np.uint8)
    for i, image in enumerate(pixels):
        r, c = divmod(i, columns)
        grid[r * (h + 2) + 1:r * (h + 2) + 1 + h, c * (w + 2) + 1:c * (w + 2) + 1 + w] = image
    Image.fromarray(grid).save(path)


def write_summary(args: argparse.Namespace, seconds: float, log: list[dict], **facts: object) -> dict:
    """``training.json`` in ``args.out``: the settings (not where they were written), time, versions, ``facts``, log."""
    settings = {k: v for k, v in vars(args).items() if k != "out"}  # where it was written is no setting
    summary = {"settings": settings, "seconds": round(seconds, 1), "torch": torch.__version__,
               "python": platform.python_version(), "machine": platform.machine(), **facts, "log": log}
    (args.out / "training.json").write_text(json.dumps(summary, indent=2))
    print(f"trained {args.iterations} iterations in {seconds:.0f} s; wrote {args.out / 'generator.safetensors'}")
    return summary


def add_common_arguments(parser: argparse.ArgumentParser, iterations: int, batch_size: int) -> None:
    """The options both trainers take."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; part of what makes a run reproducible")


def start(args: argparse.Namespace, make_generator: Callable[[], nn.Module], make_critic: Callable[[], nn.Module]):
    """Seed and pin torch (one thread, deterministic kernels) and build the networks in a fixed order: the generator,
    the critic, their initial weights, the frozen EMA copy and both Adam optimisers (betas 0.5, 0.999).
    Returns ``(rng, generator, critic, ema, opt_g, opt_d)``, where rng is the NumPy generator for the batches."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    generator, critic = make_generator(), make_critic()
    generator.apply(init_weights)
    critic.apply(init_weights)
    ema = copy.deepcopy(generator).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt_g = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=args.lr, betas=(0.5, 0.999))
    return rng, generator, critic, ema, opt_g, opt_d


def train(args: argparse.Namespace) -> dict:
    rng, generator, critic, ema, opt_g, opt_d = start(args, Generator, discriminator)
    image = load_ihc()
    corners = patch_corners("training", "two-way")

    log: list[dict] = []
    started = time.perf_counter()
    for step in range(args.iterations):
        picks = corners[rng.integers(0, len(corners), args.batch_size)]
        real_np = dihedral(np.stack([to_unit(p) for p in crops(image, picks)]), rng.integers(0, 8, args.batch_size))
        real = torch.from_numpy(real_np)
        z = torch.randn(args.batch_size, LATENT_DIM)

        fake = generator(z)
        loss_d = torch.relu(1 - critic(real)).mean() + torch.relu(1 + critic(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        loss_g = -critic(fake).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        update_ema(ema, generator, step, args.ema_decay)

        if step % 50 == 0 or step == args.iterations - 1:
            entry = {"step": step, "loss_d": round(loss_d.item(), 4), "loss_g": round(loss_g.item(), 4),
                     "seconds": round(time.perf_counter() - started, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
        if args.preview_every and step and step % args.preview_every == 0:
            args.out.mkdir(parents=True, exist_ok=True)
            with torch.no_grad():
                save_grid(ema(torch.randn(32, LATENT_DIM, generator=torch.Generator().manual_seed(7))).numpy(),
                          args.out / f"samples-{step:05d}.png")

    recalibrate_batch_norm(ema, batches=100, batch_size=32, seed=args.seed + 1)
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    # one metadata key only: safetensors writes several in no fixed order, and the file must be reproducible byte for byte
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(args.out / "generator.safetensors"), {"format": "pt"})
    with torch.no_grad():
        preview = ema(torch.randn(32, LATENT_DIM, generator=torch.Generator().manual_seed(7))).numpy()
    save_grid(preview, args.out / "samples.png")
    return write_summary(args, seconds, log, training_patches=int(len(corners)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, iterations=1600, batch_size=32)
    parser.add_argument("--preview-every", type=int, default=400, help="write samples-STEP.png this often (0: never)")
    parser.add_argument("--out", type=Path, default=HERE / "output")
    return parser.parse_args(argv)


if __name__ == "__main__":
    train(parse_args())
