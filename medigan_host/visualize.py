"""``medigan_host.visualize`` is ``medigan_host.viz.visualize``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.viz.visualize``."""

import sys

from .viz import visualize as _module

sys.modules[__name__] = _module
