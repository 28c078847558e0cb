"""The ``medigan`` command line. Exit status: 0 success, 1 run-time failure, 2 usage error."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ._version import __version__
from .errors import MediganError
from .evaluation import DEFAULT_EXTRACTOR
from .plugins import PluginWarning


class _Failure(click.ClickException):
    def __init__(self, error: MediganError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class _Group(click.Group):
    """Turns medigan errors into a one-line message and the right exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MediganError as error:
            raise _Failure(error) from error
        except OSError as error:  # a full disk anywhere (e.g. mid-append to a manifest): exit 1 with what to do
            from .atomic import disk_full_error, is_disk_full

            if not is_disk_full(error):
                raise
            raise _Failure(disk_full_error(error)) from error


def _show_plugin_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    if issubclass(category, PluginWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medigan")
def cli() -> None:
    """medigan: generate synthetic medical images with pretrained models from installed plugins."""
    warnings.showwarning = _show_plugin_warning


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _split_list(values: Sequence[str]) -> list[str]:
    """Values of a repeatable option that may also be comma-separated: ("a,b", "c") -> ["a", "b", "c"]."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _size(card: Any) -> str:
    return "x".join(str(s) for s in card.image_size) + f"x{card.channels}"


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """List the installed models."""
    from .plugins import get_host

    entries = list(get_host().catalog)
    if as_json:
        _emit_json([{**e.card.to_dict(), "plugin": e.plugin, "plugin_version": e.plugin_version} for e in entries])
        return
    if not entries:
        click.echo("No models installed. Install a plugin, e.g. `pip install medigan-plugin-phantoms`.")
        return
    rows = [(e.card.id, e.card.modality, e.card.framework, _size(e.card), e.card.outputs,
             ",".join(e.card.conditions) or "-", e.plugin) for e in entries]
    click.echo(table(rows, ["ID", "MODALITY", "FRAMEWORK", "SIZE", "OUTPUTS", "CONDITIONS", "PLUGIN"]))


@cli.command("info")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def info_command(model: str, as_json: bool) -> None:
    """Show the model card of MODEL (id, upstream id or its number)."""
    from .plugins import get_host

    entry = get_host().catalog.get(model)
    card = entry.card.to_dict()
    if as_json:
        _emit_json({**card, "plugin": entry.plugin, "plugin_version": entry.plugin_version})
        return
    card["plugin"] = f"{entry.plugin} {entry.plugin_version or ''}".strip()
    width = max(len(k) for k in card)
    for key, value in card.items():
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"{key.ljust(width)}  {text}")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List the installed plugins, their models, and any errors that made the host skip them."""
    from .plugins import list_plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        plugins = list_plugins()
    if as_json:
        _emit_json([p.to_dict() for p in plugins])
        return
    if not plugins:
        click.echo("No plugins installed. Install one, e.g. `pip install medigan-plugin-phantoms`.")
        return
    rows = [(p.name, p.distribution or p.source, p.version or "-", p.status, len(p.models)) for p in plugins]
    click.echo(table(rows, ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "MODELS"]))
    for plugin in plugins:
        for error in plugin.errors:
            click.echo(f"\n{plugin.name}: {error}")


