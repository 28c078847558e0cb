"""``medigan_host.scaffold`` is ``medigan_host.devkit.scaffold``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.devkit.scaffold``."""

import sys

from .devkit import scaffold as _module

sys.modules[__name__] = _module
