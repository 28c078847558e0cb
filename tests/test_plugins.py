"""Plugin discovery through entry points, and isolation of broken plugins."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import GOOD_PLUGIN, card, run_cli

import medigan_host
from medigan_host import PluginWarning, hookimpl

BROKEN_IMPORT = "raise RuntimeError('boom at import')\n"
RAISING_HOOK = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({"id": "half-registered", "name": "x", "version": "1", "description": "d", "framework": "numpy",
              "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT"}, "x.y:z")
    raise ValueError("hook exploded")
'''
INVALID_CARD = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({"id": "bad-size", "name": "x", "version": "1", "description": "d", "framework": "numpy",
              "modality": "ct", "image_size": [-1, 8], "channels": 1, "license": "MIT"}, "x.y:z")
    register({"id": "still-fine", "name": "x", "version": "1", "description": "d", "framework": "numpy",
              "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT"}, "x.y:z")
'''
EXITING = "import sys\nsys.exit(3)\n"
NO_HOOKS = "VALUE = 1\n"


def _collect(host_factory):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = host_factory()
        catalog = host.catalog
    return host, catalog, [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]


def test_good_plugin_is_discovered(site, host):
    site.add("good", GOOD_PLUGIN.format(ids=["good-a", "good-b"]))
    plugin_host, catalog, warned = _collect(host)
    assert {"good-a", "good-b"} <= {e.id for e in catalog}
    info = plugin_host.plugins["good"]
    assert info.status == "ok" and info.distribution == "medigan-test-good" and info.version == "0.1.0"
    assert info.models == ["good-a", "good-b"]
    assert not [w for w in warned if "'good'" in w]


def test_broken_plugins_are_reported_and_skipped(site, host):
    site.add("good", GOOD_PLUGIN.format(ids=["good-a"]))
    site.add("importfail", BROKEN_IMPORT)
    site.add("raising", RAISING_HOOK)
    site.add("invalid", INVALID_CARD)
    site.add("exiting", EXITING)
    site.add("nohooks", NO_HOOKS)
    plugin_host, catalog, warned = _collect(host)
    ids = {e.id for e in catalog}
    assert "good-a" in ids and "still-fine" in ids
    assert "half-registered" not in ids and "bad-size" not in ids
    plugins = plugin_host.plugins
    assert plugins["importfail"].status == "failed" and "boom at import" in plugins["importfail"].errors[0]
    assert plugins["exiting"].status == "failed" and "SystemExit" in plugins["exiting"].errors[0]
    assert "hook exploded" in plugins["raising"].errors[0] and plugins["raising"].models == []
    (invalid_error,) = plugins["invalid"].errors
    assert "plugin 'invalid'" in invalid_error and "model 'bad-size'" in invalid_error and "'image_size'" in invalid_error
    assert plugins["invalid"].models == ["still-fine"] and plugins["invalid"].status == "partial"
    assert "defines no medigan hooks" in plugins["nohooks"].errors[0]
    for name in ("importfail", "raising", "invalid", "exiting", "nohooks"):
        assert any(f"plugin {name!r}" in w for w in warned), name


def test_id_clash_names_both_plugins(site, host):
    site.add("alpha", GOOD_PLUGIN.format(ids=["shared-id", "alpha-only"]))
    site.add("beta", GOOD_PLUGIN.format(ids=["shared-id", "beta-only"]))
    plugin_host, catalog, warned = _collect(host)
    assert catalog.get("shared-id").plugin == "alpha"
    assert "beta-only" in catalog and "alpha-only" in catalog
    (error,) = plugin_host.plugins["beta"].errors
    assert "'shared-id'" in error and "'alpha'" in error and "'beta'" in error


def test_medigan_plugins_limits_loading(site, host, monkeypatch):
    site.add("good", GOOD_PLUGIN.format(ids=["good-a"]))
    site.add("other", GOOD_PLUGIN.format(ids=["other-a"]))
    site.add("importfail", BROKEN_IMPORT)
    monkeypatch.setenv("MEDIGAN_PLUGINS", "good, medigan-test-other, not-installed")
    plugin_host, catalog, warned = _collect(host)
    assert {e.id for e in catalog} == {"good-a", "other-a"}
    assert "importfail" not in plugin_host.plugins
    assert "no installed plugin has that name" in plugin_host.plugins["not-installed"].errors[0]
    monkeypatch.setenv("MEDIGAN_PLUGINS", "")
    _, catalog, _ = _collect(host)
    assert len(catalog) == 0


def test_programmatic_registration():
    class Notebook:
        @hookimpl
        def medigan_register_models(self, register):
            register(card("notebook-model"), lambda c, device: None)

    name = medigan_host.register_plugin(Notebook(), name="notebook")
    assert medigan_host.get_card("notebook-model").id == "notebook-model"
    assert any(p.name == "notebook" and p.source == "registered" for p in medigan_host.list_plugins())
    with pytest.raises(ValueError, match="already registered"):
        medigan_host.register_plugin(Notebook(), name="notebook")
    medigan_host.unregister_plugin(name)
    with pytest.raises(medigan_host.UnknownModelError):
        medigan_host.get_card("notebook-model")


def test_registration_with_wrong_hook_signature_is_refused():
    class Wrong:
        @hookimpl
        def medigan_register_models(self, register, extra_argument):
            pass

    with pytest.raises(ValueError, match="could not be registered"):
        medigan_host.register_plugin(Wrong(), name="wrong")
    assert "wrong" not in {p.name for p in medigan_host.list_plugins()}


def test_invalid_loader_is_rejected():
    class BadLoader:
        @hookimpl
        def medigan_register_models(self, register):
            register(card("bad-loader"), "not an import string")

    medigan_host.register_plugin(BadLoader(), name="badloader")
    with pytest.warns(PluginWarning, match="import string"):
        models = medigan_host.list_models()
    assert "bad-loader" not in {c.id for c in models}


def test_plugins_command_reports_errors(site):
    site.add("good", GOOD_PLUGIN.format(ids=["good-a"]))
    site.add("importfail", BROKEN_IMPORT)
    result = run_cli("plugins", "--json", env=site.env())
    assert result.returncode == 0, result.stderr
    by_name = {p["name"]: p for p in json.loads(result.stdout)}
    assert by_name["good"]["status"] == "ok" and by_name["good"]["models"] == ["good-a"]
    assert by_name["importfail"]["status"] == "failed" and "boom at import" in by_name["importfail"]["errors"][0]
    table = run_cli("plugins", env=site.env())
    assert "importfail" in table.stdout and "failed" in table.stdout
    listing = run_cli("list", env=site.env())
    assert listing.returncode == 0 and "good-a" in listing.stdout
    assert "warning: medigan plugin 'importfail'" in listing.stderr