@cli.command("generate")
@click.argument("model")
@click.option("-n", "--num-samples", type=click.IntRange(min=1), help="How many samples (default: one per input).")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write images, masks and manifest.jsonl into; or an fsspec URL (s3://…, file://…).")
@click.option("--seed", type=click.IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--condition", "conditions", multiple=True, metavar="KEY=VALUE",
              help="A condition declared on the model card; repeat for several.")
@click.option("--format", "fmt", default=None,
              help="Output format: png, png16, npy, nifti, nifti-gz, dicom, tiff (and any format a plugin adds); "
                   "default png for 2-D, npy for 3-D.")
@click.option("--inputs", "inputs_path", type=click.Path(exists=True),
              help="Inputs of an image-to-image model: a .npy array or a folder of images (png, tif, jpg, npy, dcm, nii).")
@click.option("--resume", is_flag=True, help="Complete an interrupted run in the output folder.")
@click.option("--overwrite", is_flag=True, help="Replace a previous run in the output folder.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: Ray workers, one model each, writing shards (needs medigan-host[ray]).")
@click.option("--address", help="Ray cluster to run on (e.g. ray://head:10001, auto); default: start Ray on this machine.")
@click.option("--workers", type=click.IntRange(min=1), help="Ray workers (default: the cluster's CPUs).")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), help="GPUs each Ray worker takes (fractions share a GPU).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def generate_command(model: str, num_samples: int | None, output_dir: str, seed: int, batch_size: int,
                     conditions: tuple[str, ...], fmt: str | None, inputs_path: str | None, resume: bool, overwrite: bool,
                     device: str, engine: str, address: str | None, workers: int | None, gpus_per_worker: float | None,
                     as_json: bool) -> None:
    """Generate samples of MODEL into a folder."""
    from .conditions import parse_conditions
    from .engine import generate
    from .inputs import read_inputs

    condition = parse_conditions(conditions) or None
    inputs = read_inputs(inputs_path) if inputs_path else None
    total = num_samples or (len(inputs) if inputs is not None else 0)
    show_progress = not as_json and sys.stderr.isatty()
    with click.progressbar(length=max(total, 1), label="generating", file=sys.stderr,
                           hidden=not show_progress) as bar:
        result = generate(model, num_samples, output_dir, seed=seed, batch_size=batch_size, condition=condition,
                          inputs=inputs, format=fmt, device=device, resume=resume, overwrite=overwrite,
                          progress=bar.update, engine=engine, address=address, workers=workers,
                          gpus_per_worker=gpus_per_worker)
    if as_json:
        _emit_json(result.to_dict())
    else:
        resumed = f" ({result.already_done} already there)" if result.already_done else ""
        click.echo(f"wrote {result.generated} samples of {result.model} to {result.output_dir}{resumed} "
                   f"in {result.seconds:.1f} s; manifest: {result.manifest}")


@cli.command("new")
@click.option("--framework", type=click.Choice(["pytorch", "tensorflow", "onnx", "numpy"]),
              help="Framework of the generator (asked when not given).")
@click.option("-o", "--output-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder to create the plugin project in.")
@click.option("--no-input", is_flag=True, help="Ask nothing: use the defaults and the --set answers.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Answer a template question, e.g. --set model_id=my-gan --set image_size=128x128; repeatable.")
@click.option("--template", help="Another cookiecutter template (folder, git URL or zip) instead of the bundled one.")
def new_command(framework: str | None, output_dir: str, no_input: bool, settings: tuple[str, ...], template: str | None) -> None:
    """Create a new plugin project from the medigan plugin template."""
    from .scaffold import new_plugin, parse_settings

    project = new_plugin(output_dir, framework=framework, no_input=no_input, settings=parse_settings(settings),
                         template=template)
    click.echo(f"created {project}\nnext: pip install -e {project} && medigan check {project}")


