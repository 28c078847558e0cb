"""The ``medigan`` group and what its command modules share: the help format, errors as one line and an exit status
(0 success, 1 run-time failure, 2 usage error), ``main()``, JSON output and option types. The commands attach
themselves to :data:`cli` in the modules of their groups, imported by :mod:`medigan_host.cli`."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click

from .._version import __version__
from ..errors import MediganError
from ..plugins import PluginWarning
from .output import json_text, terminal_text


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
    "env check": "medigan env check 00019 --trust-remote-code",
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


class Command(_Help, click.Command):
    pass


class _Group(_Help, click.Group):
    """Turns medigan errors into a one-line message and the right exit status, never a traceback."""

    command_class = Command
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


def set_call_timeout(seconds: float | None) -> None:
    """``--timeout``: the per-call limit on plugin code (it travels in the environment, to Ray workers too)."""
    if seconds is not None:
        import math
        import os

        if not math.isfinite(seconds):  # FloatRange lets nan and inf through; checked before any folder is made
            raise click.BadParameter(f"{seconds} is not a number of seconds; give e.g. 600, or 0 for no limit")

        from ..models import CALL_TIMEOUT_ENV

        os.environ[CALL_TIMEOUT_ENV] = f"{seconds:g}"


def emit_json(data: Any) -> None:
    click.echo(json_text(data))


def split_list(values: Sequence[str]) -> list[str]:
    """Values of a repeatable option that may also be comma-separated: ("a,b", "c") -> ["a", "b", "c"]."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="medigan")
    except KeyboardInterrupt:  # Ctrl-C outside a command (click turns one inside into "Aborted!")
        sys.stderr.write("\nmedigan: interrupted\n")
        raise SystemExit(130) from None
