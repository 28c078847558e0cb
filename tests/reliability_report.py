#!/usr/bin/env python
"""Run the fuzz, fault, supply-chain, hardening and trust-gate tests and print the table of ``docs/reliability.md`` from what
they tried; with ``--output`` write it there.

Usage (from the repository root)::

    python tests/reliability_report.py [extra pytest arguments]           # runs the tests, prints the report
    python tests/reliability_report.py --output docs/reliability.md       # regenerates the tracked report

``python -m nox -s reliability`` runs the tests in a fresh environment and writes nothing; ``python -m nox -s
reliability_report`` (not a default session) regenerates ``docs/reliability.md`` there. ``MEDIGAN_FUZZ_EXAMPLES``
and ``MEDIGAN_FAULT_ROUNDS`` make the run longer (see ``tests/reliability_log.py``). The exit status is pytest's:
non-zero when any test failed (the report is written all the same, marked FAILED).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import reliability_log  # noqa: E402 - the same module object the tests import

REPO = HERE.parent
DEFAULT_OUTPUT = REPO / "docs" / "reliability.md"
TEST_FILES = ["test_fuzz_cards.py", "test_fuzz_cli.py", "test_fuzz_outputs.py", "test_fuzz_paths.py", "test_faults.py",
              "test_supply_chain.py", "test_hardening.py", "test_trust_gate.py"]
#: Earlier tests that belong in the report: node id -> (class, what was tried, what held); one case each.
EARLIER_TESTS = {
    "tests/test_weights.py::test_tampered_cache_file_is_caught_on_load": (
        "supply chain: tampered cache", "a cached weights file changed on disk (same size and time)",
        "sha256 mismatch on load: deleted, downloaded again"),
    "tests/test_weights.py::test_bad_download_is_deleted_and_reported": (
        "supply chain: tampered download", "a truncated and a tampered download", "refused and deleted, never cached"),
    "tests/test_weights.py::test_interrupted_download_leftover_is_never_taken": (
        "fault: interrupted download", "a partial download left by a killed process", "never taken for the weights"),
    "tests/test_weights.py::test_stored_weights_are_checked_against_their_record": (
        "supply chain: tampered cache", "a locally stored weights file changed after it was recorded", "refused on load"),
    "tests/test_weights_bounds.py::test_endless_body_stops_at_the_declared_size": (
        "fault: hostile download server", "an endless body for a card declaring its size",
        "stopped at the declared size; nothing kept"),
    "tests/test_weights_bounds.py::test_endless_body_of_a_record_stops_at_the_record_size": (
        "fault: hostile download server", "an endless body for a record's file", "stopped at the record's size"),
    "tests/test_weights_bounds.py::test_announced_oversize_is_refused_before_downloading": (
        "fault: hostile download server", "a Content-Length above the declared size", "refused before any byte is kept"),
    "tests/test_weights_bounds.py::test_a_trickle_meets_the_overall_deadline": (
        "fault: hostile download server", "a body trickling one byte at a time", "stopped at the overall deadline"),
    "tests/test_weights_bounds.py::test_a_silent_server_meets_the_stall_timeout": (
        "fault: hostile download server", "a body that stops after 1 KiB", "given up after the stall timeout"),
    "tests/test_weights_bounds.py::test_leftovers_of_killed_downloads_are_removed_by_the_next_download": (
        "fault: interrupted download", "partials of killed downloads of the same file", "removed by the next download"),
    "tests/test_weights_bounds.py::test_disk_filling_up_during_the_download_says_disk_full": (
        "fault: disk full", "ENOSPC while a weights file downloads", "'disk full' named; nothing kept"),
    "tests/test_weights_bounds.py::test_several_processes_download_a_file_once": (
        "fault: concurrent downloads", "four processes fetching the same file at once", "one download, one verified file"),
    "tests/test_weights_records.py::test_file_differing_from_the_record_is_deleted_and_named": (
        "supply chain: tampered download", "a record's file whose bytes differ from the record's md5",
        "refused and deleted, both checksums named"),
    "tests/test_generate.py::test_resume_extends_and_repairs": (
        "fault: SIGKILL during generation", "torn manifest line, lost file, orphan temporary (made by hand)",
        "--resume repairs them; output equal to an uninterrupted run"),
    "tests/test_compat.py::test_install_dependencies_never_installs": (
        "supply chain: no install, no card code", "install_dependencies=True in the original API",
        "nothing installed: a warning when the requirements are there, else refused naming the command to run"),
    "tests/test_plugins.py::test_broken_plugins_are_reported_and_skipped": (
        "fault: broken plugin", "plugins raising on import, in their hook, calling sys.exit, with invalid cards",
        "each reported and skipped; the others keep working"),
}


class OutcomeCollector:
    """Records each test's outcome (passed, failed, skipped with its reason) by node id without parameters."""

    def __init__(self) -> None:
        self.outcomes: dict[str, list[str]] = defaultdict(list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        node = report.nodeid.split("[", 1)[0]
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed") or \
                (report.when == "teardown" and report.outcome == "failed"):
            if report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                self.outcomes[node].append(f"skipped: {reason.removeprefix('Skipped: ')}")
            else:
                self.outcomes[node].append(report.outcome)


def result_of(outcomes: list[str]) -> str:
    if any(o == "failed" for o in outcomes):
        return "FAILED"
    if outcomes and all(o.startswith("skipped") for o in outcomes):
        return outcomes[0]
    return "held" if outcomes else "not run"


def table(collector: OutcomeCollector) -> list[str]:
    rows: dict[tuple[str, str, str], list] = {}
    bounds: dict[tuple[str, str, str], int] = defaultdict(int)  # rows whose count depends on timing: the most possible
    for row, count in reliability_log.TALLY.items():
        key = (row.kind, row.tried, row.held)
        entry = rows.setdefault(key, [0, set()])
        entry[0] += count
        entry[1].add(row.test)
        if row in reliability_log.VARIES:
            bounds[key] += reliability_log.VARIES[row]
    for node, (kind, tried, held) in EARLIER_TESTS.items():
        if collector.outcomes.get(node) and result_of(collector.outcomes[node]) == "held":
            rows.setdefault((kind, tried, held), [0, set()])
            rows[(kind, tried, held)][0] += 1
            rows[(kind, tried, held)][1].add(node)
    counted_tests = {test for _, tests in rows.values() for test in tests}
    for node in collector.outcomes:  # failed or skipped tests, which counted no case
        if node not in counted_tests:
            name = node.rsplit("::", 1)[-1].removeprefix("test_").replace("_", " ")
            rows[("(see the test)", name, "-")] = [0, {node}]
    lines = ["| Class | What was tried | Cases | What held | Result | Test |", "|---|---|---:|---|---|---|"]
    for (kind, tried, held), (count, tests) in sorted(rows.items()):
        results = {result_of(collector.outcomes.get(test, [])) for test in tests}
        result = "FAILED" if "FAILED" in results else sorted(results)[0]
        names = ", ".join(f"`{t.rsplit('::', 1)[-1]}`" for t in sorted(tests))
        cases = f"0–{bounds[(kind, tried, held)]} (this run: {count}; varies with timing)" \
            if (kind, tried, held) in bounds else str(count)
        lines.append(f"| {kind} | {_cell(tried)} | {cases} | {_cell(held)} | {_cell(result)} | {names} |")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(collector: OutcomeCollector, exit_code: int) -> str:
    torch = "installed" if importlib.util.find_spec("torch") else "not installed (its planted-pickle rows are skipped)"
    lines = [
        "# Reliability report",
        "",
        "Generated by `python tests/reliability_report.py --output docs/reliability.md` (in a fresh environment: "
        "`python -m nox -s reliability_report`); do not edit by hand. `python -m nox -s reliability` runs the same tests "
        "and writes nothing.",
        "Each row is one class of fault or bad input: what was tried, how many cases passed their checks, and what held.",
        "Counts are the same on every run with the same settings (hypothesis is derandomized, `PYTHONHASHSEED=0`), "
        "except rows marked \"varies with timing\", which give the possible range; rows of tests skipped on a machine "
        "(no root to mount a tmpfs, no torch) say so.",
        "Background: [security.md](security.md) (threat model) and the tests named in the last column.",
        "",
        f"- hypothesis examples per property: {reliability_log.fuzz_examples()} (`{reliability_log.FUZZ_ENV}`), derandomized",
        f"- SIGKILL rounds: {reliability_log.fault_rounds()} of three kills each (`{reliability_log.ROUNDS_ENV}`)",
        f"- Python {platform.python_version()} on {platform.system()}; torch {torch}",
        f"- pytest exit status: {exit_code} ({'all passed' if exit_code == 0 else 'FAILURES: see the Result column'})",
        "",
        *table(collector),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=None,
                        help=f"write the report there (e.g. {DEFAULT_OUTPUT.relative_to(REPO)}); default: print it only")
    args, pytest_args = parser.parse_known_args(argv)
    collector = OutcomeCollector()
    tests = [str(HERE / name) for name in TEST_FILES] + [str(REPO / node) for node in EARLIER_TESTS]
    exit_code = int(pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(REPO), *tests, *pytest_args],
                                plugins=[collector]))
    report = render(collector, exit_code)
    if args.output is None:
        print(report)
        return exit_code
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(f"wrote {args.output}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
