"""Case counting for the reliability report: the fuzz, fault and supply-chain tests say what they tried here.

Each test calls :func:`case` once per case it checked (a hypothesis example, a SIGKILL, a planted file), after
the checks of that case passed. ``tests/reliability_report.py`` runs those tests and turns the tally, together
with each test's outcome, into the table of ``docs/reliability.md``.

Sizes: ``MEDIGAN_FUZZ_EXAMPLES`` (hypothesis examples per property, default 60) and ``MEDIGAN_FAULT_ROUNDS``
(SIGKILL rounds of three kills each, default 8); raise them for a long run.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

FUZZ_ENV = "MEDIGAN_FUZZ_EXAMPLES"
ROUNDS_ENV = "MEDIGAN_FAULT_ROUNDS"


@dataclass(frozen=True)
class Row:
    """One line of the report: the test that checked it, the class of fault or bad input, what was tried, what held."""

    test: str
    kind: str
    tried: str
    held: str


#: How many cases of each row passed, in this process.
TALLY: Counter[Row] = Counter()
#: For rows whose count depends on timing (where a kill lands): the most cases those calls could have counted.
VARIES: Counter[Row] = Counter()


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r} must be a whole number of at least 1")
    return int(value)


def fuzz_examples() -> int:
    """Hypothesis examples per property."""
    return _setting(FUZZ_ENV, 60)


def fault_rounds() -> int:
    """SIGKILL rounds of the kill-and-resume test."""
    return _setting(ROUNDS_ENV, 8)


def current_test() -> str:
    """The running test's node id without its parameters (set by pytest in ``PYTEST_CURRENT_TEST``)."""
    name = os.environ.get("PYTEST_CURRENT_TEST", "outside pytest").rsplit(" (", 1)[0]
    return name.split("[", 1)[0]


def case(kind: str, tried: str, held: str, count: int = 1, *, of: int | None = None) -> None:
    """Count ``count`` passed cases of ``kind`` (e.g. "bad input: model card"): what was ``tried``, what ``held``.

    ``of``: the count depends on timing and could have been as high as ``of`` (the report then gives the range)."""
    row = Row(current_test(), kind, tried, held)
    TALLY[row] += count
    if of is not None:
        VARIES[row] += of
