"""The ``medigan`` command: the group and what its commands share (:mod:`.base`), one module per group of commands
(:mod:`.catalogue`, :mod:`.generation`, :mod:`.devkit`, :mod:`.cache`, :mod:`.visualisation`, :mod:`.evaluation`,
:mod:`.cards`, :mod:`.environments`, :mod:`.serve`) and their terminal output (:mod:`.output`). The only feature
besides the public API that reaches for the process-wide plugin host.

This is where the commands are registered: importing a group's module attaches its commands to :data:`cli`."""

import sys

try:
    from . import cache, cards, catalogue, devkit, environments, evaluation, generation, visualisation  # noqa: F401
    from .base import EXAMPLES, Command, cli, main
    from .serve import make_serve_command
except KeyboardInterrupt:  # Ctrl-C while the command starts up: one line, the shell's status for SIGINT
    sys.stderr.write("\nmedigan: interrupted\n")
    raise SystemExit(130) from None

cli.add_command(make_serve_command(Command))

__all__ = ["EXAMPLES", "cli", "main"]
