"""The original's defaults: shipped sample inputs, num_samples as the first N inputs, install_dependencies and
--create-env (only with trust), one error naming every missing step, `medigan check` on remote-code models."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from fakes import SHIPPED, shipped_inputs
from PIL import Image

import medigan_host
from medigan_host import get_card
from medigan_host.cli import cli

I2I = ["00003_CYCLEGAN_MMG_DENSITY_FULL", "00013_CYCLEGAN_MMG_DENSITY_OPTIMAM_MLO", "00014_CYCLEGAN_MMG_DENSITY_OPTIMAM_CC",
       "00015_CYCLEGAN_MMG_DENSITY_CSAW_MLO", "00016_CYCLEGAN_MMG_DENSITY_CSAW_CC", "00021_CYCLEGAN_BRAIN_MRI_T1_T2",
       "00023_PIX2PIXHD_BREAST_DCEMRI"]


def _inverted(card, k: int) -> np.ndarray:
    return 255 - shipped_inputs(card)[k]


@pytest.mark.parametrize("model_id", I2I)
def test_the_original_readme_call_runs_on_the_inputs_shipped_in_the_zip(model_id, serve, shared_env):
    card = get_card(model_id)
    assert card.extra["default_inputs"] is True
    serve(card)
    # the original README: Generators().generate(model_id=..., num_samples=1), no inputs given
    samples = medigan_host.Generators().generate(model_id=model_id, num_samples=1, save_images=False,
                                                 trust_remote_code=True)
    assert len(samples) == 1 and np.array_equal(samples[0][..., 0], _inverted(card, 0))


def test_num_samples_means_the_first_n_inputs_from_python_and_the_command_line(serve, shared_env, tmp_path):
    card = get_card("00021_CYCLEGAN_BRAIN_MRI_T1_T2")
    serve(card)
    given = shipped_inputs(card)[..., None][::-1].copy()  # three inputs, in another order than the shipped ones
    np.save(tmp_path / "t1.npy", given)
    samples = medigan_host.Generators().generate("00021_CYCLEGAN_BRAIN_MRI_T1_T2", num_samples=2, save_images=False,
                                                 inputs=given, trust_remote_code=True)
    assert len(samples) == 2 and np.array_equal(samples[1][..., 0], 255 - given[1, ..., 0])
    run = CliRunner().invoke(cli, ["generate", "00021", "-n", "2", "--inputs", str(tmp_path / "t1.npy"), "-o",
                                   str(tmp_path / "cli"), "--trust-remote-code"])
    assert run.exit_code == 0, run.output
    written = sorted((tmp_path / "cli" / "images").iterdir())
    assert len(written) == 2 and np.array_equal(np.asarray(Image.open(written[1])), 255 - given[1, ..., 0])


def test_the_command_line_uses_the_shipped_inputs_when_none_are_given(serve, shared_env, tmp_path):
    card = get_card("00003_CYCLEGAN_MMG_DENSITY_FULL")
    serve(card)
    run = CliRunner().invoke(cli, ["generate", "00003", "-n", "5", "-o", str(tmp_path / "o"), "--trust-remote-code"])
    assert run.exit_code == 0, run.output
    written = sorted((tmp_path / "o" / "images").iterdir())
    assert len(written) == SHIPPED  # all it ships: fewer than the five asked for, as the original's loop over them
    assert np.array_equal(np.asarray(Image.open(written[2])), _inverted(card, 2))
    model = medigan_host.load_model("00003", trust_remote_code=True)
    assert model.generate([7]).images.shape == (1, *card.image_size, 1)  # direct calls take the first inputs too


def test_a_package_without_its_sample_inputs_asks_for_inputs(serve, shared_env, tmp_path):
    from fakes import package_zip

    card = get_card("00021_CYCLEGAN_BRAIN_MRI_T1_T2")
    serve(card, zips={card.id: package_zip(card, samples=False)})
    run = CliRunner().invoke(cli, ["generate", "00021", "-n", "1", "-o", str(tmp_path / "o"), "--trust-remote-code"])
    assert run.exit_code != 0 and "--inputs" in run.output and "inputs/T1" in run.output


def test_one_error_names_every_missing_step(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    run = CliRunner().invoke(cli, ["generate", "00019", "-n", "1", "-o", str(tmp_path / "o")])
    assert run.exit_code == 2
    text = " ".join(run.output.split())
    assert "--trust-remote-code" in text
    assert "build its environment (missing): `medigan env create 00019_PGGAN_CHEST_XRAY`" in text
    assert "medigan cache place original-00019-pggan-chest-xray" in text
    # trusted, the environment and the weights are still named together
    trusted = CliRunner().invoke(cli, ["generate", "00019", "-n", "1", "-o", str(tmp_path / "o"), "--trust-remote-code"])
    text = " ".join(trusted.output.split())
    assert trusted.exit_code != 0 and "medigan env create 00019_PGGAN_CHEST_XRAY" in text and "medigan cache place" in text


def test_install_dependencies_builds_the_environment_only_with_trust(serve, cache, monkeypatch, test_env_python):
    from medigan_plugin_original import runner

    import medigan_host.environments as environments

    card = get_card("00017_DCGAN_XRAY_LUNG_NODULES")
    serve(card)
    built = []

    def fake_create(card_, **kwargs):  # the real build is tested in test_environments.py
        built.append((card_.id, kwargs.get("force")))
        monkeypatch.setattr(runner, "require_env", lambda c: test_env_python)
        monkeypatch.setattr(environments, "env_state", lambda c: "ok")

    monkeypatch.setattr(environments, "create_env", fake_create)
    generators = medigan_host.Generators()
    with pytest.raises(medigan_host.MediganUsageError) as refused:
        generators.generate("00017_DCGAN_XRAY_LUNG_NODULES", num_samples=1, save_images=False, install_dependencies=True)
    assert "(1) trust its code" in str(refused.value) and "(2) build its environment" in str(refused.value)
    assert built == []
    samples = generators.generate("00017_DCGAN_XRAY_LUNG_NODULES", num_samples=2, save_images=False,
                                  install_dependencies=True, trust_remote_code=True)
    assert built == [(card.id, False)] and len(samples) == 2


def test_generate_create_env_builds_first_only_with_trust(serve, cache, monkeypatch, test_env_python, tmp_path):
    from medigan_plugin_original import runner

    import medigan_host.environments as environments

    card = get_card("00018_WGANGP_XRAY_LUNG_NODULES")
    serve(card)
    built = []

    def fake_create(card_, **kwargs):
        built.append(card_.id)
        monkeypatch.setattr(runner, "require_env", lambda c: test_env_python)

    monkeypatch.setattr(environments, "create_env", fake_create)
    refused = CliRunner().invoke(cli, ["generate", "00018", "-n", "1", "-o", str(tmp_path / "a"), "--create-env"])
    assert refused.exit_code == 2 and "--trust-remote-code" in refused.output and built == []
    run = CliRunner().invoke(cli, ["generate", "00018", "-n", "2", "-o", str(tmp_path / "b"), "--create-env",
                                   "--trust-remote-code"])
    assert run.exit_code == 0, run.output
    assert built == [card.id] and len(list((tmp_path / "b" / "images").iterdir())) == 2


def test_check_skips_remote_code_models_with_the_reason_unless_trusted(serve, shared_env):
    card = get_card("original-00018-wgangp-xray-lung-nodules")
    serve(card)
    import json

    skipped = CliRunner().invoke(cli, ["check", card.id, "--json"])
    assert skipped.exit_code == 0, skipped.output
    results = {r["name"]: r for r in json.loads(skipped.output) if r["subject"] == card.id}
    assert not [r for r in results.values() if r["status"] == "FAIL"] and "fix the loader" not in skipped.output
    for name in ("loader-builds", "output-matches-card", "seeds-deterministic", "batch-invariant", "conditions"):
        assert results[name]["status"] == "SKIP"
        assert "add --trust-remote-code to run the full contract" in results[name]["detail"]
    full = CliRunner().invoke(cli, ["check", card.id, "--trust-remote-code", "--json"])
    assert full.exit_code == 0, full.output
    results = {r["name"]: r["status"] for r in json.loads(full.output) if r["subject"] == card.id}
    for name in ("loader-builds", "output-matches-card", "seeds-deterministic", "batch-invariant"):
        assert results[name] == "PASS"


def _env_seeing_this_python(card) -> None:
    """The model's environment as `medigan env create --system-site-packages` leaves it, without installing anything
    (its requirements are this Python's numpy, tqdm and torch)."""
    import json
    import subprocess
    import sys

    from medigan_host.environments import MARKER, _inherit_parent_site, _python_in, _recipe, env_dir

    folder = env_dir(card)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(folder)], check=True)
    _inherit_parent_site(_python_in(folder))
    (folder / MARKER).write_text(json.dumps({"model": card.id, **_recipe(card)}))


