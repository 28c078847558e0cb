"""Visualisation: ``medigan show`` and ``medigan gallery``."""

from __future__ import annotations

import click

from .base import FloatRange, IntRange, cli, set_call_timeout, split_list


@cli.command("show")
@click.argument("model")
@click.option("-n", "--num-samples", type=IntRange(1, 256), default=16, show_default=True, help="Samples in the grid.")
@click.option("--seed", type=IntRange(0, 2**53 - 1), default=0, show_default=True,
              help="Run seed of the grid (the samples `medigan generate --seed` writes); with --interpolate/--explore, "
                   "the sample seed the path or the explorer starts from.")
@click.option("--condition", "conditions", multiple=True, metavar="KEY=VALUE",
              help="A condition declared on the model card; repeat for several.")
@click.option("--output-file", "output", type=click.Path(dir_okay=False),
              help="Write a PNG file here (default: a window when there is a display, else MODEL-grid.png).")
@click.option("--overwrite", is_flag=True, help="Replace an existing PNG.")
@click.option("--interpolate", is_flag=True, help="A strip of images along the latent path from --seed to --to-seed.")
@click.option("--steps", type=IntRange(2, 64), help="Images in the strip  [default: 8]")
@click.option("--to-seed", type=IntRange(0, 2**53 - 1), help="Sample seed at the end of the path  [default: --seed + 1]")
@click.option("--linear", is_flag=True, help="Interpolate linearly instead of spherically (slerp).")
@click.option("--explore", is_flag=True, help="The latent explorer: sliders over groups of latent dimensions.")
@click.option("--slider-grouper", type=IntRange(min=1), help="Latent dimensions per slider  [default: 10]")
@click.option("--inputs", "inputs_path", type=click.Path(exists=True),
              help="Inputs of an image-to-image model: a .npy array or a folder of images (png, tif, jpg, npy, dcm, nii).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def show_command(model: str, num_samples: int, seed: int, conditions: tuple[str, ...], output: str | None, overwrite: bool,
                 interpolate: bool, steps: int | None, to_seed: int | None, linear: bool, explore: bool,
                 slider_grouper: int | None, inputs_path: str | None, device: str) -> None:
    """Show samples of MODEL: a grid with masks and the model card, an interpolation strip, or the latent explorer.

    Opens a window when there is a display; writes a PNG when there is none, or with --output-file.
    """
    from ..conditions import parse_conditions
    from ..errors import MediganUsageError
    from ..viz.visualize import explore as explore_model
    from ..viz.visualize import show, show_interpolation

    condition = parse_conditions(conditions) or None
    if interpolate and explore:
        raise MediganUsageError("choose one of --interpolate and --explore")
    misplaced = [name for name, given, allowed in (
        ("--steps", steps is not None, interpolate), ("--to-seed", to_seed is not None, interpolate),
        ("--linear", linear, interpolate), ("--slider-grouper", slider_grouper is not None, explore),
        ("--inputs", inputs_path is not None, not (interpolate or explore))) if given and not allowed]
    if misplaced:
        raise MediganUsageError(f"{', '.join(misplaced)} does not apply here: --steps, --to-seed and --linear go with "
                                "--interpolate, --slider-grouper with --explore, --inputs with the grid")
    if interpolate:
        shown = show_interpolation(model, seed, to_seed, steps or 8, "linear" if linear else "slerp", condition=condition,
                                   output=output, overwrite=overwrite, device=device)
    elif explore:
        shown = explore_model(model, seed, slider_grouper or 10, condition=condition, output=output, overwrite=overwrite,
                              device=device)
    else:
        from ..generation.inputs import read_inputs

        inputs = read_inputs(inputs_path) if inputs_path else None
        shown = show(model, num_samples, seed, condition=condition, output=output, overwrite=overwrite, inputs=inputs,
                     device=device)
    if shown.path is not None:
        click.echo(f"wrote {shown.path}")


@cli.command("gallery")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for index.html, the PNG grids and the cards (new or empty, or a gallery to --overwrite).")
@click.option("-n", "--num-samples", type=IntRange(1, 64), default=8, show_default=True, help="Samples per model.")
@click.option("--models", "models", multiple=True, metavar="ID[,ID…]",
              help="Only these models (ids, upstream ids or numbers; comma-separated or repeated). Default: every model.")
@click.option("--seed", type=IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed of every grid.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--overwrite", is_flag=True, help="Replace the files of an earlier gallery in the folder.")
@click.option("--timeout", type=FloatRange(min=0), callback=lambda ctx, param, value: set_call_timeout(value),
              help="Seconds each model's loader and each batch may take before that model is shown as failed (0: no limit).")
def gallery_command(output_dir: str, num_samples: int, models: tuple[str, ...], seed: int, device: str, overwrite: bool,
                    timeout: None) -> None:
    """Write a static HTML gallery of the installed models (sample grids and cards) that opens offline."""
    from ..viz.gallery import build_gallery

    result = build_gallery(output_dir, num_samples, models=split_list(models) or None, seed=seed, device=device, overwrite=overwrite)
    for entry in result.entries:
        click.echo(f"{entry.model}: {entry.status}" + (f" ({entry.error})" if entry.error else ""))
    click.echo(f"wrote {result.index} ({len(result.shown)} of {len(result.entries)} models shown)")
