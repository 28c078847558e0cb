"""Free-text conditions: a card may let a condition (e.g. a prompt) take any text; its listed values are examples."""

from __future__ import annotations

import pytest
from conftest import card

from medigan_host import CardError, ConditionError, ModelCard
from medigan_host.conditions import check_condition

PROMPTED = card("prompted", conditions={"prompt": ["a frontal chest x-ray"], "view": ["ap", "pa"]},
                free_text_conditions=["prompt"])


def test_free_text_is_accepted_stripped_and_other_conditions_still_checked():
    model = ModelCard.from_dict(PROMPTED)
    assert check_condition(model, {"prompt": "  chest x-ray, cardiomegaly ", "view": "PA"}) == \
        {"prompt": "chest x-ray, cardiomegaly", "view": "pa"}
    for bad, words in (({"prompt": ""}, "takes text of 1 to 1000"), ({"prompt": 7}, "takes text"),
                       ({"prompt": "x" * 1001}, "1 to 1000"), ({"view": "lateral"}, "choose one of")):
        with pytest.raises(ConditionError, match=words):
            check_condition(model, bad)


def test_free_text_conditions_must_be_declared_conditions():
    for bad in (["missing"], "prompt", [1]):
        with pytest.raises(CardError, match="free_text_conditions"):
            ModelCard.from_dict({**PROMPTED, "free_text_conditions": bad})
    assert ModelCard.from_dict(PROMPTED).extra["free_text_conditions"] == ["prompt"]
