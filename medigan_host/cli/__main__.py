"""``python -m medigan_host.cli``: the ``medigan`` command."""

from .commands import main

main()
