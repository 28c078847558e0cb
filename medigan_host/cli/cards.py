"""Model cards in other tools' forms: ``medigan card export``."""

from __future__ import annotations

from pathlib import Path

import click

from .base import cli


@cli.group("card")
def card_group() -> None:
    """Model cards in other tools' forms."""


@card_group.command("export")
@click.argument("model", required=False)
@click.option("--format", "fmt", type=click.Choice(["hf", "monai", "json-schema"]), required=True,
              help="hf: a Hugging Face README.md with YAML metadata; monai: a MONAI bundle metadata.json; json-schema: "
                   "the JSON Schema of medigan's cards (no MODEL).")
@click.option("--output-file", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (a new one; with --overwrite an existing one is replaced atomically), not stdout.")
@click.option("--output-dir", "bundle", type=click.Path(file_okay=False, path_type=Path),
              help="--format monai: write a whole MONAI bundle into this folder (configs/metadata.json, "
                   "configs/inference.json, models/, docs/).")
@click.option("--overwrite", is_flag=True, help="Replace --output-file, or the bundle in --output-dir, if it exists.")
def card_export_command(model: str | None, fmt: str, output: Path | None, bundle: Path | None, overwrite: bool) -> None:
    """Print MODEL's card as a Hugging Face model card or a MONAI metadata.json (or write a MONAI bundle), or the JSON
    Schema of cards."""
    from ..catalog.export import export_card, write_monai_bundle
    from ..errors import MediganUsageError

    if (model is None) != (fmt == "json-schema"):
        raise MediganUsageError("--format json-schema takes no MODEL" if model else f"--format {fmt} needs a MODEL: "
                                "`medigan card export MODEL --format " + fmt + "`")
    if bundle is not None and (fmt != "monai" or output is not None):
        raise MediganUsageError("--output-dir writes a MONAI bundle: use it with --format monai and without --output-file")
    if output is not None and (output.exists() or output.is_symlink()) and not overwrite:
        raise MediganUsageError(f"{output} already exists; add --overwrite to replace it, or choose another --output-file")
    if bundle is not None and (bundle / "configs" / "metadata.json").exists() and not overwrite:
        raise MediganUsageError(f"{bundle} already holds a bundle; add --overwrite to replace it, or choose another "
                                "--output-dir")
    if overwrite and output is None and bundle is None:
        raise MediganUsageError("--overwrite only applies with --output-file or --output-dir")
    entry = distribution = None
    if model is not None:
        from ..plugins import get_host

        host = get_host()
        entry = host.catalog.get(model)
        info = host.plugins.get(entry.plugin)
        distribution = info.distribution if info is not None else None
    if bundle is not None:
        written = write_monai_bundle(entry.card, bundle, plugin=entry.plugin, plugin_version=entry.plugin_version,
                                     distribution=distribution)
        click.echo(f"wrote the MONAI bundle {bundle} ({len(written)} files)", err=True)
        return
    text = export_card(entry.card if entry else None, fmt, plugin=entry.plugin if entry else None,
                       plugin_version=entry.plugin_version if entry else None, distribution=distribution)
    if output is None:
        click.echo(text, nl=False)
        return
    from ..atomic import write_text

    write_text(output, text)
    click.echo(f"wrote {output}", err=True)
