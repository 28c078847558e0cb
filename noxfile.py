"""Test sessions. `nox` runs the default ones (tests, lint); `nox -l` lists them all."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

PHANTOMS = "plugins/medigan-plugin-phantoms"
TEST_DEPS = ["pytest>=8", "pillow>=10"]


@nox.session
def tests(session: nox.Session) -> None:
    """The host and the embedded phantoms plugin, installed as a user would (not editable)."""
    session.install(".", f"./{PHANTOMS}", *TEST_DEPS)
    session.run("pytest", "tests", f"{PHANTOMS}/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the host, the plugins, the tests and the benchmarks."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "medigan_host", "plugins", "tests", "benchmarks", "noxfile.py")
