"""Conditions: parsing ``key=value`` strings and checking them against a card's declared values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .cards import FREE_TEXT_FIELD, FREE_TEXT_MAX, ModelCard
from .errors import ConditionError


def parse_conditions(items: Iterable[str]) -> dict[str, str]:
    """Parse ``["density=c", "lesion=present"]`` into a dict; malformed items raise ConditionError."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConditionError(f"condition {item!r} is not of the form key=value, e.g. --condition density=c")
        if key in out:
            raise ConditionError(f"condition {key!r} is given twice; give each condition once")
        out[key] = value
    return out


def check_condition(card: ModelCard, condition: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return ``condition`` with each value replaced by the card's own (typed) value.

    Undeclared names and values the card does not allow raise ConditionError listing what is allowed.
    ``None`` or an empty mapping means "let the model choose" and returns None.
    """
    if condition is None:
        return None
    if not isinstance(condition, Mapping):
        raise ConditionError(f"condition must be a mapping such as {{'density': 'c'}}, got {type(condition).__name__}")
    if not condition:
        return None
    if not card.conditions:
        raise ConditionError(f"model {card.id!r} is unconditional: it accepts no conditions (got {dict(condition)!r})")
    out: dict[str, Any] = {}
    for key, value in condition.items():
        if key not in card.conditions:
            declared = ", ".join(sorted(card.conditions))
            raise ConditionError(f"model {card.id!r} has no condition {key!r}; its conditions are: {declared}")
        allowed = card.conditions[key]
        if key in (card.extra.get(FREE_TEXT_FIELD) or ()):
            out[key] = _free_text(card, key, value)
            continue
        match = _match(value, allowed)
        if match is _NO_MATCH:
            choices = ", ".join(str(a) for a in allowed)
            raise ConditionError(f"condition {key}={value!r} is not allowed for model {card.id!r}; choose one of: {choices}")
        out[key] = match
    return out


_NO_MATCH = object()


def _free_text(card: ModelCard, key: str, value: Any) -> str:
    """A free-text condition value (the card lists ``key`` under ``free_text_conditions``): any non-empty text."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > FREE_TEXT_MAX:
        raise ConditionError(f"condition {key} of model {card.id!r} takes text of 1 to {FREE_TEXT_MAX} characters, e.g. "
                             f"{key}={str(card.conditions[key][0])!r}; got {value!r}")
    return text


def _match(value: Any, allowed: tuple[Any, ...]) -> Any:
    for candidate in allowed:
        if type(value) is type(candidate) and value == candidate:
            return candidate
    text = str(value).strip().lower()
    for candidate in allowed:
        if str(candidate).lower() == text:
            return candidate
    return _NO_MATCH
