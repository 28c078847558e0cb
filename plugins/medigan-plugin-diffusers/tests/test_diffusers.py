"""The diffusers plugin end to end: a tiny DDPM pipeline built from diffusers classes with random weights, saved with
save_pretrained, served from the fake Hub, described by a card in MEDIGAN_DIFFUSERS_CARDS, generated per seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import medigan_host
from medigan_host.devkit.weights_server import HubServer

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.torch

REPO = "medigan-test/tiny-ddpm"
COMMIT = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"


def tiny_pipeline(folder: Path) -> dict[str, bytes]:
    """A 16x16 greyscale DDPMPipeline with random weights, saved as the Hub holds it; returns its files."""
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(sample_size=16, in_channels=1, out_channels=1, layers_per_block=1,
                                 block_out_channels=(8, 16), norm_num_groups=8,
                                 down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))
    pipeline = diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler(num_train_timesteps=50))
    pipeline.save_pretrained(str(folder), safe_serialization=True)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def pipeline_card(files: dict[str, bytes], **diffusers_spec) -> dict:
    return {
        "id": "tiny-ddpm-pipeline", "name": "Tiny DDPM pipeline", "version": "1.0.0",
        "description": "A tiny random DDPM pipeline for tests.", "framework": "pytorch", "modality": "xray",
        "image_size": [16, 16], "channels": 1, "license": "MIT",
        "weights": [{"hf": REPO, "revision": COMMIT, "filename": name, "sha256": hashlib.sha256(data).hexdigest()}
                    for name, data in files.items()],
        "diffusers": {"pipeline": "DDPMPipeline", "steps": 4, **diffusers_spec},
    }


@pytest.fixture
def hub(tmp_path, monkeypatch):
    files = tiny_pipeline(tmp_path / "saved")
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    for name in ("MEDIGAN_OFFLINE", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    cards = tmp_path / "cards"
    cards.mkdir()
    monkeypatch.setenv("MEDIGAN_DIFFUSERS_CARDS", str(cards))
    with HubServer({REPO: {COMMIT: files}}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.base_url)
        yield {"server": server, "files": files, "cards": cards}
    medigan_host.reset_host()


def add_card(hub, card: dict) -> None:
    (hub["cards"] / f"{card['id']}.json").write_text(json.dumps(card))
    medigan_host.reset_host()


def test_a_card_alone_adds_a_hub_pipeline_that_generates_per_seed(hub, tmp_path):
    assert "unet/diffusion_pytorch_model.safetensors" in hub["files"] and "model_index.json" in hub["files"]
    add_card(hub, pipeline_card(hub["files"]))
    assert "tiny-ddpm-pipeline" in [c.id for c in medigan_host.list_models()]
    model = medigan_host.load_model("tiny-ddpm-pipeline", device="cpu")
    together = model.generate([5, 6, 7]).images
    assert together.shape == (3, 16, 16, 1) and together.dtype == np.float32
    np.testing.assert_allclose(model.generate([6]).images[0], together[1], atol=1e-4)  # one generator per sample
    assert not np.allclose(together[0], together[1])
    result = medigan_host.generate("tiny-ddpm-pipeline", 2, tmp_path / "run", seed=3)
    assert result.generated == 2
    lfs = [p for p in hub["server"].cdn.requests if p.startswith("/lfs/")]
    assert len(lfs) == 1  # the safetensors came once, through the Hub's LFS redirect, then from the cache


def test_scheduler_from_the_card_and_bad_cards(hub):
    add_card(hub, pipeline_card(hub["files"], scheduler="DDIMScheduler"))
    model = medigan_host.load_model("tiny-ddpm-pipeline", device="cpu")
    assert type(model.generator.pipe.scheduler).__name__ == "DDIMScheduler"
    add_card(hub, pipeline_card(hub["files"], pipeline="os.system"))
    with pytest.raises(medigan_host.MediganError, match="not a diffusers DiffusionPipeline class"):
        medigan_host.load_model("tiny-ddpm-pipeline", device="cpu")
    tampered = pipeline_card(hub["files"])
    tampered["weights"][-1]["sha256"] = "0" * 64
    add_card(hub, tampered)
    with pytest.raises(medigan_host.MediganError, match="sha256"):
        medigan_host.load_model("tiny-ddpm-pipeline", device="cpu")



def test_a_save_pretrained_folder_runs_with_medigan_generate(tmp_path, monkeypatch):
    import subprocess
    import sys

    from medigan_host.weights import folder_sha256

    tiny_pipeline(tmp_path / "saved")
    cards = tmp_path / "cards"
    cards.mkdir()
    card = {**pipeline_card({}), "id": "tiny-ddpm-folder",
            "weights": [{"folder": str(tmp_path / "saved"), "sha256": folder_sha256(tmp_path / "saved")}]}
    (cards / "tiny-ddpm-folder.json").write_text(json.dumps(card))
    monkeypatch.setenv("MEDIGAN_DIFFUSERS_CARDS", str(cards))
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")  # nothing is downloaded: the folder is used where it lies
    medigan_host.reset_host()

    def generate(out):
        return subprocess.run([sys.executable, "-m", "medigan_host", "generate", "tiny-ddpm-folder", "-n", "2", "-o",
                               str(out), "--seed", "5", "--format", "npy"], capture_output=True, text=True, timeout=300)

    done = generate(tmp_path / "run")
    assert done.returncode == 0, done.stderr
    written = [np.load(tmp_path / "run" / "images" / f"{i:06d}.npy") for i in range(2)]
    expected = next(iter(medigan_host.generate("tiny-ddpm-folder", 2, seed=5, batch_size=2))).images
    for mine, theirs in zip(written, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-4)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.safetensors"))
    # a changed file in the folder is caught before the pipeline is loaded, and the folder is left as it is
    config = tmp_path / "saved" / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace("50", "60"))
    refused = generate(tmp_path / "run2")
    assert refused.returncode != 0 and "files digest" in refused.stderr and "was left as it is" in refused.stderr
    assert config.exists()
    medigan_host.reset_host()


def test_a_folder_entry_needs_an_absolute_path_and_its_digest():
    from medigan_host import CardError

    with pytest.raises(CardError, match=r"\.sha256 is missing: pin the digest of the folder's files"):
        medigan_host.ModelCard.from_dict({**pipeline_card({}), "weights": [{"folder": "/models/tiny"}]})
    with pytest.raises(CardError, match="must be an absolute path or a file:// URL"):
        medigan_host.ModelCard.from_dict({**pipeline_card({}), "weights": [{"folder": "tiny", "sha256": "0" * 64}]})
    card = medigan_host.ModelCard.from_dict({**pipeline_card({}), "weights": [{"folder": "file:///models/tiny-ddpm",
                                                                               "sha256": "A" * 64}]})
    assert card.weights[0]["filename"] == "tiny-ddpm" and card.weights[0]["sha256"] == "a" * 64
