"""``medigan_host.readers`` is ``medigan_host.formats.readers``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.formats.readers``."""

import sys

from .formats import readers as _module

sys.modules[__name__] = _module
