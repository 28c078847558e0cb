"""``medigan``: the original medigan library's import names, served by medigan-host.

Scripts written for the original library run unchanged: ``from medigan import Generators`` gives
:class:`medigan_host.compat.Generators` over the installed plugins, and ``medigan.constants`` holds the
original's config keys. This package ships with the ``medigan-host`` distribution; install it *instead of*
the original ``medigan`` distribution from PyPI, never beside it (both own the ``medigan`` import name, see
docs/compat.md). Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medigan_host._version import __version__

__all__ = ["Generators", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Generators":
        from medigan_host.compat import Generators

        return Generators
    raise AttributeError(f"module 'medigan' has no attribute {name!r}")


if TYPE_CHECKING:
    from medigan_host.compat import Generators
