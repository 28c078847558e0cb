"""Running the original code: every original model's run path against a fake record, seeds, outputs, failures."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from fakes import WEIGHT, package_source, package_zip
from PIL import Image

import medigan_host
from medigan_host import PluginError, get_card, list_models
from medigan_host.environments import EnvironmentMissingError

ORIGINAL = [card.id for card in list_models() if card.extra.get("remote_code")]


def _inputs(card, n: int) -> np.ndarray | None:
    if not card.needs_inputs:
        return None
    h, w = card.image_size
    return (np.arange(n * h * w).reshape(n, h, w, 1) % 251).astype(np.uint8)


def _condition(card):
    return {name: values[-1] for name, values in card.conditions.items()} or None


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.mark.parametrize("model_id", ORIGINAL)
def test_every_original_model_runs_its_own_code_from_its_record(model_id, serve, shared_env, tmp_path):
    card = get_card(model_id)
    serve(card)
    out = tmp_path / "out"
    result = medigan_host.generate(model_id, 2, out, seed=5, condition=_condition(card), inputs=_inputs(card, 2),
                                   trust_remote_code=True)
    assert result.generated == 2
    images = sorted((out / "images").iterdir())
    assert len(images) == 2
    pixels = _png(images[0])
    assert pixels.shape[:2] == tuple(card.image_size)
    if card.has_masks:
        assert len(list((out / "masks").iterdir())) == 2
    if card.needs_inputs:  # the stand-in inverts its input: the input reached the original through input_path
        expected = 255 - _inputs(card, 2)[0, ..., 0]
        assert np.array_equal(pixels if pixels.ndim == 2 else pixels[..., 0], expected)


def test_noise_model_is_deterministic_across_batch_sizes_and_seeds_each_sample(serve, shared_env):
    card = get_card("00017_DCGAN_XRAY_LUNG_NODULES")
    serve(card)
    model = medigan_host.load_model(card.id, trust_remote_code=True)
    together = model.generate([11, 12, 13]).images
    alone = np.concatenate([model.generate([s]).images for s in (11, 12, 13)])
    assert np.array_equal(together, alone)
    assert not np.array_equal(together[0], together[1])
    assert together.dtype == np.uint8 and together.max() % WEIGHT == 0  # read its weights file through model_file
    rng = np.random.RandomState(12)  # the worker seeds numpy from the sample's seed, as documented
    assert np.array_equal(together[1, ..., 0], rng.randint(0, 256 // WEIGHT, size=(128, 128, 1))[..., 0].astype(np.uint8) * WEIGHT)


def test_latent_model_takes_whole_batches_of_host_latents_and_conditions(serve, shared_env):
    card = get_card("original-00012-c-dcgan-mmg-masses")  # 00012 itself resolves to a native plugin
    serve(card)
    model = medigan_host.load_model(card.id, trust_remote_code=True)
    assert model.latent_shape == (100,)
    benign = model.generate([1, 2, 3], condition={"malignancy": "benign"}).images
    split = np.concatenate([model.generate([1], condition={"malignancy": "benign"}).images,
                            model.generate([2, 3], condition={"malignancy": "benign"}).images])
    assert np.array_equal(benign, split)
    malignant = model.generate([1, 2, 3], condition={"malignancy": "malignant"}).images
    assert not np.array_equal(benign, malignant)
    z = model.latents_of([1])[0].reshape(-1)  # what medigan_host.latents gives, fed to the original's z
    grid = np.add.outer(np.arange(128), np.arange(128)) % 100
    plain = (z[grid] * 40 + 128).clip(0, 255).astype(np.uint8)
    assert np.array_equal(benign[0, ..., 0], (plain // 2 + 7).astype(np.uint8))  # benign is the original's 1


def test_mask_model_pngs_equal_what_the_original_saves(serve, shared_env, tmp_path):
    card = get_card("00010_FASTGAN_POLYP_PATCHES_W_MASKS")
    serve(card)
    medigan_host.generate(card.id, 1, tmp_path / "o", seed=3, trust_remote_code=True)
    image = _png(next((tmp_path / "o" / "images").iterdir()))
    mask = _png(next((tmp_path / "o" / "masks").iterdir()))
    assert image.shape == (256, 256, 3)
    assert np.array_equal(mask.reshape(256, 256), ((image[..., 0] > 128) * 255).astype(np.uint8))


def test_image_to_image_from_the_command_line(serve, shared_env, tmp_path, monkeypatch):
    card = get_card("00021_CYCLEGAN_BRAIN_MRI_T1_T2")
    serve(card)
    np.save(tmp_path / "t1.npy", _inputs(card, 3))
    from click.testing import CliRunner

    from medigan_host.cli import cli

    run = CliRunner().invoke(cli, ["generate", "00021", "--inputs", str(tmp_path / "t1.npy"), "-o", str(tmp_path / "t2"),
                                   "--trust-remote-code"])
    assert run.exit_code == 0, run.output
    assert len(list((tmp_path / "t2" / "images").iterdir())) == 3


def test_without_trust_it_refuses_naming_record_file_and_flag(cache, tmp_path):
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(cache)}
    env.pop("MEDIGAN_TRUST_REMOTE_CODE", None)
    done = subprocess.run([sys.executable, "-m", "medigan_host", "generate", "00019", "-n", "1", "-o", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert "--trust-remote-code" in done.stderr and "10.5281/zenodo.7047097" in done.stderr
    assert "00019_PGGAN_NODE21/__init__.py" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists() and not cache.exists()  # nothing written, nothing downloaded
    with pytest.raises(medigan_host.MediganUsageError, match="trust_remote_code=True"):
        medigan_host.load_model("00019")


def test_trust_from_the_environment_variable(serve, shared_env, monkeypatch):
    card = get_card("00018")
    serve(card)
    monkeypatch.setenv("MEDIGAN_TRUST_REMOTE_CODE", "1")
    assert medigan_host.load_model("00018").generate([0]).images.shape == (1, 128, 128, 1)


def test_a_missing_environment_names_the_command(serve, cache):
    card = get_card("00017")
    serve(card)
    with pytest.raises(EnvironmentMissingError, match="medigan env create 00017_DCGAN_XRAY_LUNG_NODULES"):
        medigan_host.load_model("00017", trust_remote_code=True)


def test_original_ids_resolve_and_native_plugins_win(cache):
    assert get_card("00019").id == get_card("00019_PGGAN_CHEST_XRAY").id == "original-00019-pggan-chest-xray"
    assert get_card("00003_CYCLEGAN_MMG_DENSITY_FULL").id == "original-00003-cyclegan-mmg-density-full"
    native = [c for c in list_models(upstream_id="00001_DCGAN_MMG_CALC_ROI") if not c.extra.get("remote_code")]
    if native:  # medigan-plugin-dcgan-mammo installed: its model answers to the original id
        assert get_card("00001").id == native[0].id
    assert get_card("original-00001-dcgan-mmg-calc-roi").extra["remote_code"] is True


def _failing(card, body: str) -> bytes:
    return package_zip(card, package_source(card, body))


@pytest.mark.parametrize(("body", "words"), [
    ("    raise RuntimeError('original blew up')\n", "original blew up"),
    ("    import sys\n    sys.exit(4)\n", "SystemExit: 4"),
    ("    import os\n    os._exit(7)\n", "exit status 7"),
])
def test_a_failing_worker_fails_the_run_with_its_stderr(body, words, serve, shared_env, tmp_path):
    card, other = get_card("00017"), get_card("00018")
    serve(card, other, zips={card.id: _failing(card, "    print('last words', flush=True)\n" + body)})
    with pytest.raises(PluginError, match=words) as caught:
        medigan_host.generate(card.id, 2, tmp_path / "x", trust_remote_code=True)
    assert "last words" in str(caught.value)  # the tail of its stderr (its prints went there too)
    result = medigan_host.generate(other.id, 1, tmp_path / "y", trust_remote_code=True)  # the host goes on
    assert result.generated == 1


def test_a_hanging_worker_is_stopped_after_the_timeout(serve, shared_env, tmp_path, monkeypatch):
    card = get_card("00017")
    serve(card, zips={card.id: _failing(card, "    import time\n    print('sleeping', flush=True)\n    time.sleep(600)\n")})
    monkeypatch.setenv("MEDIGAN_ORIGINAL_TIMEOUT", "5")
    monkeypatch.setenv("MEDIGAN_ORIGINAL_START_TIMEOUT", "120")  # importing the package and torch, on a loaded machine
    model = medigan_host.load_model(card.id, trust_remote_code=True)
    with pytest.raises(PluginError, match="did not answer within 5 s") as caught:
        model.generate([0])
    assert "sleeping" in str(caught.value)
    assert model.generator.worker.process.poll() is not None  # killed, not left behind


def test_a_zip_escaping_its_folder_is_refused(serve, shared_env):
    import zipfile

    card = get_card("00017")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("../evil.py", "print('escaped')")
        zipped.writestr(f"{card.extra['original']['package']}/__init__.py", "")
    serve(card, zips={card.id: buffer.getvalue()})
    with pytest.raises(PluginError, match="outside its folder"):
        medigan_host.load_model(card.id, trust_remote_code=True)


def _site_listing() -> list[str]:
    site = Path(sysconfig.get_paths()["purelib"])
    return sorted(str(p.relative_to(site)) for p in site.rglob("*") if "__pycache__" not in p.parts)


@pytest.mark.torch
def test_env_create_builds_offline_and_runs_without_touching_this_python(serve, cache, tmp_path):
    # 00018 pins numpy, tqdm and torch==2.13.0: with them in this Python, pip finds every requirement satisfied
    # through --system-site-packages and downloads nothing (without them it would fetch torch: skip instead); uv, the
    # default installer, looks at the environment's own packages only, so this offline build uses pip
    pytest.importorskip("torch")
    pytest.importorskip("tqdm")
    card = get_card("00018_WGANGP_XRAY_LUNG_NODULES")
    serve(card)
    before = _site_listing()
    env = {**os.environ}
    cli = [sys.executable, "-m", "medigan_host"]
    done = subprocess.run([*cli, "env", "create", "00018", "--system-site-packages", "--installer", "pip"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    listed = json.loads(subprocess.run([*cli, "env", "list", "--json"], capture_output=True, text=True, env=env).stdout)
    assert [e["model"] for e in listed] == [card.id] and listed[0]["requirements"] == card.extra["environment"]["requirements"]
    assert listed[0]["state"] == "ok" and listed[0]["check"]["versions"]["torch"].startswith("2.13.0")
    again = subprocess.run([*cli, "env", "create", "00018"], capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "--force" in again.stderr
    run = subprocess.run([*cli, "generate", "00018", "-n", "3", "--batch-size", "2", "-o", str(tmp_path / "o"),
                          "--trust-remote-code"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "o" / "images").iterdir())) == 3
    assert _site_listing() == before  # nothing was installed into the Python running medigan
    removed = subprocess.run([*cli, "env", "remove", "00018"], capture_output=True, text=True, env=env)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert not (cache / "envs" / card.id).exists()


def test_the_original_api_runs_an_original_model_by_its_full_id(serve, shared_env, tmp_path):
    card = get_card("00003_CYCLEGAN_MMG_DENSITY_FULL")
    serve(card)
    generators = medigan_host.Generators()
    inputs = _inputs(card, 2)
    with pytest.raises(medigan_host.MediganUsageError, match="trust"):
        generators.generate("00003_CYCLEGAN_MMG_DENSITY_FULL", save_images=False, inputs=inputs)
    samples = generators.generate("00003_CYCLEGAN_MMG_DENSITY_FULL", save_images=False, inputs=inputs,
                                  trust_remote_code=True)
    assert len(samples) == 2 and np.array_equal(samples[0][..., 0], 255 - inputs[0, ..., 0])
    generators.generate("00003_CYCLEGAN_MMG_DENSITY_FULL", output_path=str(tmp_path / "o"), inputs=inputs,
                        trust_remote_code=True)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["0.png", "1.png"]  # the original's layout


def test_the_original_api_passes_the_original_keyword_arguments(serve, shared_env, caplog):
    import logging

    card = get_card("00003_CYCLEGAN_MMG_DENSITY_FULL")
    serve(card)
    generators = medigan_host.Generators()
    inputs = _inputs(card, 2)
    with caplog.at_level(logging.WARNING, logger="medigan_host"):
        samples = generators.generate("00003_CYCLEGAN_MMG_DENSITY_FULL", save_images=False, inputs=inputs,
                                      trust_remote_code=True, translate_all_images=False, gpu_id=0, z=1)
    assert len(samples) == 2 and np.array_equal(samples[1][..., 0], 255 - inputs[1, ..., 0])
    assert "does not use the option(s) z;" in caplog.text  # the original function takes the others
    assert set(generators.get_model_executor("00003").options) == set(card.extra["original"]["custom_args"])
