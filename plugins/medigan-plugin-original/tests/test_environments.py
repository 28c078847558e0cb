"""`medigan env`: uv by default from one shared hard-linked cache, the import check, the states, `env check`, --all.

Requirements are tiny wheels built by the test and installed offline (find-links only, no index)."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from click.testing import CliRunner
from fakes import wheel

import medigan_host
from medigan_host import hookimpl
from medigan_host.cli import cli
from medigan_host.environments import (
    EnvironmentBrokenError,
    check_env,
    create_env,
    env_dir,
    env_state,
    installer_environment,
    list_envs,
    require_env,
)
from medigan_host.plugins import reset_host


def _card(model_id: str, requirements: list[str], imports: list[str]) -> dict:
    return {"id": model_id, "name": model_id, "version": "1.0.0", "description": "A model with its own environment.",
            "framework": "numpy", "modality": "ct", "anatomy": "head", "image_size": [8, 8], "channels": 1,
            "license": "MIT", "environment": {"requirements": requirements, "imports": imports, "python": ">=3.10"}}


class _Plugin:
    CARDS = [_card("envtest-ok", ["medigan_fake_ok==1.0"], ["medigan_fake_ok"]),
             _card("envtest-ok-too", ["medigan_fake_ok==1.0"], ["medigan_fake_ok"]),
             _card("envtest-bad", ["medigan_fake_bad==2.0"], ["medigan_fake_bad"])]

    @hookimpl
    def medigan_register_models(self, register):
        for card in self.CARDS:
            register(card, "medigan_host:no_such_loader")


@pytest.fixture
def wheels(cache, tmp_path, monkeypatch):
    """A folder of wheels as the only package source (uv's and pip's own settings), and a host with the test cards."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheel(folder, "medigan_fake_ok", "1.0", "VALUE = 1\n")
    wheel(folder, "medigan_fake_bad", "2.0", "import pkg_resources_gone_since_setuptools_81  # noqa\n")
    for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_CACHE_DIR",
                 "UV_LINK_MODE", "PIP_FIND_LINKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UV_FIND_LINKS", str(folder))
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("MEDIGAN_PLUGINS", "phantoms")
    reset_host()
    medigan_host.register_plugin(_Plugin(), name="envtest")
    yield folder
    reset_host()


def _site_file(folder, module: str):
    return next(folder.glob(f"lib/python*/site-packages/{module}/__init__.py"))


def test_uv_is_the_default_and_every_environment_shares_one_hard_linked_cache(wheels, cache):
    first, second = medigan_host.get_card("envtest-ok"), medigan_host.get_card("envtest-ok-too")
    create_env(first)
    create_env(second)
    a, b = _site_file(env_dir(first), "medigan_fake_ok"), _site_file(env_dir(second), "medigan_fake_ok")
    assert a.stat().st_ino == b.stat().st_ino and a.stat().st_nlink >= 3  # one file on disk: both envs + the cache
    assert (cache / "envs" / ".uv-cache").is_dir()
    marker = json.loads((env_dir(first) / "medigan-env.json").read_text())
    assert marker["installer"] == "uv" and marker["check"]["ok"] is True
    assert marker["check"]["versions"] == {"medigan_fake_ok": "1.0"}
    assert env_state(first) == "ok" and require_env(first).is_file()
    assert [(e["model"], e["state"]) for e in list_envs()] == [("envtest-ok", "ok"), ("envtest-ok-too", "ok")]


def test_a_requirement_that_cannot_import_leaves_the_environment_broken_not_ready(wheels, cache):
    card = medigan_host.get_card("envtest-bad")
    with pytest.raises(EnvironmentBrokenError) as caught:
        create_env(card)
    message = str(caught.value)
    assert "import medigan_fake_bad failed: ModuleNotFoundError" in message
    assert "pkg_resources_gone_since_setuptools_81" in message and "medigan_fake_bad 2.0" in message
    assert "--force" in message
    assert env_state(card) == "broken"
    with pytest.raises(EnvironmentBrokenError, match="is broken"):
        require_env(card)
    listed = CliRunner().invoke(cli, ["env", "list"])
    assert listed.exit_code == 0 and "broken" in listed.output
    checked = CliRunner().invoke(cli, ["env", "check", "envtest-bad"])
    assert checked.exit_code == 1
    assert "import medigan_fake_bad: FAILED" in checked.output and "environment of envtest-bad: broken" in checked.output


