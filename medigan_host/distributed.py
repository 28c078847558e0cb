"""``medigan_host.distributed`` is ``medigan_host.generation.distributed``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.generation.distributed``."""

import sys

from .generation import distributed as _module

sys.modules[__name__] = _module
