"""Generation: ``medigan generate``."""

from __future__ import annotations

import sys

import click

from .base import FloatRange, IntRange, cli, emit_json, set_call_timeout


@cli.command("generate")
@click.argument("model")
@click.option("-n", "--num-samples", type=IntRange(min=1), help="How many samples (default: one per input).")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write images, masks and manifest.jsonl into; or an fsspec URL (s3://…, file://…).")
@click.option("--seed", type=IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed.")
@click.option("--batch-size", type=IntRange(min=1), default=16, show_default=True,
              help="Samples generated per call of the model (changes speed and memory, never the images).")
@click.option("--condition", "conditions", multiple=True, metavar="KEY=VALUE",
              help="A condition declared on the model card; repeat for several.")
@click.option("--format", "fmt", default=None,
              help="Output format: png, png16, npy, nifti, nifti-gz, dicom, tiff (and any format a plugin adds); "
                   "default png for 2-D, npy for 3-D.")
@click.option("--inputs", "inputs_path", type=click.Path(exists=True),
              help="Inputs of an image-to-image model: a .npy array or a folder of images (png, tif, jpg, npy, dcm, nii).")
@click.option("--resume", is_flag=True, help="Complete an interrupted run in the output folder.")
@click.option("--overwrite", is_flag=True, help="Replace a previous run in the output folder.")
@click.option("--no-verify-hashes", is_flag=True,
              help="With --resume: check that the listed files are there and not empty, without re-reading them for "
                   "their sha256 (faster for huge runs).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: Ray workers, one model each, writing shards (needs medigan-host[ray]).")
@click.option("--address", help="Ray cluster to run on (e.g. ray://head:10001, auto); default: start Ray on this machine.")
@click.option("--workers", type=IntRange(min=1), help="Ray workers (default: the cluster's CPUs).")
@click.option("--gpus-per-worker", type=FloatRange(min=0), help="GPUs each Ray worker takes (fractions share a GPU).")
@click.option("--timeout", type=FloatRange(min=0), callback=lambda ctx, param, value: set_call_timeout(value),
              help="Seconds the model's loader, and each batch, may take before the model is failed (0: no limit; "
                   "default MEDIGAN_CALL_TIMEOUT, else none).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.option("--trust-remote-code", is_flag=True,
              help="Run the code that comes with a model whose card says remote_code (e.g. the original medigan models).")
@click.option("--create-env", is_flag=True,
              help="Build the model's own environment first when it is missing or out of date (needs --trust-remote-code).")
def generate_command(model: str, num_samples: int | None, output_dir: str, seed: int, batch_size: int,
                     conditions: tuple[str, ...], fmt: str | None, inputs_path: str | None, resume: bool, overwrite: bool,
                     no_verify_hashes: bool, device: str, engine: str, address: str | None, workers: int | None,
                     gpus_per_worker: float | None, timeout: None, as_json: bool, trust_remote_code: bool,
                     create_env: bool) -> None:
    """Generate samples of MODEL into a folder."""
    from ..conditions import parse_conditions
    from ..errors import MediganUsageError
    from ..generation.engine import generate
    from ..generation.inputs import read_inputs

    if output_dir.partition("://")[0].lower() == "memory" and "://" in output_dir:
        raise MediganUsageError(f"-o {output_dir}: a memory:// folder lives in this process only, and the command ends "
                                "with it, so nothing would be kept; write to a folder or a lasting URL (file://, s3://…)")
    if create_env:
        _create_env_first(model, trust_remote_code)
    condition = parse_conditions(conditions) or None
    inputs = read_inputs(inputs_path) if inputs_path else None
    total = num_samples or (len(inputs) if inputs is not None else 0)
    show_progress = not as_json and sys.stderr.isatty()
    from tqdm import tqdm  # the host's one progress library (download bars too, weights/download.py)

    from ..generation.outputs import OPTION_STYLE

    style = OPTION_STYLE.set("cli")  # messages name --resume / --overwrite, not resume=True
    try:
        with tqdm(total=total or None, desc="generating", unit="sample", file=sys.stderr, disable=not show_progress,
                  ascii=sys.platform == "win32") as bar:
            result = generate(model, num_samples, output_dir, seed=seed, batch_size=batch_size, condition=condition,
                              inputs=inputs, format=fmt, device=device, resume=resume, overwrite=overwrite,
                              progress=bar.update, engine=engine, address=address, workers=workers,
                              gpus_per_worker=gpus_per_worker, verify_hashes=not no_verify_hashes,
                              trust_remote_code=trust_remote_code)
    finally:
        OPTION_STYLE.reset(style)
    if as_json:
        emit_json(result.to_dict())
    else:
        resumed = f" ({result.already_done} already there)" if result.already_done else ""
        click.echo(f"wrote {result.generated} samples of {result.model} to {result.output_dir}{resumed} "
                   f"in {result.seconds:.1f} s; manifest: {result.manifest}")


def _create_env_first(model: str, trust_remote_code: bool) -> None:
    """``generate --create-env``: build the model's own environment when it is not ready, only with trust given."""
    from ..api import installed_catalog
    from ..environments import create_env, env_state
    from ..trust import require_trust

    card = installed_catalog().get(model).card
    if not isinstance(card.extra.get("environment"), dict):
        return  # runs in medigan's own environment
    require_trust(card, trust_remote_code)
    state = env_state(card)
    if state != "ok":
        create_env(card, force=state != "missing", log=lambda message: click.echo(message, err=True))
