"""`medigan new`: the template renders a plugin that passes the contract; bad answers are refused before writing."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from medigan_host import MediganUsageError, ModelCard
from medigan_host.devkit.contract import all_passed, run_checks
from medigan_host.devkit.scaffold import card_from_answers, parse_condition_spec, parse_image_size, template_dir, template_variables

pytest.importorskip("cookiecutter")

OPTIONS = ["--set", "plugin_name=volumes", "--set", "image_size=8x16x16", "--set", "channels=2",
           "--set", "outputs=image+mask", "--set", "conditions=lesion=absent|present;density=a|b|c", "--set", "license=BSD-3-Clause"]


def _card(project: Path) -> dict:
    """The CARD literal of the rendered plugin module, read without importing it."""
    tree = ast.parse((next(project.glob("src/*/plugin.py"))).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "CARD")
    return ast.literal_eval(node.value)


def _install_as_plugin(site, project: Path, name: str) -> Path:
    """Make a rendered project importable and discoverable, as `pip install -e` would."""
    package = next(project.glob("src/*/plugin.py")).parent.name
    info = site.root / f"medigan_plugin_{name}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: medigan-plugin-{name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[medigan.plugins]\n{name} = {package}.plugin\n")
    return project / "src"


def test_answers_are_parsed_and_checked():
    assert parse_image_size("64x64") == [64, 64] and parse_image_size("16 x 32 x 32") == [16, 32, 32]
    assert parse_condition_spec("lesion=absent|present; density=a|b") == {"lesion": ["absent", "present"],
                                                                          "density": ["a", "b"]}
    assert parse_condition_spec("") == {}
    for bad in ("64", "64x64x64x64", "0x64", "axb"):
        with pytest.raises(MediganUsageError, match="image_size"):
            parse_image_size(bad)
    for bad in ("lesion=absent", "Lesion=a|b", "lesion", "a=x|y;a=x|z"):
        with pytest.raises(MediganUsageError, match="condition"):
            parse_condition_spec(bad)
    answers = {key: value for key, value in template_variables(template_dir()).items() if not isinstance(value, list)}
    answers.update(framework="numpy", model_id="my-gan", architecture="MLP", outputs="image", license="MIT")
    card = ModelCard.from_dict(card_from_answers(answers))
    assert card.id == "my-gan" and "untrained" in card.tags and "UNTRAINED" in card.description
    with pytest.raises(MediganUsageError, match="invalid model card.*'id'"):
        card_from_answers({**answers, "model_id": "My GAN"})


def test_new_renders_a_plugin_that_passes_the_contract(site, host, tmp_path, monkeypatch):
    result = run_cli("new", "--no-input", "--framework", "numpy", "-o", str(tmp_path / "out"), *OPTIONS)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "out" / "medigan-plugin-volumes"
    assert "medigan check" in result.stdout and str(project) in result.stdout
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert {"pyproject.toml", "README.md", "LICENSE", ".github/workflows/ci.yml", "tests/test_contract.py",
            "src/medigan_plugin_volumes/plugin.py", "src/medigan_plugin_volumes/generator.py"} <= files
    assert not any("_frameworks" in f or f.startswith("scripts/") for f in files)
    card = _card(project)
    assert card["image_size"] == [8, 16, 16] and card["channels"] == 2 and card["outputs"] == "image+mask"
    assert card["conditions"] == {"lesion": ["absent", "present"], "density": ["a", "b", "c"]}
    assert "BSD 3-Clause License" in (project / "LICENSE").read_text()
    assert '"medigan.plugins"]\nvolumes = "medigan_plugin_volumes.plugin"' in (project / "pyproject.toml").read_text()
    assert "${{ matrix.python }}" in (project / ".github/workflows/ci.yml").read_text()

    monkeypatch.syspath_prepend(str(_install_as_plugin(site, project, "volumes")))
    host()
    results = run_checks(project)
    assert all_passed(results), [r for r in results if not r.passed]
    env = site.env(PYTHONPATH=os.pathsep.join([str(project / "src"), str(site.root)]))
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project,
                           capture_output=True, text=True, env=env, timeout=300)
    assert tests.returncode == 0 and "12 passed in" in tests.stdout, tests.stdout + tests.stderr
    for name in [m for m in sys.modules if m.startswith("medigan_plugin_volumes")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_bad_answers_write_nothing(tmp_path):
    out = tmp_path / "out"
    refused = run_cli("new", "--no-input", "-o", str(out), "--set", "model_id=Not A Slug")
    assert refused.returncode == 2 and "'id'" in refused.stderr and "nothing was written" in refused.stderr
    assert not out.exists()  # not even the -o folder
    unknown = run_cli("new", "--no-input", "-o", str(out), "--set", "colour=blue")
    assert unknown.returncode == 2 and "no such question" in unknown.stderr and "model_id" in unknown.stderr
    malformed = run_cli("new", "--no-input", "-o", str(out), "--set", "image_size")
    assert malformed.returncode == 2 and "key=value" in malformed.stderr


def test_existing_project_is_never_overwritten(tmp_path):
    project = tmp_path / "medigan-plugin-mymodels"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    result = run_cli("new", "--no-input", "--framework", "numpy", "-o", str(tmp_path))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert [p.name for p in project.iterdir()] == ["notes.txt"] and (project / "notes.txt").read_text() == "mine"
