"""Fixtures: a private cache, a fake Zenodo record server, and one shared offline test environment."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from medigan_host import plugins as host_plugins
from medigan_host.devkit.weights_server import RecordServer
from medigan_host.environments import _inherit_parent_site, _python_in

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _fresh_host():
    host_plugins.reset_host()
    yield
    host_plugins.reset_host()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(root))
    for name in ("MEDIGAN_OFFLINE", "MEDIGAN_ZENODO_URL", "MEDIGAN_TRUST_REMOTE_CODE", "MEDIGAN_ORIGINAL_TIMEOUT",
                 "MEDIGAN_ORIGINAL_START_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def serve(cache, monkeypatch):
    """``serve(card, ..., zips={card id: bytes})``: a fake Zenodo record server holding those cards' records (the
    stand-in package of :mod:`fakes` unless ``zips`` gives other bytes), with MEDIGAN_ZENODO_URL pointing at it."""
    from fakes import package_zip, record_of

    with contextlib.ExitStack() as stack:
        def start(*cards, zips=None) -> RecordServer:
            records = {}
            for card in cards:
                record, name = record_of(card)
                data = (zips or {}).get(card.id)
                records[record] = {name: data if data is not None else package_zip(card)}
            server = stack.enter_context(RecordServer(records))
            monkeypatch.setenv("MEDIGAN_ZENODO_URL", server.base_url)
            return server

        yield start


@pytest.fixture(scope="session")
def test_env_python(tmp_path_factory) -> Path:
    """One virtual environment that sees this interpreter's packages (built offline, as `--system-site-packages`)."""
    folder = tmp_path_factory.mktemp("env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(folder)], check=True)
    python = _python_in(folder)
    _inherit_parent_site(python)
    return python


@pytest.fixture
def shared_env(test_env_python, monkeypatch) -> Path:
    """Every original model runs in the shared test environment (`medigan env create` is tested on its own)."""
    from medigan_plugin_original import runner

    monkeypatch.setattr(runner, "require_env", lambda card: test_env_python)
    return test_env_python
