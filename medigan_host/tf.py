"""``medigan_host.tf`` is ``medigan_host.pipelines.tf``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.pipelines.tf``."""

import sys

from .pipelines import tf as _module

sys.modules[__name__] = _module
