"""Train the 128x128 FastGAN-style histology generator on crops of scikit-image's ihc.png, on the CPU, by seed.

    python training/train_fastgan.py --noise-maps --augment translation --iterations 6000 --out out-fastgan  # 1.3.0
    python training/train_fastgan.py --iterations 4 --out /some/dir         # a smoke test

Recipe: the generator of ``medigan_plugin_histology_dcgan.fastgan`` (upsample + 3x3 convolution stages, batch norm,
leaky ReLU, skip-layer excitation) against a spectrally normalised discriminator with two heads: a patch head (8x8
logits, each seeing about 46 pixels) and a global head (one logit for the whole 128x128 patch). Hinge loss,
Adam (lr 2e-4, betas 0.5/0.999) for both, batch 8 of random 128x128 crops of the training part of the image
(never touching a held-out tile) with random dihedral flips/rotations. DiffAugment (Zhao et al. 2020; by default
colour, translation by up to 1/8 and cutout of 1/2; the shipped model: ``--augment translation``) is applied to
every image the discriminator sees, real or generated.
An exponential moving average (EMA) of the generator weights (decay 0.999) is what is saved; its batch-norm
statistics are re-estimated over 10 batches of 32 latents at every checkpoint.

Options tried (see the plugin README and ``results/fastgan/runs.json``): ``--noise-maps`` (per-pixel noise maps in the
latent; shipped in 1.2.0), ``--local-head`` (a third discriminator head of 32x32 logits), ``--critic-width``,
``--upsample bilinear``; then ``--augment`` (a subset of the DiffAugment transforms, or none), ``--widths`` (a wider
generator), ``--lr-d`` (a discriminator learning rate of its own) and ``--no-spectral-norm`` with ``--r1`` (an R1
penalty in place of spectral normalisation). ``probe_discriminator.py`` measures how well a fresh discriminator
separates a trained generator's images from real crops under each augmentation policy.

Every ``--checkpoint-every`` iterations it writes ``checkpoints/generator-STEP.safetensors`` and
``checkpoints/samples-STEP.png``; nothing depends on the total number of iterations, so the checkpoint of step K
is byte for byte what ``--iterations K`` writes as ``generator.safetensors`` (same seed, threads and torch).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import SPLITS, crops, dihedral, load_ihc, patch_corners, to_unit  # noqa: E402
from medigan_plugin_histology_dcgan.fastgan import CHANNELS, IMAGE_SIZE, UPSAMPLING, WIDTHS, Generator  # noqa: E402
from train import add_common_arguments, recalibrate_batch_norm, save_grid, start, update_ema, write_summary  # noqa: E402

HERE = Path(__file__).resolve().parent
PREVIEW_SEED = 7


class Discriminator(nn.Module):
    """128 -> 64 -> 32 -> 16 -> 8 (patch logits) -> 4 -> 1 (global logit); spectral norm on every convolution."""

    def __init__(self, width: int = 24, local_head: bool = False, spectral_norm: bool = True) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda module: module)
        layers: list[nn.Module] = []
        c_in = CHANNELS
        for c_out in (width, width * 2, width * 4, width * 8):
            layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.patch = sn(nn.Conv2d(c_in, 1, 3, 1, 1))
        self.whole = nn.Sequential(sn(nn.Conv2d(c_in, c_in, 4, 2, 1)), nn.LeakyReLU(0.2), sn(nn.Conv2d(c_in, 1, 4, 1, 0)))
        # optional third head on the 32x32 features: logits that each see about 22 pixels, i.e. a nucleus or two
        self.local = sn(nn.Conv2d(width * 2, 1, 3, 1, 1)) if local_head else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.local is None:
            features = self.body(x)
            return self.patch(features), self.whole(features)
        early = self.body[:4](x)
        features = self.body[4:](early)
        return self.patch(features), self.whole(features), self.local(early)


#: DiffAugment policies: the transforms applied, in this order, to every image the discriminator sees.
AUGMENTATIONS = ("color", "translation", "cutout")


def augment_policy(text: str) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> its transforms; ``"none"`` -> none. Unknown names are an error."""
    if text.strip() == "none":
        return ()
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown augmentation {', '.join(unknown)}: use a comma-separated subset of "
                                         f"{', '.join(AUGMENTATIONS)}, or none")
    return tuple(name for name in AUGMENTATIONS if name in names)


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] = AUGMENTATIONS) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020; default policy 'color,translation,cutout'), differentiable, the same for real
    and generated images."""
    n, _, h, w = x.shape
    if "color" in policy:
        x = x + (torch.rand(n, 1, 1, 1) - 0.5)  # brightness
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1) * 2) + mean  # saturation
        mean = x.mean(dim=[1, 2, 3], keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1) + 0.5) + mean  # contrast
    if "translation" in policy:
        x = _translate(x)
    if "cutout" in policy:
        x = _cutout(x)
    return x


def _translate(x: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    # translation by up to 1/8 of the size, zero padding
    shift = int(h * 0.125 + 0.5)
    ty = torch.randint(-shift, shift + 1, (n, 1, 1))
    tx = torch.randint(-shift, shift + 1, (n, 1, 1))
    gb, gy, gx = torch.meshgrid(torch.arange(n), torch.arange(h), torch.arange(w), indexing="ij")
    gy = torch.clamp(gy + ty + 1, 0, h + 1)
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    return F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    # cutout of a square half the size
    size = int(h * 0.5 + 0.5)
    oy = torch.randint(0, h + (1 - size % 2), (n, 1, 1))
    ox = torch.randint(0, w + (1 - size % 2), (n, 1, 1))
    gb, gy, gx = torch.meshgrid(torch.arange(n), torch.arange(size), torch.arange(size), indexing="ij")
    gy = torch.clamp(gy + oy - size // 2, 0, h - 1)
    gx = torch.clamp(gx + ox - size // 2, 0, w - 1)
    mask = torch.ones(n, h, w)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


def real_batch(image: np.ndarray, corners: np.ndarray, rng: np.random.Generator, batch_size: int) -> torch.Tensor:
    """``batch_size`` random 128x128 training crops at ``corners`` of ``image``, each in a random rotation/flip, in [-1, 1]."""
    picks = corners[rng.integers(0, len(corners), batch_size)]
    patches = np.stack([to_unit(p) for p in crops(image, picks, IMAGE_SIZE)])
    return torch.from_numpy(dihedral(patches, rng.integers(0, 8, batch_size)))


def hinge(logits: tuple[torch.Tensor, torch.Tensor], real: bool) -> torch.Tensor:
    sign = 1.0 if real else -1.0
    return sum(torch.relu(1 - sign * t).mean() for t in logits)


@torch.no_grad()
def snapshot(ema: nn.Module, seed: int) -> nn.Module:
    """A copy of the EMA generator with batch-norm statistics re-estimated for its own weights, in eval mode."""
    frozen = copy.deepcopy(ema)
    recalibrate_batch_norm(frozen, batches=10, batch_size=32, seed=seed + 1)
    return frozen


def save(generator: nn.Module, path: Path, grid: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    # one metadata key only: safetensors writes several in no fixed order, and the file must be reproducible byte for byte
    save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, str(path), {"format": "pt"})
    with torch.no_grad():
        save_grid(generator(torch.randn(32, generator.latent_dim, generator=torch.Generator().manual_seed(PREVIEW_SEED))).numpy(), grid)


def train(args: argparse.Namespace) -> dict:
    def make_generator() -> Generator:
        return Generator(args.widths, upsample=args.upsample, noise_maps=args.noise_maps)

    def make_critic() -> Discriminator:
        return Discriminator(args.critic_width, args.local_head, spectral_norm=not args.no_spectral_norm)

    rng, generator, critic, ema, opt_g, opt_d = start(args, make_generator, make_critic)
    if args.lr_d is not None:  # two time-scale update rule: the discriminator learns at its own rate
        for group in opt_d.param_groups:
            group["lr"] = args.lr_d
    image = load_ihc()
    corners = patch_corners("training", args.split, size=IMAGE_SIZE)

    log: list[dict] = []
    started = time.perf_counter()
    for step in range(1, args.iterations + 1):
        real = real_batch(image, corners, rng, args.batch_size)

        fake = generator(torch.randn(args.batch_size, generator.latent_dim))
        real_seen = diff_augment(real, args.augment)
        if args.r1:
            real_seen.requires_grad_(True)
        real_logits = critic(real_seen)
        loss_d = hinge(real_logits, True) + hinge(critic(diff_augment(fake.detach(), args.augment)), False)
        if args.r1:  # R1 (Mescheder et al. 2018): the gradient norm of the logits at the real images, squared
            (grad,) = torch.autograd.grad(sum(t.sum() for t in real_logits), real_seen, create_graph=True)
            loss_d = loss_d + 0.5 * args.r1 * grad.pow(2).sum(dim=[1, 2, 3]).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        patch, whole, *local = critic(diff_augment(fake, args.augment))
        loss_g = -patch.mean() - whole.mean()
        for logits in local:
            loss_g = loss_g - logits.mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        update_ema(ema, generator, step, args.ema_decay)

        if step % 25 == 0 or step == args.iterations:
            entry = {"step": step, "loss_d": round(loss_d.item(), 4), "loss_g": round(loss_g.item(), 4),
                     "seconds": round(time.perf_counter() - started, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
        if args.checkpoint_every and step % args.checkpoint_every == 0 and step != args.iterations:
            save(snapshot(ema, args.seed), args.out / "checkpoints" / f"generator-{step:05d}.safetensors",
                 args.out / "checkpoints" / f"samples-{step:05d}.png")

    final = snapshot(ema, args.seed)
    seconds = time.perf_counter() - started
    save(final, args.out / "generator.safetensors", args.out / "samples.png")
    return write_summary(args, seconds, log, processor=platform.processor(), training_crops=int(len(corners)),
                         parameters=sum(p.numel() for p in generator.parameters()))


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != len(WIDTHS) or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected {len(WIDTHS)} positive channel counts separated by commas, not {text!r}")
    return widths


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, iterations=3000, batch_size=8)
    parser.add_argument("--checkpoint-every", type=int, default=250, help="write a checkpoint this often (0: never)")
    parser.add_argument("--lr-d", type=float, default=None,
                        help="the discriminator's learning rate (default: --lr, as the generator's)")
    parser.add_argument("--no-spectral-norm", action="store_true",
                        help="a discriminator without spectral normalisation (pair it with --r1)")
    parser.add_argument("--r1", type=float, default=0.0, metavar="GAMMA",
                        help="weight of the R1 gradient penalty on the real images (default 0: none)")
    parser.add_argument("--critic-width", type=int, default=24, help="channels of the discriminator's first layer")
    parser.add_argument("--local-head", action="store_true",
                        help="give the discriminator a third head of 32x32 logits on its second layer's features")
    parser.add_argument("--noise-maps", action="store_true",
                        help="feed the generator per-pixel noise maps at 16, 32 and 64 px (a longer latent)")
    parser.add_argument("--augment", type=augment_policy, default=AUGMENTATIONS, metavar="POLICY",
                        help="DiffAugment transforms for the discriminator's inputs: a comma-separated subset of "
                             f"{','.join(AUGMENTATIONS)} (the default: all), or none")
    parser.add_argument("--widths", type=_widths, default=WIDTHS, metavar="W8,W16,W32,W64,W128",
                        help=f"the generator's channels at 8 to 128 px (default {','.join(map(str, WIDTHS))})")
    parser.add_argument("--upsample", choices=UPSAMPLING, default="nearest", help="how the generator's stages upsample")
    parser.add_argument("--split", choices=SPLITS, default="three-way",
                        help="which tiles train: three-way (1.4.0: 8 training, 4 validation, 4 test tiles) or two-way "
                             "(up to 1.3.0: 12 training, 4 validation tiles); see data.py")
    parser.add_argument("--out", type=Path, default=HERE / "output-fastgan")
    return parser.parse_args(argv)


if __name__ == "__main__":
    train(parse_args())
