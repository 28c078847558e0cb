"""The ``medigan`` command: its commands (:mod:`.commands`) and their terminal output (:mod:`.output`). The only
feature besides the public API that reaches for the process-wide plugin host."""

import sys

try:
    from .commands import EXAMPLES, cli, main
except KeyboardInterrupt:  # Ctrl-C while the command starts up: one line, the shell's status for SIGINT
    sys.stderr.write("\nmedigan: interrupted\n")
    raise SystemExit(130) from None

__all__ = ["EXAMPLES", "cli", "main"]
