"""Jinja filters of the medigan plugin template; the answers are parsed and checked by medigan_host.devkit.scaffold."""

from cookiecutter.utils import simple_filter

from medigan_host.devkit.scaffold import card_from_answers, parse_image_size
from medigan_host.devkit.scaffold import python_literal as _python_literal


@simple_filter
def card(answers):
    """The model card the answers describe, as a Python dict literal."""
    return _python_literal(card_from_answers(answers))


@simple_filter
def python_literal(value):
    """Any value as Python source."""
    return _python_literal(value)


@simple_filter
def image_size_list(text):
    """'64x64' -> [64, 64]."""
    return parse_image_size(text)
