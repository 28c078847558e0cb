"""Plugin development: ``medigan new`` and ``medigan check``."""

from __future__ import annotations

import sys

import click

from .base import cli, emit_json


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
        emit_json([r.to_dict() for r in results])
    counts = {status: sum(r.status == status for r in results) for status in ("PASS", "FAIL", "SKIP")}
    if not as_json:
        click.echo(f"\nmedigan check: {counts['PASS']} checks passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    if counts["FAIL"] or not counts["PASS"]:
        sys.exit(1)
