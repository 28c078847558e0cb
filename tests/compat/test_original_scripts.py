"""Scripts written for the original library (its README snippets and one of its test files) run as they are,
in a fresh process with the stand-ins of the original models installed as a plugin."""

# ruff: noqa: F811 - test arguments name the fixtures imported from compat_fixtures
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from compat_fixtures import records, standin_site  # noqa: F401 - pytest fixtures, used as arguments

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def _run(args: list[str], site, tmp_path: Path) -> subprocess.CompletedProcess:
    env = site.env(MEDIGAN_PLUGINS="standins", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["readme_generate.py", "readme_search.py",
                                    pytest.param("readme_torch.py", marks=pytest.mark.torch)])
def test_script_runs_unchanged(standin_site, tmp_path, script):
    if script == "readme_torch.py":
        pytest.importorskip("torch")
    result = _run([str(SCRIPTS / script)], standin_site, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{script[:-3]} OK" in result.stdout


@pytest.mark.slow
def test_original_test_file_passes_unchanged(standin_site, tmp_path):
    result = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", str(SCRIPTS / "original_test_generators.py"),
                   "--rootdir", str(tmp_path)], standin_site, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


LIGHT_PROBE = '''
import json, sys
from medigan import Generators
from medigan.constants import CONFIG_FILE_KEY_EXECUTION
generators = Generators()
generators.config_manager.config_dict
generators.find_models_and_rank(["dcgan", "MMG"], are_keys_also_matched=True, metric="turing_test.AUC")
generators.get_models_by_key_value_pair("modality", "MMG")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "tensorflow", "onnxruntime", "jax"})))
'''


@pytest.mark.slow
def test_importing_searching_and_ranking_import_no_framework(standin_site, tmp_path):
    result = _run(["-c", LIGHT_PROBE], standin_site, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
