"""TensorFlow's environment defaults for this plugin, applied before anything imports TensorFlow.

``TF_CPP_MIN_LOG_LEVEL=3`` silences TensorFlow's start-up messages. ``TF_ENABLE_ONEDNN_OPTS=0`` keeps the
kernels the weights were checked with: oneDNN rounds differently, which would change a few pixels of a sample
depending on which part of a program imported TensorFlow first. Values the user set are never changed.
"""

from __future__ import annotations

import os

DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def apply_defaults() -> None:
    """Set each of :data:`DEFAULTS` that is not set yet."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
