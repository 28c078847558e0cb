"""``medigan_host.compat_torch`` is ``medigan_host.compat.torch``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.compat.torch``."""

import sys

from .compat import torch as _module

sys.modules[__name__] = _module
