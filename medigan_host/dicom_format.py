"""``medigan_host.dicom_format`` is ``medigan_host.formats.dicom``, kept at this path for code written against it: the same
module object, so every name and every patch applies to both. New code imports ``medigan_host.formats.dicom``."""

import sys

from .formats import dicom as _module

sys.modules[__name__] = _module
