"""``medigan_host.contract`` is ``medigan_host.devkit.contract``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.devkit.contract``."""

import sys

from .devkit import contract as _module

sys.modules[__name__] = _module
