"""MONAI bundles both ways: a bundle folder (configs/metadata.json, configs/inference.json, models/model.pt) built here
runs as a medigan model without a card, and `medigan card export --format monai --output-dir` writes a bundle whose
metadata passes ``monai.bundle.verify_metadata`` against MONAI's generator schema and whose inference config runs with
``python -m monai.bundle run``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import medigan_host

torch = pytest.importorskip("torch")
monai = pytest.importorskip("monai")
pytestmark = pytest.mark.torch

from medigan_plugin_monai import runner  # noqa: E402
from medigan_plugin_monai.bundle import bundle_card  # noqa: E402

SCHEMA = Path(__file__).parent / "data" / "meta_schema_generator_20220718.json"

INFERENCE = {
    "imports": ["$import torch", "$import monai"],
    "device": "$torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
    "num_train_timesteps": 50,
    "num_inference_steps": 3,
    "network_def": {"_target_": "monai.networks.nets.DiffusionModelUNet", "spatial_dims": 2, "in_channels": 1,
                    "out_channels": 1, "channels": [8, 8], "attention_levels": [False, True], "num_res_blocks": 1,
                    "num_head_channels": 8, "norm_num_groups": 8},
    "network": "$@network_def.to(@device)",
    "scheduler": {"_target_": "monai.networks.schedulers.DDPMScheduler", "num_train_timesteps": "@num_train_timesteps"},
}

METADATA = {
    "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json",
    "version": "0.2.0", "changelog": {"0.2.0": "tiny test bundle"}, "monai_version": "1.4.0",
    "pytorch_version": "2.5.1", "numpy_version": "1.26.4", "required_packages_version": {},
    "name": "Tiny hand DDPM", "task": "Hand X-ray generation", "description": "A tiny random DDPM bundle for tests.",
    "authors": "medigan tests", "copyright": "none", "license": "MIT",
    "network_data_format": {
        "inputs": {"image": {"type": "image", "format": "magnitude", "modality": "xray", "num_channels": 1,
                             "spatial_shape": [1, 16, 16], "dtype": "float32", "value_range": [],
                             "is_patch_data": False, "channel_def": {"0": "image"}}},
        "outputs": {"pred": {"type": "image", "format": "magnitude", "modality": "xray", "num_channels": 1,
                             "spatial_shape": [1, 16, 16], "dtype": "float32", "value_range": [],
                             "is_patch_data": False, "channel_def": {"0": "image"}}}},
}


def make_bundle(folder: Path) -> Path:
    """A MONAI bundle folder as the model zoo lays it out, with random weights for its network."""
    import monai.networks.nets as nets

    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    (folder / "configs" / "metadata.json").write_text(json.dumps(METADATA))
    (folder / "configs" / "inference.json").write_text(json.dumps(INFERENCE))
    args = {k: v for k, v in INFERENCE["network_def"].items() if k != "_target_"}
    torch.manual_seed(0)
    net = nets.DiffusionModelUNet(**args)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.2)
    torch.save(net.state_dict(), folder / "models" / "model.pt")
    return folder


@pytest.fixture
def bundle_env(tmp_path, monkeypatch):
    folder = make_bundle(tmp_path / "tiny_hand_ddpm")
    monkeypatch.setenv("MEDIGAN_MONAI_BUNDLES", str(folder))
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    medigan_host.reset_host()
    yield folder
    medigan_host.reset_host()


def test_a_bundle_folder_runs_as_a_medigan_model(bundle_env, tmp_path):
    card = medigan_host.get_card("tiny-hand-ddpm")
    assert card.image_size == (16, 16) and card.channels == 1 and card.modality == "xray" and card.version == "0.2.0"
    assert card.extra["monai"]["scheduler"] == {"class": "DDPMScheduler", "args": {"num_train_timesteps": 50},
                                                "inference_steps": 3}
    assert card.weights[0]["url"] == (bundle_env / "models" / "model.pt").as_uri()
    model = medigan_host.load_model("tiny-hand-ddpm", device="cpu")
    together = model.generate([4, 5]).images
    assert together.shape == (2, 16, 16, 1) and together.dtype == np.float32
    np.testing.assert_allclose(model.generate([5]).images[0], together[1], atol=1e-5)  # per-seed, as every model
    done = subprocess.run([sys.executable, "-m", "medigan_host", "generate", "tiny-hand-ddpm", "-n", "2", "-o",
                           str(tmp_path / "run"), "--format", "nifti"], capture_output=True, text=True, timeout=300,
                          env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "run" / "images").iterdir()) == ["000000.nii", "000001.nii"]
    # a weights file changed after the folder was registered is caught when the model loads
    (bundle_env / "models" / "model.pt").write_bytes(b"changed")
    with pytest.raises(medigan_host.WeightsError, match="sha256"):
        runner.load(card, "cpu")


def test_bundle_folders_that_cannot_be_models_say_why(tmp_path):
    from medigan_plugin_monai.bundle import BundleFolderError

    with pytest.raises(BundleFolderError, match="has no configs/metadata.json"):
        bundle_card(tmp_path)
    folder = make_bundle(tmp_path / "b")
    (folder / "configs" / "inference.json").write_text(json.dumps({**INFERENCE, "scheduler": {
        "_target_": "monai.networks.schedulers.DDPMScheduler", "num_train_timesteps": "$int('50')"}}))
    with pytest.raises(BundleFolderError, match="never evaluates bundle expressions"):
        bundle_card(folder)
    (folder / "models" / "model.pt").unlink()
    (folder / "configs" / "inference.json").write_text(json.dumps(INFERENCE))
    with pytest.raises(BundleFolderError, match="no models/model.pt"):
        bundle_card(folder)


def _verify(meta_file: Path, tmp_path: Path) -> None:
    from monai.bundle import verify_metadata

    schema = tmp_path / "schema.json"
    shutil.copy(os.environ.get("MEDIGAN_MONAI_GENERATOR_SCHEMA") or SCHEMA, schema)  # present: nothing is downloaded
    verify_metadata(meta_file=str(meta_file), filepath=str(schema))


def test_an_exported_bundle_verifies_and_runs_with_monai_bundle(bundle_env, tmp_path):
    exported = tmp_path / "exported"
    done = subprocess.run([sys.executable, "-m", "medigan_host", "card", "export", "tiny-hand-ddpm", "--format", "monai",
                           "--output-dir", str(exported)], capture_output=True, text=True, timeout=120,
                          env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    meta = json.loads((exported / "configs" / "metadata.json").read_text())
    assert meta["schema"].endswith("/meta_schema_generator_20220718.json")
    assert meta["monai_version"] == monai.__version__ and meta["pytorch_version"] == importlib.metadata.version("torch")
    assert meta["numpy_version"] == np.__version__
    assert meta["optional_packages_version"]["medigan-host"] == medigan_host.__version__
    assert meta["optional_packages_version"]["medigan-plugin-monai"] == importlib.metadata.version("medigan-plugin-monai")
    assert meta["network_data_format"]["inputs"]["latent"]["format"] == "latent"
    _verify(exported / "configs" / "metadata.json", tmp_path)
    run = subprocess.run([sys.executable, "-m", "monai.bundle", "run", "--config_file",
                          str(exported / "configs" / "inference.json"), "--bundle_root", str(exported),
                          "--num_samples", "2", "--seed", "7"], capture_output=True, text=True, timeout=300,
                         env=os.environ.copy())
    assert run.returncode == 0, run.stderr[-2000:]
    nibabel = pytest.importorskip("nibabel")
    files = sorted((exported / "samples" / "images").glob("*.nii"))
    assert len(files) == 2
    expected = next(iter(medigan_host.generate("tiny-hand-ddpm", 2, seed=7, batch_size=2))).images
    for path, image in zip(files, expected, strict=True):
        np.testing.assert_allclose(nibabel.load(str(path)).get_fdata().T, image[..., 0], atol=1e-5)


def test_every_export_has_real_versions_and_passes_the_generator_schema(tmp_path):
    from medigan_host.catalog.export import write_monai_bundle

    for model in ("ct-head-phantom", "mri-brain-phantom-3d"):
        card = medigan_host.get_card(model)
        write_monai_bundle(card, tmp_path / model, plugin="phantoms", plugin_version="0.1.0",
                           distribution="medigan-plugin-phantoms")
        meta = json.loads((tmp_path / model / "configs" / "metadata.json").read_text())
        assert meta["optional_packages_version"] == {"medigan-host": medigan_host.__version__,
                                                     "medigan-plugin-phantoms": "0.1.0"}
        assert meta["monai_version"] == monai.__version__ and "medigan-plugin" not in meta["optional_packages_version"]
        _verify(tmp_path / model / "configs" / "metadata.json", tmp_path)
