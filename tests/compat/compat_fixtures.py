"""Fixtures of the compatibility tests (imported by their modules; a conftest.py here would shadow tests/conftest.py,
which other test modules import by name): the original models' stand-ins, in this process or in a fake site."""

from __future__ import annotations

from pathlib import Path

import original_standins
import pytest

import medigan_host
from medigan_host.devkit.weights_server import RecordServer
from medigan_host.plugins import reset_host

HERE = Path(__file__).resolve().parent


@pytest.fixture
def records(tmp_path, monkeypatch):
    """The original models' Zenodo records, served on 127.0.0.1 with stand-in weights; an empty weights cache."""
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDIGAN_OFFLINE", raising=False)
    with RecordServer(original_standins.record_files()) as server:
        monkeypatch.setenv("MEDIGAN_ZENODO_URL", server.base_url)
        yield server


@pytest.fixture
def original(monkeypatch, records):
    """A host with the phantoms and the stand-ins of the original models only (installed framework plugins
    may carry the same upstream ids), their weights served from the fake record server."""
    monkeypatch.setenv("MEDIGAN_PLUGINS", "phantoms")
    reset_host()
    medigan_host.register_plugin(original_standins, name=original_standins.PLUGIN_NAME)
    yield original_standins
    reset_host()


@pytest.fixture
def standin_site(site, records):
    """The stand-ins installed as a plugin distribution, for scripts run in a subprocess (``site.env()``)."""
    site.add("standins", (HERE / "original_standins.py").read_text(), dist="medigan-test-standins",
             module="medigan_test_standins")
    return site


@pytest.fixture
def headless(monkeypatch):
    """No display: matplotlib on Agg."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return matplotlib
