"""``medigan_host.weights_server`` is ``medigan_host.devkit.weights_server``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.devkit.weights_server``."""

import sys

from .devkit import weights_server as _module

sys.modules[__name__] = _module
