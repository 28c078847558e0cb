"""The ``medigan`` command line. Exit status: 0 success, 1 run-time failure, 2 usage error."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click

from ._version import __version__
from .errors import MediganError
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
              help="Folder to write images, masks and manifest.jsonl into.")
@click.option("--seed", type=click.IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--condition", "conditions", multiple=True, metavar="KEY=VALUE",
              help="A condition declared on the model card; repeat for several.")
@click.option("--format", "fmt", default=None,
              help="Output format: png, png16, npy (and any format a plugin adds); default png for 2-D, npy for 3-D.")
@click.option("--inputs", "inputs_path", type=click.Path(exists=True),
              help="Inputs of an image-to-image model: a .npy array or a folder of .npy/.png files.")
@click.option("--resume", is_flag=True, help="Complete an interrupted run in the output folder.")
@click.option("--overwrite", is_flag=True, help="Replace a previous run in the output folder.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def generate_command(model: str, num_samples: int | None, output_dir: str, seed: int, batch_size: int,
                     conditions: tuple[str, ...], fmt: str | None, inputs_path: str | None, resume: bool, overwrite: bool,
                     device: str, as_json: bool) -> None:
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
                          progress=bar.update)
    if as_json:
        _emit_json(result.to_dict())
    else:
        resumed = f" ({result.already_done} already there)" if result.already_done else ""
        click.echo(f"wrote {result.generated} samples of {result.model} to {result.output_dir}{resumed} "
                   f"in {result.seconds:.1f} s; manifest: {result.manifest}")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="medigan")


if __name__ == "__main__":
    main()
