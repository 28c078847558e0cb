"""``python -m medigan_host.cli``: the ``medigan`` command."""

from . import main

main()