@pytest.mark.torch
def test_env_check_imports_the_package_and_checks_its_function_when_trusted(serve, cache):
    pytest.importorskip("torch")
    pytest.importorskip("tqdm")
    from fakes import package_source, package_zip

    from medigan_host.weights import fetch_weights

    card = get_card("00017_DCGAN_XRAY_LUNG_NODULES")
    _env_seeing_this_python(card)
    fine = CliRunner().invoke(cli, ["env", "check", "00017"])
    assert fine.exit_code == 0, fine.output
    assert "torch 2.13.0" in fine.output and "package: skipped: the model's archive is not in the cache" in fine.output
    serve(card)
    fetch_weights(card)
    untrusted = CliRunner().invoke(cli, ["env", "check", "00017"])
    assert "package: skipped: importing the model's package runs its code; add --trust-remote-code" in untrusted.output
    trusted = CliRunner().invoke(cli, ["env", "check", "00017", "--trust-remote-code"])
    assert trusted.exit_code == 0, trusted.output
    assert "package: ok" in trusted.output and "environment of original-00017-dcgan-xray-lung-nodules: ok" in trusted.output
    # a package whose function does not take the card's arguments is not the model's package
    other = get_card("00018_WGANGP_XRAY_LUNG_NODULES")
    _env_seeing_this_python(other)
    wrong = package_source(other).replace("def generate(model_file, num_samples", "def generate(model_path, num_samples")
    serve(other, zips={other.id: package_zip(other, wrong.replace("np.load(model_file)", "np.load(model_path)"))})
    fetch_weights(other)
    refused = CliRunner().invoke(cli, ["env", "check", "00018", "--trust-remote-code"])
    assert refused.exit_code != 0 and "does not take model_file" in refused.output
