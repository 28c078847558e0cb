"""Matching search values against model cards in the shapes of the original library's model selector.

As the original, a value matches a card or config entry equal to it (case-insensitive unless asked otherwise).
The fuzzy search also matches an entry holding the value's words, by prefix or with a spelling slip (the term
expansion of :class:`~medigan_host.catalog.search.SearchIndex`), and orders the models by relevance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..catalog.search import SearchIndex, analyse
from ..errors import MediganUsageError
from ..registry import ModelEntry

OPERATORS = ("AND", "OR", "XOR")


class MatchedEntry:
    """One card entry that matched a search value: its ``key`` (field path), ``value`` and the matching search value."""

    def __init__(self, key: str, value: Any, matching_element: str) -> None:
        self.key = key
        self.value = value
        self.matching_element = matching_element

    def __str__(self) -> str:
        return json.dumps({"key": self.key, "value": self.value, "matching_element": self.matching_element}, default=str)

    def __repr__(self) -> str:
        return f"MatchedEntry(key={self.key}, value={self.value}, matching_element={self.matching_element})"


class ModelMatchCandidate:
    """A model evaluated against search values, as the original's ``ModelMatchCandidate`` (``.model_id``,
    ``.matched_entries``, ``.is_match``); ``score`` is its BM25 relevance to the values together."""

    def __init__(self, model_id: str, target_values: list, target_values_operator: str = "AND",
                 is_case_sensitive: bool = False, are_keys_also_matched: bool = False, is_match: bool = False) -> None:
        self.model_id = model_id
        self.target_values = target_values
        self.target_values_operator = target_values_operator
        self.is_case_sensitive = is_case_sensitive
        self.are_keys_also_matched = are_keys_also_matched
        self.matched_entries: list[MatchedEntry] = []
        self.is_match = is_match
        self.score = 0.0

    def add_matched_entry(self, matched_entry: MatchedEntry) -> None:
        self.matched_entries.append(matched_entry)

    def get_all_matching_elements(self) -> list:
        return [entry.matching_element for entry in self.matched_entries]

    def check_if_is_match(self) -> bool:
        """AND: every value matched; OR: at least one; XOR: exactly one."""
        found = set(self.get_all_matching_elements())
        hits = sum(1 for value in self.target_values if value in found)
        self.is_match = {"AND": hits == len(self.target_values), "OR": hits >= 1, "XOR": hits == 1}[self.target_values_operator]
        return self.is_match

    def __str__(self) -> str:
        return json.dumps({"model_id": self.model_id, "is_match": self.is_match, "target_values": self.target_values,
                           "operator": self.target_values_operator, "are_keys_also_matched": self.are_keys_also_matched,
                           "is_case_sensitive": self.is_case_sensitive, "score": round(self.score, 4),
                           "matched_entries": {str(i): json.loads(str(m)) for i, m in enumerate(self.matched_entries)}},
                          default=str)

    def __repr__(self) -> str:
        return (f"ModelMatchCandidate(model_id={self.model_id}, is_match={self.is_match}, "
                f"operator: {self.target_values_operator}, target_values={self.target_values})")

    def __len__(self) -> int:
        return len(self.matched_entries)

    def __getitem__(self, idx: int) -> MatchedEntry:
        return self.matched_entries[idx]


def match_models(entries: Sequence[ModelEntry], values: Any, target_values_operator: str = "AND",
                 are_keys_also_matched: bool = False, is_case_sensitive: bool = False, *, fuzzy: bool = True,
                 configs: Mapping[str, Any] | None = None) -> list[ModelMatchCandidate]:
    """The candidates among ``entries`` that match the search ``values`` under the operator.

    Exact (``fuzzy=False``, the original's way): a value matches an entry equal to it, in catalogue order.
    Fuzzy: also by words, prefixes and spelling slips, most relevant first. ``configs`` (model id -> the
    original-layout config) adds the config's selection and description entries to each card's.
    """
    values, operator = check_search(values, target_values_operator)
    targets = [str(v) if is_case_sensitive else str(v).lower() for v in values]
    index = SearchIndex(entries)
    scores = {hit.card.id: hit.score for hit in index.search(" ".join(map(str, values))).hits}
    accepted = {term: {t for t, _ in index.expand(term)[0]} for v in values for term in analyse(str(v))} if fuzzy else None
    found = []
    for entry in entries:
        candidate = ModelMatchCandidate(entry.id, targets, operator, is_case_sensitive, are_keys_also_matched)
        config = (configs or {}).get(entry.id) or {}
        searched = {"card": entry.card.to_dict(), **{k: config[k] for k in ("selection", "description") if k in config}}
        pairs = [(key.partition(".")[2], item) for key, item in _pairs(searched)]
        keys = [k for k in dict.fromkeys(_keys(searched)) if k not in searched]
        for value, target in zip(values, targets, strict=True):
            text = str(value)
            for key, item in pairs:
                if _matches(text, str(item), is_case_sensitive, fuzzy, accepted):
                    candidate.add_matched_entry(MatchedEntry(key, item, target))
            if are_keys_also_matched:
                for key in keys:
                    if _matches(text, key, is_case_sensitive, fuzzy, accepted):
                        candidate.add_matched_entry(MatchedEntry("key", key, target))
        candidate.score = scores.get(entry.id, 0.0)
        if candidate.check_if_is_match():
            found.append(candidate)
    if fuzzy:
        found.sort(key=lambda c: -c.score)
    return found


def _matches(value: str, text: str, case_sensitive: bool, fuzzy: bool, accepted: Mapping[str, set[str]] | None) -> bool:
    if not fuzzy:
        return value == text if case_sensitive else value.lower() == text.lower()
    return value_matches(value, text, case_sensitive=case_sensitive, accepted=accepted)


def check_search(values: Any, operator: Any) -> tuple[list, str]:
    """The search values as a list (one value may be given bare) and the operator in upper case."""
    if isinstance(values, (str, int, float)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)) or not values:
        raise MediganUsageError(f"values must be a non-empty list of search values, e.g. ['mammography', 'dcgan'], "
                                f"got {values!r}")
    if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip() for v in values):
        raise MediganUsageError(f"search values must be non-empty strings or numbers, got {list(values)!r}")
    if not isinstance(operator, str) or operator.strip().upper() not in OPERATORS:
        raise MediganUsageError(f"target_values_operator must be one of {', '.join(OPERATORS)}, got {operator!r}")
    return list(values), operator.strip().upper()


def _pairs(value: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, scalar) for every scalar in a card dict."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _pairs(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _pairs(item, path)
    elif value is not None and value != "":
        yield path, value


def _keys(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _keys(item)


def value_matches(value: str, text: str, *, case_sensitive: bool, accepted: Mapping[str, set[str]] | None = None) -> bool:
    """Whether a search value matches a card value: equal, or (case-insensitively) holding the value's words.

    ``accepted`` maps each analysed term of ``value`` to the card terms it stands for (itself, words it is a
    prefix of, or what a misspelling was read as; see SearchIndex.expand); without it words must be equal.
    """
    if case_sensitive:
        return value == text or re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text) is not None
    if value.lower() == text.lower():
        return True
    wanted = analyse(value)
    present = set(analyse(text))
    return bool(wanted) and all(present & (accepted or {}).get(term, {term}) for term in wanted)
