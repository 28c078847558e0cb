"""Property-based fuzzing of model-card validation and of conditions: a clear error naming the field, or a round trip."""

from __future__ import annotations

import json
import string

import pytest
from conftest import card
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_log import case, fuzz_examples

from medigan_host import CardError, ConditionError, ModelCard
from medigan_host.cards import REQUIRED_FIELDS
from medigan_host.conditions import check_condition, parse_conditions

FUZZ = settings(max_examples=fuzz_examples(), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

#: Every field a card knows, plus names it does not (kept in ``extra``).
FIELDS = ("id", "name", "version", "description", "framework", "modality", "image_size", "channels", "license",
          "anatomy", "architecture", "dataset", "outputs", "input", "conditions", "citation", "doi", "metrics", "tags",
          "weights", "upstream_id", "extra", "unknown_field")

#: Text that has broken parsers and file systems before.
NASTY_TEXT = st.sampled_from(["", " ", "..", "../../etc/passwd", "/abs/path", "C:\\win", "a\x00b", "nul", "CON", "é",
                              "\u202e", "x" * 300, "a=b", "=", "1e309", "nan", "-1", "0", "True", "{}", "[]"])
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=20) | NASTY_TEXT)
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                    | st.dictionaries(st.text(max_size=8) | NASTY_TEXT | st.integers(), inner, max_size=4), max_leaves=12)

#: Values that are sometimes valid, so that the fuzzer also reaches the checks after the first one.
PLAUSIBLE = {
    "image_size": st.lists(st.integers(-2, 600), min_size=1, max_size=4),
    "channels": st.integers(-1, 70),
    "framework": st.sampled_from(["pytorch", "PyTorch ", "keras", "onnx", ""]),
    "conditions": st.dictionaries(st.text(string.ascii_lowercase + "_1", max_size=6),
                                  st.lists(st.text(max_size=4) | st.integers() | st.floats(), max_size=3), max_size=3),
    "metrics": st.dictionaries(st.text(max_size=6), st.floats() | st.fixed_dictionaries({"value": st.floats()})
                               | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2), max_size=3),
    "weights": st.lists(st.fixed_dictionaries({
        "url": st.sampled_from(["https://x.org/w.safetensors", "package://pkg/w.bin", "package://pkg/../w", "ftp://x/y",
                                "https://x.org/../..", "file:///tmp/w.onnx"]),
        "sha256": st.sampled_from(["0" * 64, "A" * 64, "z" * 64, "0" * 63]),
    }, optional={"filename": st.text(max_size=12) | NASTY_TEXT, "size": st.integers(-1, 10)}), max_size=2),
    "tags": st.lists(st.text(max_size=5), max_size=3),
}


@st.composite
def mutated_cards(draw) -> tuple[dict, set[str]]:
    """A valid card with some fields replaced by junk or removed; also returns the names of the fields touched."""
    data = card("fuzzed-model", conditions={"density": ["a", "b"]}, metrics={"fid": 12.5},
                weights={"url": "https://example.org/g.safetensors", "sha256": "a" * 64})
    touched = set(draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)))
    for name in touched:
        if name in data and draw(st.booleans()) and name in REQUIRED_FIELDS:
            del data[name]
        else:
            data[name] = draw(PLAUSIBLE.get(name, JUNK) | JUNK)
    return data, touched


@FUZZ
@given(mutated_cards())
def test_cards_are_valid_and_round_trip_or_name_the_bad_field(drawn):
    data, touched = drawn
    try:
        model = ModelCard.from_dict(data)
    except CardError as error:
        assert error.field in touched, f"error names {error.field!r} but only {sorted(touched)} were changed"
        assert f"invalid model card field {error.field!r}" in str(error) or "required" in str(error)
        case("bad input: model card", "valid card with 1-3 fields replaced by junk or removed", "CardError names the field")
        return
    again = ModelCard.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model and again.to_dict() == model.to_dict()
    case("bad input: model card", "valid card with 1-3 fields replaced by junk or removed", "accepted cards round-trip")


#: What the validator refuses and the schema cannot (medigan_host.cards.CODE_ONLY_RULES), by the CardError's words.
CODE_ONLY = ("share a file name", "must be a plain file name", "must list names of declared conditions",
             "lists a value twice")