def test_env_check_reruns_the_imports_and_a_changed_card_makes_the_environment_stale(wheels, cache):
    card = medigan_host.get_card("envtest-ok")
    create_env(card)
    checked = CliRunner().invoke(cli, ["env", "check", "envtest-ok", "--json"])
    assert checked.exit_code == 0, checked.output
    data = json.loads(checked.output)
    assert data["ok"] is True and data["state"] == "ok" and data["package"].startswith("skipped")
    # the module disappears from the environment: the next check says so
    shutil.rmtree(_site_file(env_dir(card), "medigan_fake_ok").parent)
    assert check_env(card)["state"] == "broken"
    # the card asks for other requirements than the environment was built with
    marker = env_dir(card) / "medigan-env.json"
    data = json.loads(marker.read_text())
    marker.write_text(json.dumps({**data, "requirements": ["medigan_fake_ok==0.9"]}))
    assert env_state(card) == "stale"
    assert [e["state"] for e in list_envs()] == ["stale"]
    again = CliRunner().invoke(cli, ["env", "create", "envtest-ok", "--force"])
    assert again.exit_code == 0, again.output
    assert env_state(card) == "ok"


def test_env_create_all_builds_every_declared_environment_and_reports_the_broken_one(wheels, cache):
    run = CliRunner().invoke(cli, ["env", "create", "--all"])
    assert run.exit_code == 1
    assert "environment of envtest-ok ready" in run.output and "environment of envtest-ok-too ready" in run.output
    assert "1 of 3 environments failed: envtest-bad" in run.output
    states = {e["model"]: e["state"] for e in list_envs()}
    assert states == {"envtest-ok": "ok", "envtest-ok-too": "ok", "envtest-bad": "broken"}
    usage = CliRunner().invoke(cli, ["env", "create"])
    assert usage.exit_code == 2 and "--all" in usage.output
    again = CliRunner().invoke(cli, ["env", "create", "--all"])  # the ok ones are kept, the broken one is rebuilt
    assert "envtest-ok already built and ok" in again.output and "1 of 3 environments failed: envtest-bad" in again.output


def test_pip_stays_available_as_the_installer(wheels, cache, monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    card = medigan_host.get_card("envtest-ok")
    create_env(card, installer="pip")
    marker = json.loads((env_dir(card) / "medigan-env.json").read_text())
    assert marker["installer"] == "pip" and env_state(card) == "ok"


def test_package_sources_are_the_installers_own_settings(cache, monkeypatch):
    for name in ("UV_FIND_LINKS", "PIP_FIND_LINKS", "UV_INDEX_URL", "PIP_INDEX_URL", "UV_CACHE_DIR", "UV_LINK_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_FIND_LINKS", "/wheels/a /wheels/b")
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple")
    env = installer_environment()
    assert env["UV_FIND_LINKS"] == "/wheels/a,/wheels/b" and env["PIP_INDEX_URL"] == "http://127.0.0.1:9/simple"
    assert env["UV_CACHE_DIR"] == str(cache / "envs" / ".uv-cache") and env["UV_LINK_MODE"] == "hardlink"
    monkeypatch.setenv("UV_CACHE_DIR", "/elsewhere")
    assert installer_environment()["UV_CACHE_DIR"] == "/elsewhere"


def test_a_card_states_the_python_its_pins_support(wheels, cache, monkeypatch):
    card = medigan_host.get_card("envtest-ok")
    monkeypatch.setitem(card.extra["environment"], "python", "<3.0")
    with pytest.raises(medigan_host.MediganUsageError, match=r"support Python <3.0, and medigan runs on 3\."):
        create_env(card)
    assert not env_dir(card).exists()


def test_every_original_card_lists_the_modules_of_its_requirements_and_its_python():
    from medigan_plugin_original.plugin import CARDS

    assert len(CARDS) == 23
    for card in CARDS:
        spec = card["environment"]
        assert spec["imports"] and "torch" in spec["imports"] and spec["python"].startswith(">=3.10")
        running = ".".join(map(str, sys.version_info[:2]))
        assert running in ("3.10", "3.11", "3.12") or "<3.13" not in spec["python"]
        if any(r.split("=")[0] in ("torchvision", "grad-cam") for r in spec["requirements"]):
            assert "torchvision==0.16.2" in spec["overrides"] and "torch==2.13.0" in spec["overrides"]
            assert "0.16.2" in spec["notes"]
    by_id = {card["upstream_id"]: card["environment"] for card in CARDS}
    assert {"numpy<2", "setuptools<81"} <= set(by_id["00022_WGAN_CARDIAC_AGING"]["requirements"])
    assert "numpy<2" in by_id["00022_WGAN_CARDIAC_AGING"]["notes"] and "pkg_resources" in by_id["00020_PGGAN_CHEST_XRAY"]["notes"]
    assert os.environ.get("MEDIGAN_TRUST_REMOTE_CODE") in (None, "")
