"""The catalogue: ``medigan list``, ``info``, ``plugins``, ``search`` and ``rank``."""

from __future__ import annotations

import json
import warnings
from typing import Any

import click

from ..plugins import PluginWarning
from ..registry import runs_remote_code
from .base import IntRange, cli, emit_json
from .output import json_text, table, terminal_text


def _size(card: Any) -> str:
    return "x".join(str(s) for s in card.image_size) + f"x{card.channels}"


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """List the installed models."""
    from ..plugins import get_host
    from .output import missing_by_model, not_runnable_notes

    host = get_host()
    entries = list(host.catalog)
    missing = missing_by_model(host)
    if as_json:
        emit_json([{**e.card.to_dict(), "plugin": e.plugin, "plugin_version": e.plugin_version,
                     "missing_packages": missing.get(e.id, [])} for e in entries])
        return
    if not entries:
        from ..plugins import no_models_hint

        click.echo(f"No models: {no_models_hint()}.")
        return
    rows = [(e.card.id, e.card.modality, e.card.framework + (" *" if missing.get(e.id) else ""), _size(e.card),
             e.card.outputs, ",".join(e.card.conditions) or "-",
             e.plugin + (" (remote code)" if runs_remote_code(e.card) else "")) for e in entries]
    click.echo(table(rows, ["ID", "MODALITY", "FRAMEWORK", "SIZE", "OUTPUTS", "CONDITIONS", "PLUGIN"]))
    for note in not_runnable_notes(missing):
        click.echo(note)


@cli.command("info")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def info_command(model: str, as_json: bool) -> None:
    """Show the model card of MODEL (id, upstream id or its number)."""
    from ..plugins import get_host

    entry = get_host().catalog.get(model)
    card = entry.card.to_dict()
    if as_json:
        emit_json({**card, "plugin": entry.plugin, "plugin_version": entry.plugin_version})
        return
    card["plugin"] = f"{entry.plugin} {entry.plugin_version or ''}".strip()
    width = max(len(k) for k in card)
    for key, value in card.items():
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        # a line break in card text continues the value, indented: it can never start a row of its own
        lines = terminal_text(text).replace("\r", "").split("\n")
        click.echo(f"{key.ljust(width)}  " + ("\n" + " " * (width + 2)).join(lines))


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List the installed plugins, their models, and any errors that made the host skip them."""
    from ..plugins import list_plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        plugins = list_plugins()
    if as_json:
        emit_json([p.to_dict() for p in plugins])
        return
    if not plugins:
        from ..plugins import no_models_hint

        click.echo(f"No plugins: {no_models_hint()}.")
        return
    rows = [(p.name, p.distribution or p.source, p.version or "-", p.status, len(p.models), len(p.serves)) for p in plugins]
    click.echo(table(rows, ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "MODELS", "SERVES"]))
    click.echo("\nMODELS: the models a plugin registers; SERVES: the models its code runs (a runner such as the ONNX "
               "plugin runs other plugins' cards)")
    for plugin in plugins:
        for error in plugin.errors:
            click.echo(terminal_text(f"\n{plugin.name}: {error}"))


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
@click.option("--limit", type=IntRange(min=1), help="Show at most this many models.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def search_command(text: tuple[str, ...], limit: int | None, as_json: bool, **filters: Any) -> None:
    """Find models by free TEXT over every card field, best match first, and/or by exact filters."""
    from ..catalog.search import search_models
    from .output import format_search

    results = search_models(" ".join(text) or None, limit=limit, **filters)
    click.echo(json_text(results.to_dict()) if as_json else terminal_text(format_search(results)))


@cli.command("rank")
@click.option("--metric", required=True, help="Metric on the cards: fid, kid, ssim … or a dotted path (downstream_task.clf.accuracy).")
@click.option("--order", type=click.Choice(["asc", "desc"]), help="asc: lowest first; desc: highest first "
              "(default: best first, from the metric's direction).")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def rank_command(metric: str, order: str | None, as_json: bool, **filters: Any) -> None:
    """Order models by a METRIC on their cards; models without it are listed last."""
    from ..catalog.ranking import rank_models
    from .output import format_ranking

    ranking = rank_models(metric, order, **filters)
    click.echo(json_text(ranking.to_dict()) if as_json else terminal_text(format_ranking(ranking)))
