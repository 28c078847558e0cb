"""The generator's own behaviour: weights round-trip through the file format the loader reads."""

from __future__ import annotations

import numpy as np

from medigan_host import ModelCard
from {{ cookiecutter.__package }} import generator
from {{ cookiecutter.__package }}.plugin import CARD

SEEDS = [3, 4]


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[key], b[key]) for key in a)


def test_weights_round_trip(tmp_path):
    card = ModelCard.from_dict(CARD)
    original = generator.load(card, "cpu")
    path = tmp_path / f"saved{generator.WEIGHTS_SUFFIX}"
    original.save_weights(path)
{%- if cookiecutter.framework != "onnx" %}
    other = generator.Generator(card, "cpu", init_seed=1)
    assert not _same(original.generate(SEEDS), other.generate(SEEDS)), "another initialisation must give other samples"
{%- endif %}
    restored = generator.Generator(card, "cpu", weights=path)
    assert _same(original.generate(SEEDS), restored.generate(SEEDS))

