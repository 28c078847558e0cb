"""The trained histology models (64x64 DCGAN, 128x128 FastGAN-style): registration, the per-seed contract, stain
colours, and PyTorch = ONNX."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from medigan_plugin_histology_dcgan import plugin

import medigan_host

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
#: Mean and standard deviation of each RGB channel of scikit-image's ihc.png (the training image), in [0, 1].
IHC_MEAN_RGB = np.array([0.695, 0.627, 0.565])
IHC_STD_RGB = np.array([0.147, 0.196, 0.250])
#: (PyTorch card, ONNX card, files of both, image size) of each shipped model.
MODELS = [
    pytest.param(plugin.TORCH_ID, plugin.ONNX_ID, (plugin.SAFETENSORS, plugin.ONNX), 64, id="dcgan"),
    pytest.param(plugin.FASTGAN_TORCH_ID, plugin.FASTGAN_ONNX_ID, (plugin.FASTGAN_SAFETENSORS, plugin.FASTGAN_ONNX), 128,
                 id="fastgan"),
]


def test_both_cards_are_registered_without_heavy_imports():
    info = {p.name: p for p in medigan_host.list_plugins()}["histology_dcgan"]
    assert info.status == "ok", info.errors
    assert info.models == [plugin.TORCH_ID, plugin.ONNX_ID, plugin.FASTGAN_TORCH_ID, plugin.FASTGAN_ONNX_ID]
    probe = ("import sys, medigan_host\nmedigan_host.list_models()\nmedigan_host.get_card('histology-ihc-dcgan-onnx')\n"
             "print(sorted(m for m in ('torch', 'onnxruntime', 'tensorflow', 'safetensors') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "[]"


@pytest.mark.parametrize(("torch_id", "onnx_id", "files", "size"), MODELS)
def test_cards_record_the_shipped_files(torch_id, onnx_id, files, size):
    for card_id, entry in zip((torch_id, onnx_id), files, strict=True):
        card = medigan_host.get_card(card_id)
        (weights,) = card.weights
        path = PLUGIN_ROOT / "src" / plugin.PACKAGE / "weights" / entry["filename"]
        data = path.read_bytes()
        assert weights["sha256"] == hashlib.sha256(data).hexdigest() and weights["size"] == len(data)
        assert weights["url"] == f"package://{plugin.PACKAGE}/weights/{entry['filename']}"
        assert card.image_size == (size, size)
        fid = card.metric("fid")
        assert fid["n"] >= 100 and fid["value"] > 0 and fid["real_vs_real"] > 0
        # the FastGAN is measured on tiles kept out of training and selection; the older DCGAN on its held-out tiles
        assert ("test tiles" if size == 128 else "held-out") in fid["reference"]


@pytest.mark.onnx
@pytest.mark.parametrize(("torch_id", "onnx_id", "files", "size"), MODELS)
def test_onnx_model_follows_the_contract_and_the_stain_colours(torch_id, onnx_id, files, size):
    pytest.importorskip("onnxruntime")
    model = medigan_host.load_model(onnx_id, device="cpu")
    seeds = list(range(100, 164))
    images = model.generate(seeds).images
    assert images.shape == (64, size, size, 3) and images.dtype == np.float32
    one_by_one = np.concatenate([model.generate([s]).images for s in seeds[:4]])
    assert np.allclose(images[:4], one_by_one, atol=1e-5, rtol=0)
    # a trained model paints the slide's colours (pinkish-white stroma, brown DAB, blue nuclei), not grey noise (a
    # random network's mean is about 0.5 in every channel). The FastGAN 1.4.0 patches are paler than the slide on
    # average (blue 0.65 against 0.57: less of each patch is brown epithelium), which its card says.
    mean_rgb = images.reshape(-1, 3).mean(0)
    assert np.all(np.abs(mean_rgb - IHC_MEAN_RGB) < 0.1), mean_rgb
    assert mean_rgb[0] > mean_rgb[1] > mean_rgb[2], "red > green > blue, as in DAB/haematoxylin staining"
    std_rgb = images.reshape(-1, 3).std(0)
    assert np.all(std_rgb > 0.5 * IHC_STD_RGB), std_rgb
    assert np.abs(images[0] - images[1]).mean() > 0.05, "different seeds give different patches"


@pytest.mark.torch
@pytest.mark.onnx
@pytest.mark.parametrize(("torch_id", "onnx_id", "files", "size"), MODELS)
def test_onnx_export_gives_the_pytorch_images(torch_id, onnx_id, files, size):
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    pytest.importorskip("onnxruntime")
    seeds = [medigan_host.sample_seed(0, i) for i in range(65)]  # what `medigan generate --seed 0 -n 65` uses
    torch_images = medigan_host.load_model(torch_id, device="cpu").generate(seeds).images
    onnx_images = medigan_host.load_model(onnx_id, device="cpu").generate(seeds).images
    assert torch_images.shape == onnx_images.shape == (65, size, size, 3)
    assert float(np.abs(torch_images - onnx_images).max()) <= 1e-4
    # as 8-bit PNG pixels (what the README claims): a value at a rounding boundary may land one grey level apart, no more
    from medigan_host.formats.base import to_uint

    png_diff = np.abs(to_uint(torch_images, 8).astype(int) - to_uint(onnx_images, 8).astype(int))
    assert png_diff.max() <= 1 and (png_diff > 0).mean() < 1e-3


@pytest.mark.torch
@pytest.mark.parametrize(("torch_id", "onnx_id", "files", "size"), MODELS)
def test_torch_model_is_per_seed_and_in_eval_mode(torch_id, onnx_id, files, size):
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    model = medigan_host.load_model(torch_id, device="cpu")
    assert not model.generator.net.training
    seeds = list(range(5, 25))
    together = model.generate(seeds).images  # the batch size changes no bit of an image
    assert np.array_equal(together, np.concatenate([model.generate([s]).images for s in seeds]))
    assert np.array_equal(together, np.concatenate([model.generate(seeds[i:i + 7]).images for i in range(0, 20, 7)]))


@pytest.mark.torch
@pytest.mark.slow
def test_training_is_reproducible_by_seed(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    pytest.importorskip("skimage")
    pytest.importorskip("PIL")
    digests = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = subprocess.run([sys.executable, str(PLUGIN_ROOT / "training" / "train.py"), "--iterations", "2", "--seed", "3",
                                 "--preview-every", "0", "--out", str(out)], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        digests.append(hashlib.sha256((out / "generator.safetensors").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.torch
@pytest.mark.slow
def test_fastgan_checkpoint_is_the_shorter_run(tmp_path):
    """Training is reproducible by seed, and the checkpoint of step K is what a K-iteration run ships."""
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    pytest.importorskip("skimage")
    pytest.importorskip("PIL")
    script = str(PLUGIN_ROOT / "training" / "train_fastgan.py")
    for iterations, out in ((2, tmp_path / "long"), (1, tmp_path / "short")):
        result = subprocess.run([sys.executable, script, "--iterations", str(iterations), "--seed", "3", "--batch-size", "2",
                                 "--checkpoint-every", "1", "--out", str(out)], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
    checkpoint = (tmp_path / "long" / "checkpoints" / "generator-00001.safetensors").read_bytes()
    assert checkpoint == (tmp_path / "short" / "generator.safetensors").read_bytes()
    assert checkpoint != (tmp_path / "long" / "generator.safetensors").read_bytes()
    assert (tmp_path / "long" / "training.json").is_file() and (tmp_path / "long" / "samples.png").is_file()


def _training_data_module():
    sys.path.insert(0, str(PLUGIN_ROOT / "training"))
    try:
        return importlib.import_module("data")
    finally:
        sys.path.remove(str(PLUGIN_ROOT / "training"))


@pytest.mark.parametrize("size", [64, 128])
def test_tile_splits_keep_training_validation_and_test_apart(size):
    """No training window touches a validation or test pixel; each validation or test crop lies inside one tile of its
    part; the three-way split's test tiles are none of its validation tiles; the two-way split has no test part."""
    data = _training_data_module()
    assert not set(data.TEST_TILES) & set(data.VALIDATION_TILES)
    for split, tiles in data.SPLITS.items():
        kept_out = data.tiles_mask(tiles["validation"] + tiles["test"])
        table = np.pad(kept_out.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        corners = data.patch_corners("training", split, size=size)
        assert len(corners) > 1000
        ys, xs = corners[:, 0], corners[:, 1]
        touched = table[ys + size, xs + size] - table[ys, xs + size] - table[ys + size, xs] + table[ys, xs]
        assert not touched.any(), f"{split}: training windows touch validation or test pixels"
        for part in ("validation", "test"):
            if not tiles[part]:
                with pytest.raises(ValueError, match="no test tiles"):
                    data.patch_corners(part, split)
                continue
            held = data.patch_corners(part, split, size=size)
            assert len(held) == len(tiles[part]) * (data.TILE - size + 1) ** 2
            tile_of_first = {(y // data.TILE, x // data.TILE) for y, x in held}
            tile_of_last = {((y + size - 1) // data.TILE, (x + size - 1) // data.TILE) for y, x in held}
            assert tile_of_first == tile_of_last == set(tiles[part])
    with pytest.raises(ValueError, match="unknown split"):
        data.patch_corners("training", "four-way")
    with pytest.raises(ValueError, match="does not fit"):
        data.patch_corners("test", "three-way", size=256)


def test_plugin_module_is_light():
    for name in [m for m in sys.modules if m.startswith("medigan_plugin_histology_dcgan")]:
        del sys.modules[name]
    importlib.import_module("medigan_plugin_histology_dcgan.plugin")
    loaded = [m for m in sys.modules if m.startswith("medigan_plugin_histology_dcgan.") and not m.endswith(".plugin")]
    assert loaded == []


@pytest.mark.torch
def test_network_options_of_a_card_build_the_network_or_fail_clearly():
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    import torch
    from medigan_plugin_histology_dcgan.fastgan import Generator
    from medigan_plugin_histology_dcgan.torch_model import TorchGenerator

    z = torch.randn(2, Generator().latent_dim)
    scaled, plain = Generator(latent_scale=0.5).eval(), Generator().eval()
    scaled.load_state_dict(plain.state_dict())
    with torch.inference_mode():
        assert torch.equal(scaled(z), plain(z * 0.5))  # the latent scale is the truncation, nothing else
    card = dict(medigan_host.get_card(plugin.FASTGAN_TORCH_ID))
    for field, value, message in (("network_options", {"latent_scale": 0.0}, "latent_scale must be in"),
                                  ("network_options", {"widht": 3}, "widht"), ("network", "stylegan", "stylegan")):
        bad = medigan_host.ModelCard.from_dict({**card, field: value})
        with pytest.raises(medigan_host.CardError, match=message):
            TorchGenerator(bad, "cpu")


@pytest.mark.torch
@pytest.mark.slow
def test_fastgan_training_options_run_or_fail_clearly(tmp_path):
    """--augment, --widths, --lr-d and the R1 discriminator: a good choice trains (and records itself), a bad one
    stops before training, saying why."""
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    pytest.importorskip("skimage")
    pytest.importorskip("PIL")
    import json

    script = str(PLUGIN_ROOT / "training" / "train_fastgan.py")
    common = ["--iterations", "1", "--batch-size", "2", "--checkpoint-every", "0"]
    for bad, message in ((["--augment", "colour"], "unknown augmentation colour"), (["--widths", "8,8"], "5 positive channel")):
        result = subprocess.run([sys.executable, script, *common, *bad, "--out", str(tmp_path / "bad")],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 2 and message in result.stderr
        assert not (tmp_path / "bad").exists()
    out = tmp_path / "small"
    options = ["--augment", "none", "--widths", "8,8,8,4,4", "--noise-maps", "--lr-d", "4e-4", "--no-spectral-norm", "--r1", "1"]
    result = subprocess.run([sys.executable, script, *common, *options, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    settings = json.loads((out / "training.json").read_text())["settings"]
    assert settings["augment"] == [] and settings["widths"] == [8, 8, 8, 4, 4] and settings["lr_d"] == 4e-4 and settings["r1"] == 1
    from safetensors.torch import load_file

    assert tuple(load_file(str(out / "generator.safetensors"))["to_rgb.0.weight"].shape) == (3, 4, 3, 3)


@pytest.mark.torch
@pytest.mark.slow
def test_discriminator_probe_reports_each_policy_or_fails_clearly():
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    pytest.importorskip("skimage")
    import json

    script = str(PLUGIN_ROOT / "training" / "probe_discriminator.py")
    weights = str(PLUGIN_ROOT / "src" / "medigan_plugin_histology_dcgan" / "weights" / plugin.FASTGAN_SAFETENSORS["filename"])
    options = json.dumps(plugin.FASTGAN_NETWORK_OPTIONS)
    result = subprocess.run([sys.executable, script, weights, "--network-options", options, "--policies", "none",
                             "translation,cutout", "--steps", "2", "--window", "2"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["policy"] for line in lines] == ["none", "translation,cutout"]
    assert all(0.0 <= line["mean_loss_last_2"] < 10.0 and line["steps"] == 2 for line in lines)
    result = subprocess.run([sys.executable, script, weights, "--steps", "2", "--window", "5"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 2 and "--window must be between 1 and --steps (2)" in result.stderr


def test_the_distribution_version_is_the_newest_model_it_ships():
    """pyproject.toml, the package's __version__ and the newest card version agree (1.3.0 shipped as 1.2.0 once)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    import medigan_plugin_histology_dcgan

    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    registered = []
    plugin.medigan_register_models(lambda card, loader: registered.append(card))
    newest = max((card["version"] for card in registered), key=lambda v: tuple(int(p) for p in v.split(".")))
    assert project["version"] == medigan_plugin_histology_dcgan.__version__ == newest, (
        project["version"], medigan_plugin_histology_dcgan.__version__, newest)
