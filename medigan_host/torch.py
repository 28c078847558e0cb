"""``medigan_host.torch`` is ``medigan_host.pipelines.torch``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.pipelines.torch``."""

import sys

from .pipelines import torch as _module

sys.modules[__name__] = _module
