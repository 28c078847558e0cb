"""``medigan_host.testing`` is ``medigan_host.devkit.testing``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.devkit.testing``."""

import sys

from .devkit import testing as _module

sys.modules[__name__] = _module
