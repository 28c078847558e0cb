"""Models' own environments: ``medigan env create|check|list|remove``."""

from __future__ import annotations

import time

import click

from ..errors import MediganError, MediganUsageError
from .base import cli, emit_json
from .output import table


@cli.group("env")
def env_group() -> None:
    """Isolated environments of models that run their own code (one virtual environment per model, in the cache)."""


@env_group.command("create")
@click.argument("model", required=False)
@click.option("--all", "all_models", is_flag=True, help="Build the environment of every installed model that declares one.")
@click.option("--system-site-packages", is_flag=True,
              help="Let the environment also see this Python's packages (read only); for offline builds and tests.")
@click.option("--installer", type=click.Choice(["uv", "pip"]), default="uv", show_default=True,
              help="uv (shared hard-linked cache: large wheels stored once) or pip.")
@click.option("--force", is_flag=True, help="Rebuild an environment that already exists.")
def env_create_command(model: str | None, all_models: bool, system_site_packages: bool, installer: str,
                       force: bool) -> None:
    """Build MODEL's environment with its pinned requirements and import them there (nothing is installed into this
    Python). Package sources: UV_FIND_LINKS / PIP_FIND_LINKS, UV_INDEX_URL / PIP_INDEX_URL."""
    from ..environments import create_env, env_card, env_state, environment_cards

    if all_models == (model is not None):
        raise MediganUsageError("name one MODEL, or give --all for every model that declares an environment")
    cards = environment_cards() if all_models else [env_card(model)]
    failed = []
    for card in cards:
        state = env_state(card) if all_models else None
        if state == "ok" and not force:
            click.echo(f"environment of {card.id} already built and ok (--force rebuilds it)")
            continue
        started = time.monotonic()
        try:  # with --all, broken and stale environments are rebuilt
            create_env(card, system_site_packages=system_site_packages, installer=installer,
                       force=force or state in ("broken", "stale"), log=lambda message: click.echo(message, err=True))
        except MediganError as exc:
            if not all_models:
                raise
            failed.append(card.id)
            click.echo(f"environment of {card.id} FAILED: {exc}", err=True)
            continue
        click.echo(f"environment of {card.id} ready ({time.monotonic() - started:.1f} s)")
    if failed:
        raise MediganError(f"{len(failed)} of {len(cards)} environments failed: {', '.join(failed)}")


@env_group.command("check")
@click.argument("model")
@click.option("--trust-remote-code", is_flag=True,
              help="Also import the model's own package (when its archive is cached) and check its generate function.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def env_check_command(model: str, trust_remote_code: bool, as_json: bool) -> None:
    """Import MODEL's requirements in its environment again; with trust, also load its own code there."""
    from ..environments import archive_cached, check_env, env_card
    from ..trust import trusted_by_environment

    card = env_card(model)
    result = check_env(card)
    package = "skipped: the model's archive is not in the cache (it is fetched on first generate)"
    if result["ok"] and archive_cached(card):
        trusted = trust_remote_code or trusted_by_environment()
        if trusted:
            from ..api import load_model

            loaded = load_model(card.id, device="cpu", trust_remote_code=trusted)
            close = getattr(loaded.generator, "close", None)
            if callable(close):
                close()
            package = "ok: its package imports and its function takes the card's arguments"
        else:
            package = "skipped: importing the model's package runs its code; add --trust-remote-code"
    elif not result["ok"]:
        package = "skipped: the requirements do not import"
    if as_json:
        emit_json({**result, "model": card.id, "package": package})
    else:
        for name, version in result["versions"].items():
            click.echo(f"{name} {version or '(not installed)'}")
        for name, error in result["errors"].items():
            click.echo(f"import {name}: FAILED: {error}")
        click.echo(f"package: {package}")
        click.echo(f"environment of {card.id}: {result['state']}")
    if not result["ok"]:
        raise SystemExit(1)


@env_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def env_list_command(as_json: bool) -> None:
    """List the built model environments and their state (ok, broken, stale)."""
    from ..environments import list_envs

    envs = list_envs()
    if as_json:
        emit_json(envs)
        return
    if not envs:
        click.echo("No model environments. Build one with `medigan env create MODEL`.")
        return
    rows = [(e.get("model"), e.get("upstream_id") or "-", e.get("state"), e.get("python"),
             len(e.get("requirements", [])), e.get("path")) for e in envs]
    click.echo(table(rows, ["MODEL", "UPSTREAM ID", "STATE", "PYTHON", "REQUIREMENTS", "PATH"]))


@env_group.command("remove")
@click.argument("model")
def env_remove_command(model: str) -> None:
    """Delete MODEL's environment."""
    from ..environments import env_card, env_dir, remove_env

    card = env_card(model)
    click.echo(f"removed {env_dir(card)}" if remove_env(card) else f"model {card.id} has no environment")
