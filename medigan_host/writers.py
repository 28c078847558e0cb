"""``medigan_host.writers`` is ``medigan_host.formats.writers``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.formats.writers``."""

import sys

from .formats import writers as _module

sys.modules[__name__] = _module
