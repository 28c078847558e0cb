"""``medigan.generators``: where the original library defined ``Generators``."""

from medigan_host.compat import Generators

__all__ = ["Generators"]
