"""The plugin contract as pytest tests: one line in a plugin's own test suite runs every ``medigan check``.

.. code-block:: python

    # tests/test_contract.py
    from medigan_host.devkit.testing import contract_tests

    test_contract = contract_tests("my-model-id")   # or a plugin name, or a plugin project folder

Each check becomes one test, named ``subject/check`` (e.g. ``my-model-id/batch-invariant``); a failure shows the
check's detail and its hint. The checks run once, on first use, and are shared by the tests of that target.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .contract import MODEL_CHECKS, PLUGIN_CHECKS, CheckResult, InputsFactory, resolve_target, run_checks

_results: dict[tuple[str, str, int], dict[tuple[str, str], CheckResult]] = {}


def contract_tests(target: str | Path | None = None, *, device: str = "cpu",
                   inputs: InputsFactory | None = None) -> Callable[..., None]:
    """A parametrised pytest test function with one case per contract check of ``target``.

    ``target`` is a model id, an installed plugin's name, or a plugin project folder (checked with its plugin); None
    checks everything installed. ``inputs(card, seeds)`` makes inputs for image-input models.
    """
    resolved = resolve_target(target)
    cases = [(info.name, name) for info in resolved.plugins for name in PLUGIN_CHECKS]
    cases += [(entry.id, name) for entry in resolved.models for name in MODEL_CHECKS]
    key = (str(target), device, id(inputs))

    @pytest.mark.parametrize(("subject", "check"), cases, ids=[f"{s}/{c}" for s, c in cases])
    def test_contract(subject: str, check: str) -> None:
        if key not in _results:
            _results[key] = {(r.subject, r.name): r for r in run_checks(target, device, inputs=inputs)}
        result = _results[key].get((subject, check))
        if result is None:
            pytest.fail(f"{subject}: the check {check!r} gave no result", pytrace=False)
        if result.skipped:
            pytest.skip(f"{subject} {check}: {result.detail}")
        if not result.passed:
            pytest.fail(f"{subject} {check}: {result.detail}\nhint: {result.hint}", pytrace=False)

    return test_contract