def _schema_validator():
    """The exported card schema, with JSON Schema's one reading that medigan does not share made strict: 8.0 is not
    an integer (CODE_ONLY_RULES says so; test_the_schema_counts_8_0_as_an_integer shows the standard reading)."""
    jsonschema = pytest.importorskip("jsonschema")
    from medigan_host.catalog.export import card_json_schema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine("integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(base, type_checker=checker)(card_json_schema())


@FUZZ
@given(mutated_cards())
def test_the_exported_schema_and_the_validator_agree(drawn):
    """Every card the validator accepts validates against the exported JSON Schema once written back (to_dict), and
    every card, read as JSON, that the validator refuses fails the schema too, except for the code-only rules."""
    data, _ = drawn
    try:
        data = json.loads(json.dumps(data, allow_nan=False))  # a card file: JSON values only
    except ValueError:
        return  # NaN and infinities are not JSON
    validator = _schema_validator()
    schema_errors = [e.message for e in validator.iter_errors(data)]
    try:
        model = ModelCard.from_dict(data)
    except CardError as error:
        assert schema_errors or any(words in error.reason for words in CODE_ONLY), \
            f"the schema accepts a card medigan refuses ({error}): {data!r}"
        case("bad input: model card", "valid card with 1-3 fields replaced by junk, read as JSON",
             "refused by the validator and the exported schema")
        return
    assert not list(validator.iter_errors(model.to_dict())), f"an accepted card fails the schema: {model.to_dict()!r}"
    case("bad input: model card", "valid card with 1-3 fields replaced by junk, read as JSON",
         "accepted by the validator and the exported schema")


def test_the_schema_counts_8_0_as_an_integer():
    """The one JSON Schema reading medigan does not share (listed in the schema's description)."""
    jsonschema = pytest.importorskip("jsonschema")
    from medigan_host.cards import CODE_ONLY_RULES
    from medigan_host.catalog.export import card_json_schema

    data = card("float-channels", channels=1.0)
    assert not list(jsonschema.Draft202012Validator(card_json_schema()).iter_errors(data))
    assert list(_schema_validator().iter_errors(data))
    with pytest.raises(CardError, match="channels"):
        ModelCard.from_dict(data)
    assert any("8.0" in rule for rule in CODE_ONLY_RULES)
    assert all(rule in card_json_schema()["description"] for rule in CODE_ONLY_RULES)


@FUZZ
@given(JUNK)
def test_anything_that_is_not_a_card_is_refused_clearly(value):
    try:
        ModelCard.from_dict(value)
    except CardError as error:
        assert error.field in ("card", *REQUIRED_FIELDS) or error.field in FIELDS
    else:
        pytest.fail(f"{value!r} was accepted as a card")
    case("bad input: model card", "arbitrary JSON-like values as a whole card", "CardError")


CONDITION_ITEM = st.text(max_size=12) | NASTY_TEXT | st.builds("{}={}".format, st.text(max_size=6), st.text(max_size=6))


@FUZZ
@given(st.lists(CONDITION_ITEM, max_size=4))
def test_condition_parser_accepts_key_value_or_says_what_is_wrong(items):
    try:
        parsed = parse_conditions(items)
    except ConditionError as error:
        assert "condition" in str(error)
        case("bad input: --condition", "arbitrary KEY=VALUE strings", "ConditionError saying what is wrong")
        return
    assert len(parsed) == len(items)
    for item in items:
        key, _, value = item.partition("=")
        assert parsed[key.strip()] == value.strip()
    case("bad input: --condition", "arbitrary KEY=VALUE strings", "accepted items parse to their key and value")


KEYS = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=10)
VALUES = st.text(min_size=1, max_size=10).filter(lambda v: v == v.strip())


@FUZZ
@given(st.dictionaries(KEYS, VALUES, max_size=4))
def test_conditions_round_trip_through_the_parser(condition):
    assert parse_conditions([f"{k}={v}" for k, v in condition.items()]) == condition
    case("bad input: --condition", "well-formed condition dicts written as KEY=VALUE", "round trip")


CONDITION_CARD = ModelCard.from_dict(card("conditioned", conditions={"density": ["a", "b"], "lesion": [True, False],
                                                                     "grade": [1, 2, 3]}))


@settings(FUZZ, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(["density", "lesion", "grade"]) | JUNK.filter(lambda k: isinstance(k, (str, int))),
                       JUNK, max_size=3) | JUNK)
def test_condition_values_are_checked_against_the_card(condition):
    try:
        checked = check_condition(CONDITION_CARD, condition)
    except ConditionError as error:
        assert "condition" in str(error)
        case("bad input: condition values", "arbitrary condition mappings and values", "ConditionError listing what is allowed")
        return
    for key, value in (checked or {}).items():
        assert value in CONDITION_CARD.conditions[key]
    case("bad input: condition values", "arbitrary condition mappings and values", "accepted values are the card's own")
