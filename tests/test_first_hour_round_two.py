"""The first hour, round two: what a newcomer still tripped over, each checked (install forms, what is served where,
what is runnable here, messages that say the right thing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import REPO, card, run_cli

import medigan_host as mg
from medigan_host.cli import cli
from medigan_host.errors import FrameworkMissingError, OutputError
from medigan_host.frameworks import TORCH_CPU_INDEX


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MEDIGAN_PLUGINS"}
    env.update(extra)
    return env


# -- what exists elsewhere: the catalogue of known plugins ------------------------------------------------------------

def test_the_known_plugin_catalogue_is_current():
    """medigan_host/known_plugins.json lists what each plugin of this repository registers (regenerate it with
    `python tests/known_plugins_update.py`)."""
    done = subprocess.run([sys.executable, str(REPO / "tests" / "known_plugins_update.py"), "--check"],
                          capture_output=True, text=True, timeout=120, cwd=REPO, env=_env())
    assert done.returncode == 0, "known_plugins.json is out of date: run python tests/known_plugins_update.py\n" + done.stderr
    from medigan_host.known_plugins import known_plugins

    names = {p.distribution for p in known_plugins()}
    assert {f"{d.name}" for d in (REPO / "plugins").iterdir() if (d / "pyproject.toml").is_file()} == names


def test_an_unknown_id_names_the_plugins_that_serve_it(monkeypatch):
    result = run_cli("generate", "00001", "-n", "1", "-o", "never-written", env=_env(MEDIGAN_PLUGINS="phantoms"))
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "00001 is served by medigan-plugin-dcgan-mammo (native, as dcgan-mammo-calc-inbreast) and " \
           "medigan-plugin-original (original code, as original-00001-dcgan-mmg-calc-roi)" in result.stderr
    from medigan_host import known_plugins

    monkeypatch.setattr(known_plugins.KnownPlugin, "installed", property(lambda self: False))
    hint = known_plugins.unknown_model_hint("00001")
    assert re.search(r": pip install \S*medigan-plugin-dcgan-mammo$", hint), hint
    assert known_plugins.unknown_model_hint("no-such-model-anywhere") is None


def test_a_search_that_finds_nothing_installed_names_the_plugins_that_would(monkeypatch):
    env = _env(MEDIGAN_PLUGINS="phantoms")
    shown = run_cli("search", "chest", "x-ray", env=env)
    assert shown.returncode == 0
    line = next(line for line in shown.stdout.splitlines() if "medigan-plugin-original" in line)
    assert "original-00019-pggan-chest-xray" in line and "original-00020-pggan-chest-xray" in line
    found = json.loads(run_cli("search", "polyp", "--json", env=env).stdout)
    assert found["results"] == [] and [p["distribution"] for p in found["not_installed"]] == ["medigan-plugin-original"]
    assert found["not_installed"][0]["serves"] == "original code"
    histology = run_cli("search", "--modality", "histology", env=env).stdout
    assert "medigan-plugin-histology-dcgan" in histology and "medigan-plugin-cdcgan-histology" in histology


# -- installed is not runnable: list, load, plugins --------------------------------------------------------------------

TORCH_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({"id": "needs-three", "name": "n", "version": "1.0.0", "description": "d", "framework": "pytorch",
              "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT"}, "medigan_test_torchy:load")
'''


def test_list_marks_models_that_cannot_run_here_with_every_missing_package(site, host, monkeypatch):
    site.add("torchy", TORCH_PLUGIN)
    metadata = site.root / "medigan_test_torchy-0.1.0.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text() + "Requires-Dist: medigan-host>=0.1\nRequires-Dist: medigan-test-absent-a>=1\n"
                        "Provides-Extra: torch\nRequires-Dist: torch>=2.1; extra == \"torch\"\n"
                        "Requires-Dist: medigan-test-absent-b>=1; extra == \"torch\"\n"
                        "Provides-Extra: training\nRequires-Dist: medigan-test-not-for-running; extra == \"training\"\n")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    host()
    listed = CliRunner().invoke(cli, ["list"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if line.startswith("needs-three"))
    assert "pytorch *" in row and not any(line.startswith("ct-head-phantom") and "*" in line for line in listed.output.splitlines())
    note = next((line for line in listed.output.splitlines() if "needs-three need" in line), listed.output[-600:])
    assert "torch, medigan-test-absent-a, medigan-test-absent-b" in note and f"--index-url {TORCH_CPU_INDEX}" in note
    assert "not-for-running" not in note
    as_json = json.loads(CliRunner().invoke(cli, ["list", "--json"]).output)
    assert next(m for m in as_json if m["id"] == "needs-three")["missing_packages"] == [
        "torch", "medigan-test-absent-a", "medigan-test-absent-b"]
    assert next(m for m in as_json if m["id"] == "ct-head-phantom")["missing_packages"] == []
    with pytest.raises(FrameworkMissingError) as missing:  # all three in one message, not one per attempt
        mg.load_model("needs-three", device="cpu")
    assert "torch, medigan-test-absent-a, medigan-test-absent-b" in str(missing.value)


RUNNER_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    pass  # a runner: registers no model of its own, runs the cards that name its loader

def load(card, device):
    raise NotImplementedError
'''
USER_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({"id": "run-by-runner", "name": "n", "version": "1.0.0", "description": "d", "framework": "numpy",
              "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT"}, "medigan_test_runner:load")
'''


def test_plugins_counts_the_models_each_plugin_serves(site, host):
    site.add("runner", RUNNER_PLUGIN)
    site.add("cards", USER_PLUGIN)
    host()
    plugins = {p["name"]: p for p in json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)}
    assert plugins["runner"]["models"] == [] and plugins["runner"]["serves"] == ["run-by-runner"]
    assert plugins["cards"]["models"] == ["run-by-runner"] and plugins["cards"]["serves"] == []
    table = CliRunner().invoke(cli, ["plugins"]).output
    assert "SERVES" in table.splitlines()[0]
    assert re.search(r"^runner\s+medigan-test-runner\s+0\.1\.0\s+\S+\s+0\s+1\s*$", table, re.M), table


def test_torch_datasets_of_the_original_api_without_torch_name_the_install(monkeypatch):
    from medigan import Generators

    monkeypatch.setitem(sys.modules, "torch", None)
    for call in (lambda g: g.get_as_torch_dataloader(model_id="ct-head-phantom", num_samples=2),
                 lambda g: g.get_as_torch_dataset("ct-head-phantom", num_samples=2)):
        with pytest.raises(FrameworkMissingError) as missing:
            call(Generators())
        assert f"pip install torch --index-url {TORCH_CPU_INDEX}" in str(missing.value)


# -- images: Pillow, run folders ----------------------------------------------------------------------------------------

def test_pillow_is_a_base_dependency_of_the_host():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(req.lower().startswith("pillow") for req in project["dependencies"])


def test_list_images_reads_a_run_folder_as_the_command_line_does(tmp_path):
    from medigan_host.formats.readers import list_images, read_image

    mg.generate("ct-head-phantom", 3, tmp_path / "real", seed=2)  # images/ and masks/
    files = list_images(tmp_path / "real")
    assert [f.relative_to(tmp_path / "real").as_posix() for f in files] == [f"images/00000{i}.png" for i in range(3)]
    assert read_image(files[0]).shape == (256, 256, 1)
    assert list_images(tmp_path / "real" / "images") == files  # the images/ folder itself, as before


# -- messages -----------------------------------------------------------------------------------------------------------

def test_a_closed_pipe_ends_the_command_quietly():
    """`medigan info X | head -2`: the reader left; no 'cannot use: Broken pipe' and exit 0."""
    process = subprocess.Popen([sys.executable, "-m", "medigan_host", "list"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=_env())
    process.stdout.close()  # the reader is gone before anything is written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0 and stderr == "", stderr


def test_resuming_another_models_run_says_whose_run_it_is(tmp_path):
    mg.generate("ct-head-phantom", 3, tmp_path / "out", seed=1)
    result = run_cli("generate", "mammo-breast-phantom", "-n", "1", "-o", str(tmp_path / "out"), "--resume")
    assert result.returncode == 2 and "holds a run of model 'ct-head-phantom', not 'mammo-breast-phantom'" in result.stderr
    assert "fewer samples" not in result.stderr and "--overwrite" in result.stderr


def test_python_callers_are_told_the_python_arguments_and_the_cli_its_flags(tmp_path):
    mg.generate("ct-head-phantom", 2, tmp_path / "out")
    with pytest.raises(OutputError) as refused:
        mg.generate("ct-head-phantom", 2, tmp_path / "out")
    assert "resume=True" in str(refused.value) and "overwrite=True" in str(refused.value)
    assert "--resume" not in str(refused.value) and "--overwrite" not in str(refused.value)
    result = run_cli("generate", "ct-head-phantom", "-n", "2", "-o", str(tmp_path / "out"))
    assert result.returncode == 2 and "--resume" in result.stderr and "resume=True" not in result.stderr


def test_a_gpu_asked_for_a_numpy_model_is_not_ignored_silently(tmp_path):
    result = run_cli("generate", "ct-head-phantom", "-n", "1", "-o", str(tmp_path / "out"), "--device", "cuda")
    assert result.returncode == 0, result.stderr
    assert "warning: model 'ct-head-phantom' is a NumPy model and runs on the CPU; device 'cuda' does not apply" in result.stderr
    quiet = run_cli("generate", "ct-head-phantom", "-n", "1", "-o", str(tmp_path / "cpu"), "--device", "cpu")
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


WEIGHTED_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({"id": "far-weights", "name": "n", "version": "1.0.0", "description": "d", "framework": "numpy",
              "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT",
              "weights": [{"url": "http://127.0.0.1:9/g.bin", "filename": "g.bin", "sha256": "0" * 64}]},
             "medigan_test_far:load")
'''


def test_fetch_says_error_like_every_command_and_the_network_cause_in_a_few_words(site, tmp_path):
    site.add("far", WEIGHTED_PLUGIN)
    result = run_cli("fetch", "far-weights", env=site.env(MEDIGAN_CACHE_DIR=str(tmp_path / "cache")))
    assert result.returncode == 1 and result.stderr.startswith("Error: model 'far-weights'"), result.stderr
    assert "the connection was refused" in result.stderr and "HTTPConnectionPool" not in result.stderr
    assert result.stderr.index("Check the network") < 300


def test_network_reasons_are_short():
    import requests
    import urllib3

    from medigan_host.weights import network_reason

    pool = urllib3.HTTPConnectionPool("zenodo.org", 443)
    resolve = urllib3.exceptions.NameResolutionError("zenodo.org", None, OSError("[Errno -3] Temporary failure in name resolution"))
    wrapped = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/api/records/1", resolve))
    assert network_reason(wrapped) == "the server's name could not be resolved (no network, or no DNS)"
    assert len(network_reason(RuntimeError("x" * 2000))) < 200


def test_check_lines_stay_readable():
    from medigan_host.cli.output import CHECK_WIDTH, check_lines
    from medigan_host.devkit.contract import CheckResult

    long = "model 'x': could not read record 1 from https://zenodo.org/api/records/1: " + "word " * 150
    failed = check_lines(CheckResult("loader-builds", "x", False, long, hint="place the file by hand " * 5))
    assert len(failed) > 3 and all(len(line) <= CHECK_WIDTH + 10 for line in failed)
    assert failed[0].startswith("FAIL  x  loader-builds: model 'x'") and any("hint: place" in line for line in failed)
    passed = check_lines(CheckResult("ids-unique", "p", True, ", ".join(f"model-{i:03d}" for i in range(80))))
    assert len(passed) == 1 and len(passed[0]) <= CHECK_WIDTH and passed[0].endswith("…")
    output = run_cli("check", "phantoms", timeout=300).stdout
    assert max(len(line) for line in output.splitlines()) <= CHECK_WIDTH + 10


# -- ranking: the same reference set declared the same way -------------------------------------------------------------

def test_a_ranking_compares_reference_sets_declared_the_same_way():
    from medigan_host.cards import ModelCard
    from medigan_host.catalog.ranking import rank_entries
    from medigan_host.registry import ModelEntry

    def entry(model_id: str, reference: str) -> ModelEntry:
        fid = {"value": 10.0 + len(model_id), "reference": reference, "extractor": "inception-v3-imagenet", "n": 500}
        return ModelEntry(ModelCard.from_dict(card(model_id, metrics={"fid": fid})), "x:y", "p")

    same = rank_entries([entry("a", "500 held-out crops of ihc.png"), entry("bb", "500  Held-out crops of ihc.png.")], "fid")
    assert not [n for n in same.notes if "reference sets" in n]
    other = rank_entries([entry("a", "500 held-out crops of ihc.png"), entry("bb", "500 training crops")], "fid")
    note = next(n for n in other.notes if "reference sets" in n)
    assert "500 held-out crops of ihc.png: a" in note and "500 training crops: bb" in note
    many = rank_entries([entry(f"m{i}", "set one") for i in range(6)] + [entry("z", "set two")], "fid")
    assert "and 3 more" in next(n for n in many.notes if "reference sets" in n)


# -- plugin authors: the project medigan new creates, and how it installs the host -------------------------------------

@pytest.mark.onnx  # the nox onnx session has onnx and cookiecutter: the variant that imports its package while made
def test_new_leaves_no_bytecode_in_the_project(tmp_path):
    pytest.importorskip("cookiecutter")
    pytest.importorskip("onnx")  # the onnx variant imports its package to build the placeholder network
    env = {k: v for k, v in _env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = run_cli("new", "--no-input", "--framework", "onnx", "--set", "plugin_name=nobytes", "-o", str(tmp_path), env=env,
                     timeout=300)
    assert result.returncode == 0, result.stderr
    assert not list((tmp_path / "medigan-plugin-nobytes").rglob("__pycache__"))


def test_the_template_ci_installs_the_host_first_the_way_it_is_told(tmp_path):
    pytest.importorskip("cookiecutter")
    wheels = "--find-links https://lab.example.org/wheels/ medigan-host"
    result = run_cli("new", "--no-input", "--framework", "numpy", "--set", "plugin_name=hosted", "--set",
                     f"host_install={wheels}", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "medigan-plugin-hosted"
    ci = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert ci.index(f"run: pip install {wheels}") < ci.index('run: pip install -e ".[test]"')
    readme = (project / "README.md").read_text()
    assert f"pip install {wheels}" in readme and "python3 -m nox -s wheels" in readme
    default = run_cli("new", "--no-input", "--framework", "numpy", "--set", "plugin_name=plain", "-o", str(tmp_path))
    assert default.returncode == 0 and "pip install medigan-host\n" in (
        tmp_path / "medigan-plugin-plain" / ".github" / "workflows" / "ci.yml").read_text()


def test_the_readme_installs_in_forms_that_work_today():
    readme = (REPO / "README.md").read_text()
    use = readme[readme.index("## Use"):readme.index("medigan list ")]
    assert "pip install . ./plugins/medigan-plugin-phantoms" in use and "pip install medigan-host" not in use
    install = readme[readme.index("### Install"):readme.index("Scripts written for the original")]
    for form in ("python3 -m nox -s wheels", "pip install --find-links wheelhouse/ medigan-host medigan-plugin-phantoms",
                 "git+https://", "--extra-index-url", "PyPI, once published"):
        assert form in install, form
    import ast

    tree = ast.parse((REPO / "noxfile.py").read_text())
    sessions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                and any("session" in ast.unparse(d) for d in node.decorator_list)}
    default = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                   and ast.unparse(node.targets[0]) == "nox.options.sessions")
    assert "wheels" in sessions and "wheels" not in default  # built when named: `python3 -m nox -s wheels`
    assert "/wheelhouse/" in (REPO / ".gitignore").read_text().splitlines()
