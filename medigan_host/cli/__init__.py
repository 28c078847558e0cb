"""The ``medigan`` command: its commands (:mod:`.commands`) and their terminal output (:mod:`.output`). The only
feature besides the public API that reaches for the process-wide plugin host."""

from .commands import EXAMPLES, cli, main

__all__ = ["EXAMPLES", "cli", "main"]
