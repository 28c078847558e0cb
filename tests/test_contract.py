"""`medigan check` and medigan_host.devkit.testing: each way a plugin can break the contract is caught, with a hint."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from conftest import run_cli

from medigan_host import MediganUsageError
from medigan_host.devkit.contract import MODEL_CHECKS, PLUGIN_CHECKS, all_passed, resolve_target, run_checks

#: A plugin with one 8x8 model whose generator's behaviour is set per test: {flaw} picks the flaw.
FLAWED_PLUGIN = '''
import numpy as np
from medigan_host import hookimpl, latents

FLAW = {flaw!r}
CARD = {{"id": "flawed-model", "name": "flawed", "version": "1.0.0", "description": "A model for the contract tests.",
         "framework": "numpy", "modality": "ct", "anatomy": "head", "architecture": "sigmoid of noise",
         "dataset": "none", "image_size": [8, 8], "channels": 1, "license": "MIT",
         "conditions": {{"lesion": ["absent", "present"]}}}}
CARD.update({card_extra})

class Gen:
    def generate(self, seeds, *, condition=None, inputs=None):
        z = latents(seeds, 64).reshape(len(seeds), 8, 8, 1)
        if FLAW == "global-rng":
            z = np.random.standard_normal(z.shape)
        if FLAW == "batch-norm":
            z = z - z.mean(axis=0, keepdims=True)
        if FLAW == "refuses-present" and condition and condition.get("lesion") == "present":
            raise ValueError("lesion=present is not implemented")
        if FLAW != "ignores-condition" and condition and condition.get("lesion") == "present":
            z = z + 2.0
        images = (1 / (1 + np.exp(-z))).astype(np.float64 if FLAW == "float64" else np.float32)
        return {{"images": images}}

def load(card, device):
    return Gen()

@hookimpl
def medigan_register_models(register):
    {heavy}
    register(CARD, {loader})
'''


def _add(site, flaw: str = "", *, card_extra: str = "{}", heavy: str = "pass", loader: str = "load") -> None:
    site.add("flawed", FLAWED_PLUGIN.format(flaw=flaw, card_extra=card_extra, heavy=heavy, loader=loader))


def _by_name(results) -> dict[str, object]:
    return {r.name: r for r in results}


def test_phantoms_pass_every_check():
    results = run_checks("ct-head-phantom")
    assert [(r.subject, r.name) for r in results] == [("phantoms", n) for n in PLUGIN_CHECKS] + \
        [("ct-head-phantom", n) for n in MODEL_CHECKS]
    assert all_passed(results), [r for r in results if not r.passed]


def test_a_sound_plugin_passes(site, host):
    _add(site)
    host()
    results = run_checks("flawed")
    assert all_passed(results), [r for r in results if not r.passed]
    assert "lesion: absent, present" in _by_name(results)["conditions"].detail


@pytest.mark.parametrize(("flaw", "check", "says"), [
    ("global-rng", "seeds-deterministic", "twice gave different samples"),
    ("batch-norm", "batch-invariant", "differ from the same seeds one at a time"),
    ("ignores-condition", "conditions", "condition 'lesion' has no effect"),
    ("refuses-present", "conditions", "lesion='present' is declared on the card but failed"),
    ("float64", "output-matches-card", "dtype float64"),
])
def test_each_flaw_fails_its_check_with_a_hint(site, host, flaw, check, says):
    _add(site, flaw)
    host()
    results = _by_name(run_checks("flawed-model"))
    failed = [name for name, r in results.items() if not r.passed and not r.skipped]
    assert failed[:1] == [check], failed
    assert says in results[check].detail and results[check].hint
    if check == "output-matches-card":
        assert results["batch-invariant"].skipped and results["conditions"].skipped


def test_heavy_import_at_registration_is_caught_in_a_fresh_process(site, host):
    (site.root / "tensorflow.py").write_text("")  # a stand-in that shows up in sys.modules once imported
    _add(site, heavy="import tensorflow")
    host()
    result = _by_name(run_checks("flawed"))["registration-is-light"]
    assert not result.passed and "imported tensorflow" in result.detail and "inside the loader" in result.hint


def test_invalid_card_and_clashing_id(site, host):
    _add(site, card_extra='{"channels": 0}')
    site.add("clash", "from medigan_host import hookimpl\nfrom medigan_test_flawed import CARD, load\n"
                      "@hookimpl\ndef medigan_register_models(register):\n"
                      "    register({**CARD, 'id': 'ct-head-phantom', 'channels': 1}, load)\n")
    with pytest.warns(UserWarning):
        host()
        flawed, clash = _by_name(run_checks("flawed")), _by_name(run_checks("clash"))
    assert not flawed["cards-valid"].passed and "'channels'" in flawed["cards-valid"].detail
    assert not clash["ids-unique"].passed and "also registered by plugin 'phantoms'" in clash["ids-unique"].detail


def test_missing_framework_fails_the_loader_and_skips_the_rest(site, host):
    _add(site, card_extra='{"framework": "jax"}')
    host()
    results = _by_name(run_checks("flawed-model"))
    if not results["loader-builds"].passed:
        assert "needs jax" in results["loader-builds"].detail
        assert all(results[n].skipped for n in ("output-matches-card", "batch-invariant", "conditions"))


def test_incomplete_card(site, host):
    _add(site, card_extra='{"anatomy": "", "dataset": ""}')
    host()
    result = _by_name(run_checks("flawed-model"))["card-complete"]
    assert not result.passed and "anatomy, dataset" in result.detail


def test_weights_files_are_verified(site, host, tmp_path):
    weights = tmp_path / "g.bin"
    weights.write_bytes(b"weights")
    good = hashlib.sha256(b"weights").hexdigest()
    _add(site, card_extra=json.dumps({"weights": {"url": weights.as_uri(), "sha256": good, "size": 7}}))
    host()
    assert _by_name(run_checks("flawed-model"))["weights-verifiable"].passed
    weights.write_bytes(b"tampered")
    result = _by_name(run_checks("flawed-model"))["weights-verifiable"]
    assert not result.passed and "sha256" in result.detail


def test_targets(site, host, tmp_path):
    _add(site)
    host()
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "medigan-test-flawed"\n'
                                            '[project.entry-points."medigan.plugins"]\nflawed = "medigan_test_flawed"\n')
    by_folder = resolve_target(project)
    assert [p.name for p in by_folder.plugins] == ["flawed"] and [m.id for m in by_folder.models] == ["flawed-model"]
    assert [m.id for m in resolve_target("medigan-test-flawed").models] == ["flawed-model"]
    (project / "pyproject.toml").write_text('[project]\nname = "medigan-plugin-elsewhere"\n'
                                            '[project.entry-points."medigan.plugins"]\nelsewhere = "x.plugin"\n')
    with pytest.raises(MediganUsageError, match="not installed in this Python.*pip install -e"):
        resolve_target(project)
    with pytest.raises(MediganUsageError, match="did you mean 'ct-head-phantom'"):
        resolve_target("ct-head-phantm")


def test_cli_exit_statuses(site):
    _add(site, "batch-norm")
    env = site.env()
    ok = run_cli("check", "ct-head-phantom", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS  ct-head-phantom  batch-invariant" in ok.stdout and "0 failed" in ok.stdout
    bad = run_cli("check", "flawed", env=env)
    assert bad.returncode == 1 and "FAIL  flawed-model  batch-invariant" in bad.stdout and "hint: " in bad.stdout
    unknown = run_cli("check", "no-such-thing", env=env)
    assert unknown.returncode == 2 and "not a plugin folder" in unknown.stderr and "Traceback" not in unknown.stderr


def test_pytest_plugin_runs_one_test_per_check(site, tmp_path):
    _add(site, "batch-norm")
    tests = tmp_path / "plugin_tests"
    tests.mkdir()
    (tests / "test_contract.py").write_text('from medigan_host.devkit.testing import contract_tests\n\n'
                                            'test_contract = contract_tests("flawed-model")\n')
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                          capture_output=True, text=True, env=site.env(), cwd=tmp_path, timeout=120)
    total = len(PLUGIN_CHECKS) + len(MODEL_CHECKS)
    assert f"1 failed, {total - 1} passed" in done.stdout, done.stdout
    assert "flawed-model/batch-invariant" in done.stdout and "hint:" in done.stdout