@cli.command("check")
@click.argument("target", required=False)
@click.option("--device", default="cpu", show_default=True, help="Device to build the models on: auto, cpu, cuda, cuda:N, mps.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def check_command(target: str | None, device: str, as_json: bool) -> None:
    """Run the plugin contract checks on TARGET: a plugin project folder, a plugin name or a model id (default: all).

    Exit status 0 only when every check passes.
    """
    from .contract import iter_checks

    results = []
    for result in iter_checks(target, device):
        results.append(result)
        if not as_json:
            click.echo(f"{result.status}  {result.subject}  {result.name}: {result.detail}")
            if not result.passed and result.hint:
                click.echo(f"      hint: {result.hint}")
    if as_json:
        _emit_json([r.to_dict() for r in results])
    counts = {status: sum(r.status == status for r in results) for status in ("PASS", "FAIL", "SKIP")}
    if not as_json:
        click.echo(f"\nmedigan check: {counts['PASS']} checks passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    if counts["FAIL"] or counts["SKIP"] or not results:
        sys.exit(1)


@cli.command("fetch")
@click.argument("models", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one entry per weights file.")
def fetch_command(models: tuple[str, ...], as_json: bool) -> None:
    """Download and verify the weights of MODELS now, so that later runs need no network."""
    from .plugins import get_host
    from .weights import expected_sha256, fetch_weights, model_folder

    entries = [get_host().catalog.get(model) for model in models]  # every name checked before any download
    done, failed = [], 0
    for entry in entries:
        card = entry.card
        if not card.weights:
            done.append({"model": card.id, "file": None, "path": None, "status": "no weights declared"})
            continue
        for weights in card.weights:
            was_cached = (model_folder(card) / weights["filename"]).is_file()
            try:
                path = fetch_weights(card, weights["filename"])
            except MediganError as error:
                failed += 1
                click.echo(f"error: {error}", err=True)
                continue
            status = "verified" if was_cached or not weights.get("url", "http").startswith("http") else "downloaded"
            done.append({"model": card.id, "file": weights["filename"], "path": str(path), "status": status,
                         "sha256": expected_sha256(card, weights)})
    if as_json:
        _emit_json(done)
    else:
        for item in done:
            if item["file"] is None:
                click.echo(f"{item['model']}: its card declares no weights to download (see `medigan info {item['model']}`)")
            else:
                click.echo(f"{item['model']}: {item['file']} {item['status']}: {item['path']}")
    if failed:
        sys.exit(1)


@cli.group("cache")
def cache_group() -> None:
    """The weights cache (MEDIGAN_CACHE_DIR, else the per-user cache folder)."""


@cache_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cache_list_command(as_json: bool) -> None:
    """List the cached weights files: model, version, size and state (declared, local, partial, stale)."""
    from .weights import cache_root, cached_files

    files = cached_files()
    if as_json:
        _emit_json({"cache": str(cache_root()), "files": [f.to_dict() for f in files],
                    "total_bytes": sum(f.size for f in files)})
        return
    if not files:
        click.echo(f"nothing cached in {cache_root()}")
        return
    rows = [(f.model, f.version, f.name, f"{f.size:,}", f.state) for f in files]
    click.echo(table(rows, ["MODEL", "VERSION", "FILE", "BYTES", "STATE"]))
    click.echo(f"\n{len(files)} files, {sum(f.size for f in files):,} bytes in {cache_root()}")


@cache_group.command("place")
@click.argument("model")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Which of the card's weights files FILE is (default: the one its name matches, or the only one).")
def cache_place_command(model: str, file: Path, name: str | None) -> None:
    """Put a weights FILE downloaded by hand into the cache for MODEL, after checking it against the card or record."""
    from .plugins import get_host
    from .weights import place_weights

    card = get_host().catalog.get(model).card
    path, how = place_weights(card, file, name)
    click.echo(f"placed {file} as {path} ({how})")


@cache_group.command("clear")
@click.argument("model", required=False)
def cache_clear_command(model: str | None) -> None:
    """Delete the cached weights of MODEL, or of every model. Asks nothing; prints each file it removed."""
    from .weights import cache_root, cached_model_id, clear_cache

    model_id = cached_model_id(model) if model is not None else None
    removed = clear_cache(model_id)
    for path in removed:
        click.echo(f"removed {path}")
    what = f" of {model_id}" if model_id else ""
    click.echo(f"removed {len(removed)} files{what} from {cache_root()}" if removed else f"nothing cached{what} in {cache_root()}")


def _filter_options(command: Any) -> Any:
    """The card filters shared by `search` and `rank`: exact, case-insensitive; repeat one to allow several values."""
    for name, help_text in reversed((
        ("modality", "e.g. mammography, mri, ct"), ("anatomy", "e.g. breast, brain"),
        ("framework", "pytorch, tensorflow, onnx, numpy, jax, other"), ("architecture", "e.g. DCGAN"),
        ("dataset", "e.g. INbreast"), ("outputs", "image or image+mask"), ("tag", "a card tag"),
        ("license", "SPDX id, e.g. MIT"),
    )):
        command = click.option(f"--{name}", multiple=True, help=f"Only models with this {name} ({help_text}).")(command)
    command = click.option("--conditional/--unconditional", default=None,
                           help="Only models that accept conditions, or only those that do not.")(command)
    return command


@cli.command("search")
@click.argument("text", nargs=-1)
@_filter_options
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many models.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def search_command(text: tuple[str, ...], limit: int | None, as_json: bool, **filters: Any) -> None:
    """Find models by free TEXT over every card field, best match first, and/or by exact filters."""
    from .search import search_models
    from .search_output import format_search

    results = search_models(" ".join(text) or None, limit=limit, **filters)
    click.echo(json.dumps(results.to_dict(), indent=2, ensure_ascii=False) if as_json else format_search(results))


@cli.command("rank")
@click.option("--metric", required=True, help="Metric on the cards: fid, kid, ssim … or a dotted path (downstream_task.clf.accuracy).")
@click.option("--order", type=click.Choice(["asc", "desc"]), help="asc: lowest first; desc: highest first "
              "(default: best first, from the metric's direction).")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def rank_command(metric: str, order: str | None, as_json: bool, **filters: Any) -> None:
    """Order models by a METRIC on their cards; models without it are listed last."""
    from .ranking import rank_models
    from .search_output import format_ranking

    ranking = rank_models(metric, order, **filters)
    click.echo(json.dumps(ranking.to_dict(), indent=2, ensure_ascii=False) if as_json else format_ranking(ranking))


@cli.command("show")
@click.argument("model")
@click.option("-n", "--num-samples", type=click.IntRange(1, 256), default=16, show_default=True, help="Samples in the grid.")
@click.option("--seed", type=click.IntRange(0, 2**53 - 1), default=0, show_default=True,
              help="Run seed of the grid (the samples `medigan generate --seed` writes); with --interpolate/--explore, "
                   "the sample seed the path or the explorer starts from.")
@click.option("--condition", "conditions", multiple=True, metavar="KEY=VALUE",
              help="A condition declared on the model card; repeat for several.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write a PNG here (default: a window when there is a display, else MODEL-grid.png).")
@click.option("--overwrite", is_flag=True, help="Replace an existing PNG.")
@click.option("--interpolate", is_flag=True, help="A strip of images along the latent path from --seed to --to-seed.")
@click.option("--steps", type=click.IntRange(2, 64), help="Images in the strip  [default: 8]")
@click.option("--to-seed", type=click.IntRange(0, 2**53 - 1), help="Sample seed at the end of the path  [default: --seed + 1]")
@click.option("--linear", is_flag=True, help="Interpolate linearly instead of spherically (slerp).")
@click.option("--explore", is_flag=True, help="The latent explorer: sliders over groups of latent dimensions.")
@click.option("--slider-grouper", type=click.IntRange(min=1), help="Latent dimensions per slider  [default: 10]")
@click.option("--inputs", "inputs_path", type=click.Path(exists=True),
              help="Inputs of an image-to-image model: a .npy array or a folder of images (png, tif, jpg, npy, dcm, nii).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def show_command(model: str, num_samples: int, seed: int, conditions: tuple[str, ...], output: str | None, overwrite: bool,
                 interpolate: bool, steps: int | None, to_seed: int | None, linear: bool, explore: bool,
                 slider_grouper: int | None, inputs_path: str | None, device: str) -> None:
    """Show samples of MODEL: a grid with masks and the model card, an interpolation strip, or the latent explorer.

    Opens a window when there is a display; writes a PNG when there is none, or with -o.
    """
    from .conditions import parse_conditions
    from .errors import MediganUsageError
    from .visualize import explore as explore_model
    from .visualize import show, show_interpolation

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
        from .inputs import read_inputs

        inputs = read_inputs(inputs_path) if inputs_path else None
        shown = show(model, num_samples, seed, condition=condition, output=output, overwrite=overwrite, inputs=inputs,
                     device=device)
    if shown.path is not None:
        click.echo(f"wrote {shown.path}")


@cli.command("gallery")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for index.html, the PNG grids and the cards (new or empty, or a gallery to --overwrite).")
@click.option("-n", "--num-samples", type=click.IntRange(1, 64), default=8, show_default=True, help="Samples per model.")
@click.option("--models", "models", multiple=True, metavar="ID[,ID…]",
              help="Only these models (ids, upstream ids or numbers; comma-separated or repeated). Default: every model.")
@click.option("--seed", type=click.IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed of every grid.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--overwrite", is_flag=True, help="Replace the files of an earlier gallery in the folder.")
def gallery_command(output_dir: str, num_samples: int, models: tuple[str, ...], seed: int, device: str, overwrite: bool) -> None:
    """Write a static HTML gallery of the installed models (sample grids and cards) that opens offline."""
    from .gallery import build_gallery

    result = build_gallery(output_dir, num_samples, models=_split_list(models) or None, seed=seed, device=device, overwrite=overwrite)
    for entry in result.entries:
        click.echo(f"{entry.model}: {entry.status}" + (f" ({entry.error})" if entry.error else ""))
    click.echo(f"wrote {result.index} ({len(result.shown)} of {len(result.entries)} models shown)")


@cli.command("evaluate")
@click.argument("model", required=False)
@click.option("--real", "real_dir", type=click.Path(), help="Folder of real images (PNG, JPEG, TIFF, NPY, DICOM, NIfTI).")
@click.option("--fake", "fake_dir", type=click.Path(), help="Folder of generated images (instead of MODEL).")
@click.option("-n", "--num-samples", type=click.IntRange(min=2),
              help="Images of MODEL to generate (default: as many as --real has), or the first N of --fake.")
@click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True, help="Feature extractor (`medigan extractors`).")
@click.option("--normalization", help="unit, symmetric, imagenet or radimagenet (default: the extractor's own).")
@click.option("--resize", help="bilinear, bicubic or antialias (default: the extractor's own).")
@click.option("--extractor-weights", type=click.Path(dir_okay=False), help="Use this weights file (its sha256 is recorded).")
@click.option("--metric", "metrics", multiple=True, type=click.Choice(["fid", "kid", "precision", "recall"]),
              help="Metrics to compute (repeatable; default: all).")
@click.option("--seed", type=click.IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed of MODEL's images.")
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cached statistics of the real images.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the result records to this JSON file.")
@click.option("--write-card", type=click.Path(dir_okay=False), help="Put the values into the metrics of this JSON card.")
@click.option("--reference", help="Name of the real image set in --write-card metrics (default: the --real folder).")
@click.option("--list-extractors", is_flag=True, help="List the feature extractors and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the result records as JSON.")
def evaluate_command(model: str | None, real_dir: str | None, fake_dir: str | None, num_samples: int | None, extractor: str,
                     normalization: str | None, resize: str | None, extractor_weights: str | None, metrics: tuple[str, ...],
                     seed: int, batch_size: int, device: str, no_cache: bool, output: str | None, write_card: str | None,
                     reference: str | None, list_extractors: bool, as_json: bool) -> None:
    """FID, KID and precision/recall of MODEL's images (or --fake DIR) against --real DIR."""
    if list_extractors:
        extractors_command.callback(as_json=as_json)
        return
    from .evaluation.evaluate import METRICS, evaluate
    from .evaluation.records import write_card as write_card_metrics
    from .evaluation.records import write_json

    if real_dir is None:
        raise click.UsageError("give --real DIR: the folder of real images to compare with")
    records = evaluate(real=real_dir, model=model, fake=fake_dir, n=num_samples, extractor=extractor,
                       normalization=normalization, resize=resize, metrics=metrics or METRICS, seed=seed,
                       batch_size=batch_size, device=device, weights_file=extractor_weights, use_cache=not no_cache)
    if output:
        write_json(records, output)
    if write_card:
        write_card_metrics(records, write_card, reference)
    if as_json:
        _emit_json([r.to_dict() for r in records])
        return
    first = records[0]
    click.echo(f"extractor {first.extractor['extractor']} (weights sha256 {first.extractor['extractor_weights_sha256'][:12]}), "
               f"normalisation {first.extractor['normalization']}, resize {first.extractor['resize']}")
    rows = [(r.metric, f"{r.value:.6g}", f"{r.details['std']:.3g}" if "std" in r.details else "-", r.fake["n"], r.real["n"])
            for r in records]
    click.echo(table(rows, ["METRIC", "VALUE", "STD", "N_FAKE", "N_REAL"]))
    for path, what in ((output, "records"), (write_card, "card metrics")):
        if path:
            click.echo(f"{what} written to {path}")


@cli.command("extractors")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def extractors_command(as_json: bool) -> None:
    """List the feature extractors for `medigan evaluate` (no framework is imported)."""
    from .evaluation.extractors import list_extractors

    specs = list_extractors()
    if as_json:
        _emit_json([s.to_dict() for s in specs])
        return
    rows = [(s.name, s.framework, "x".join(map(str, s.input_size)) + f"x{s.channels}", s.feature_dim, s.normalization,
             s.resize, "yes" if s.weights else "give a file", s.plugin) for s in specs]
    click.echo(table(rows, ["NAME", "FRAMEWORK", "INPUT", "DIM", "NORMALIZATION", "RESIZE", "WEIGHTS", "PLUGIN"]))


@cli.group("card")
def card_group() -> None:
    """Model cards in other tools' forms."""


@card_group.command("export")
@click.argument("model", required=False)
@click.option("--format", "fmt", type=click.Choice(["hf", "monai", "json-schema"]), required=True,
              help="hf: a Hugging Face README.md with YAML metadata; monai: a MONAI bundle metadata.json; json-schema: "
                   "the JSON Schema of medigan's cards (no MODEL).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file, not stdout.")
def card_export_command(model: str | None, fmt: str, output: Path | None) -> None:
    """Print MODEL's card as a Hugging Face model card or a MONAI metadata.json, or the JSON Schema of cards."""
    from .card_export import export_card
    from .errors import MediganUsageError

    if (model is None) != (fmt == "json-schema"):
        raise MediganUsageError("--format json-schema takes no MODEL" if model else f"--format {fmt} needs a MODEL: "
                                "`medigan card export MODEL --format " + fmt + "`")
    entry = None
    if model is not None:
        from .plugins import get_host

        entry = get_host().catalog.get(model)
    text = export_card(entry.card if entry else None, fmt, plugin=entry.plugin if entry else None,
                       plugin_version=entry.plugin_version if entry else None)
    if output is None:
        click.echo(text, nl=False)
        return
    from .atomic import write_text

    write_text(output, text)
    click.echo(f"wrote {output}", err=True)


@cli.group("study")
def study_group() -> None:
    """Studies over several models and evaluation settings."""


@study_group.command("fid")
@click.option("--models", "models", multiple=True, required=True, metavar="ID[,ID…]", help="Models to compare (repeatable).")
@click.option("--real", "real_dir", required=True, type=click.Path(), help="Folder of real images.")
@click.option("--extractors", "extractors", multiple=True, metavar="NAME[,NAME…]", help=f"Extractors [default: {DEFAULT_EXTRACTOR}]")
@click.option("--normalizations", "normalizations", multiple=True, metavar="NAME[,NAME…]",
              help="unit, symmetric, imagenet, radimagenet [default: each extractor's own]")
@click.option("--resize", help="bilinear, bicubic or antialias (default: each extractor's own).")
@click.option("-n", "--num-samples", type=click.IntRange(min=2), default=100, show_default=True, help="Images per model.")
@click.option("--seed", type=click.IntRange(0, 2**53 - 1), default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False), help="Write study.csv, study.json, study.png here.")
@click.option("--no-plot", is_flag=True, help="Do not draw study.png (no matplotlib needed).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cached statistics of the real images.")
@click.option("--json", "as_json", is_flag=True, help="Print the result records as JSON.")
def study_fid_command(models: tuple[str, ...], real_dir: str, extractors: tuple[str, ...], normalizations: tuple[str, ...],
                      resize: str | None, num_samples: int, seed: int, batch_size: int, device: str, output_dir: str | None,
                      no_plot: bool, no_cache: bool, as_json: bool) -> None:
    """FID of every model x extractor x normalisation against --real: a table, and CSV/JSON/PNG with -o."""
    from .evaluation.study import COLUMNS, fid_study, write_outputs

    result = fid_study(_split_list(models), real_dir, n=num_samples, extractors=_split_list(extractors) or [DEFAULT_EXTRACTOR],
                       normalizations=_split_list(normalizations) or None, resize=resize, seed=seed, batch_size=batch_size,
                       device=device, use_cache=not no_cache)
    written = write_outputs(result, output_dir, plot=not no_plot) if output_dir else []
    if as_json:
        _emit_json([r.to_dict() for r in result.records])
        return
    click.echo(table(result.table_rows(), [c.upper() for c in COLUMNS[:-1]]))
    for path in written:
        click.echo(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="medigan")


if __name__ == "__main__":
    main()
