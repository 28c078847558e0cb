"""Registers this plugin's model with medigan.

This module runs whenever models are listed, so it imports nothing heavy: the network and its framework are
imported by the loader, ``{{ cookiecutter.__package }}.generator:load``, only when the model is used.
"""

from __future__ import annotations

from medigan_host import hookimpl

#: The model card (docs: the medigan plugin contract). Update it whenever the network or its training changes:
#: version, architecture, dataset, metrics, citation, and "weights" once they are published.
CARD = {{ cookiecutter | card }}
{%- if cookiecutter.framework == "onnx" %}

#: The network shipped in this package, checked against its sha256 every time it is loaded.
#: scripts/build_placeholder_onnx.py rewrites this line; when you ship your own network, put in its sha256 and size.
WEIGHTS = [{"url": "package://{{ cookiecutter.__package }}/generator.onnx", "sha256": "", "size": 0}]
CARD["weights"] = WEIGHTS
{%- endif %}

LOADER = "{{ cookiecutter.__package }}.generator:load"


@hookimpl
def medigan_register_models(register):
    register(CARD, LOADER)
