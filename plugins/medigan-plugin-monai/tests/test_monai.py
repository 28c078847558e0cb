"""The MONAI plugin end to end: the bundles' architectures at a tiny size with random weights, saved as the bundles
store them, served from the fake weights server (url + md5, as large_files.yml publishes) and the fake Hub."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import pickle

import numpy as np
import pytest

import medigan_host
from medigan_host import WeightsError, hookimpl
from medigan_host.devkit.weights_server import HubServer, WeightsServer

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytestmark = pytest.mark.torch

from medigan_plugin_monai import plugin as monai_plugin  # noqa: E402
from medigan_plugin_monai import runner  # noqa: E402

COMMIT = "1234567890abcdef1234567890abcdef12345678"
REPO = "medigan-test/tiny-brain-ldm"


def tiny_ddpm() -> dict:
    """The mednist_ddpm card with the same classes at a tiny size (16x16, 8 channels, 4 steps)."""
    card = copy.deepcopy(monai_plugin.MEDNIST_DDPM)
    card.update(id="tiny-mednist-ddpm", image_size=[16, 16])
    card["monai"]["diffusion"]["args"].update(channels=[8, 8], attention_levels=[False, True], num_head_channels=8,
                                              norm_num_groups=8)
    card["monai"]["scheduler"]["inference_steps"] = 4
    return card


def tiny_ldm() -> dict:
    """The brain LDM card with the same classes at a tiny size (volume 8x12x8, latent 3x4x6x4, 3 steps)."""
    card = copy.deepcopy(monai_plugin.BRAIN_LDM)
    card.update(id="tiny-brain-ldm", image_size=[8, 12, 8], spacing=[1.5, 1.0, 1.0])
    spec = card["monai"]
    spec["autoencoder"]["args"].update(channels=[8, 8], num_res_blocks=1, norm_num_groups=8,
                                       attention_levels=[False, False])
    spec["diffusion"]["args"].update(channels=[8, 8], num_res_blocks=1, attention_levels=[False, True],
                                     norm_num_groups=8, num_head_channels=[0, 8])
    spec["scheduler"]["inference_steps"] = 3
    spec["latent_shape"] = [3, 4, 6, 4]
    return card


def state_bytes(spec: dict, seed: int, *, old_naming: bool = False) -> bytes:
    """Random weights of the network ``spec`` describes, saved as a bundle's models/*.pt (a torch.save'd state dict)."""
    import monai.networks.nets as nets

    torch.manual_seed(seed)
    net = runner.build(spec, runner.NETWORKS, nets, "test")
    with torch.no_grad():  # MONAI zero-initialises output layers: random values everywhere, so inputs matter
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.2)
    state = net.state_dict()
    if old_naming:  # the GenerativeModels naming of attention projections, which load_old_state_dict maps back
        state = {k.replace(".attn.to_q.", ".to_q.").replace(".attn.to_k.", ".to_k.").replace(".attn.to_v.", ".to_v."): v
                 for k, v in state.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


class _Tiny:
    def __init__(self, cards):
        self.cards = cards

    @hookimpl
    def medigan_register_models(self, register):
        for card in self.cards:
            register(card, monai_plugin.LOADER)


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    for name in ("MEDIGAN_OFFLINE", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    ddpm = tiny_ddpm()
    ldm = tiny_ldm()
    ddpm_weights = state_bytes(ddpm["monai"]["diffusion"], 0)
    ae_weights = state_bytes(ldm["monai"]["autoencoder"], 1)
    unet_weights = state_bytes(ldm["monai"]["diffusion"], 2, old_naming=True)
    with WeightsServer({"/mednist_ddpm.pt": ddpm_weights}) as server, \
            HubServer({REPO: {COMMIT: {"models/autoencoder.pt": ae_weights, "models/model.pt": unet_weights}}}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.base_url)
        ddpm["weights"] = [{"url": server.url("mednist_ddpm.pt"), "md5": hashlib.md5(ddpm_weights).hexdigest(),
                            "filename": "model.pt"}]
        ldm["weights"] = [{"hf": REPO, "revision": COMMIT, "filename": f"models/{name}",
                           "sha256": hashlib.sha256(data).hexdigest()}
                          for name, data in (("autoencoder.pt", ae_weights), ("model.pt", unet_weights))]
        ldm["monai"]["autoencoder"]["weights"] = "models/autoencoder.pt"
        ldm["monai"]["diffusion"]["weights"] = "models/model.pt"
        medigan_host.reset_host(load_entry_points=False)
        medigan_host.register_plugin(_Tiny([ddpm, ldm]), "tiny-monai")
        yield {"ddpm": ddpm, "ldm": ldm, "server": server, "hub": hub}
    medigan_host.reset_host()


def test_registered_cards_are_valid_and_name_the_bundles_files():
    cards = {c["id"]: medigan_host.ModelCard.from_dict(c) for c in monai_plugin.CARDS}
    ddpm, ldm = cards["monai-mednist-ddpm-hand"], cards["monai-brain-ldm-t1w"]
    assert ddpm.weights[0]["md5"] == "02fd8c8e8ed5f7cda5deeed72b69f4f1" and ddpm.license == "Apache-2.0"
    assert [w["md5"] for w in ldm.weights] == ["329e97b3085643ff235f11f049856242", "21c3047556fb671caf0556f1cce6ef22"]
    assert ldm.extra["spacing"] == [1.0, 1.0, 1.0] and set(ldm.conditions) == set(ldm.extra["condition_defaults"])


def test_2d_ddpm_runs_per_seed_from_the_fake_server(site, tmp_path):
    model = medigan_host.load_model("tiny-mednist-ddpm", device="cpu")
    together = model.generate([3, 4, 5]).images
    assert together.shape == (3, 16, 16, 1) and together.dtype == np.float32
    assert 0.0 <= together.min() and together.max() <= 1.0
    alone = model.generate([4]).images[0]
    np.testing.assert_allclose(alone, together[1], atol=1e-4)  # sample i depends only on seeds[i]
    assert not np.allclose(together[0], together[1])
    result = medigan_host.generate("tiny-mednist-ddpm", 3, tmp_path / "run", seed=7, batch_size=2)
    assert result.generated == 3 and len(sorted((tmp_path / "run").rglob("*.png"))) == 3
    records = medigan_host.evaluate(real=tmp_path / "run" / "images", model="tiny-mednist-ddpm", n=3, seed=100,
                                    extractor="pcanet-phantoms", metrics=("fid",), use_cache=False, device="cpu")
    assert [r.metric for r in records] == ["fid"] and records[0].value >= 0.0  # evaluated like any model


def test_3d_ldm_with_conditions_writes_nifti_with_the_card_spacing(site, tmp_path):
    nibabel = pytest.importorskip("nibabel")
    model = medigan_host.load_model("tiny-brain-ldm", device="cpu")
    young = model.generate([1, 2], condition={"age": 0.1}).images
    old = model.generate([1, 2], condition={"age": 0.9, "gender": 1.0}).images
    assert young.shape == (2, 8, 12, 8, 1)
    assert np.abs(young - old).max() > 1e-3  # the conditions reach the network
    np.testing.assert_allclose(model.generate([2], condition={"age": 0.1}).images[0], young[1], atol=1e-4)
    medigan_host.generate("tiny-brain-ldm", 2, tmp_path / "nii", seed=0, format="nifti", condition={"brain_vol": 0.5})
    volumes = sorted((tmp_path / "nii").rglob("*.nii*"))
    assert len(volumes) == 2
    image = nibabel.load(str(volumes[0]))
    assert image.shape[:3] == (8, 12, 8)  # (width, height, depth) of the (8, 12, 8) (depth, height, width) volume
    assert tuple(np.round(image.header.get_zooms()[:3], 3)) == (1.0, 1.0, 1.5)  # the card's spacing, depth last
    with pytest.raises(medigan_host.ConditionError, match="choose one of"):
        model.generate([0], condition={"age": 0.55})


def test_config_expressions_are_refused_and_never_run(site, tmp_path):
    marker = tmp_path / "ran"
    card = tiny_ddpm()
    card["monai"]["diffusion"]["args"]["channels"] = f"$open({str(marker)!r}, 'w').write('x')"
    with pytest.raises(runner.BundleError, match="never evaluates bundle expressions"):
        runner.load(medigan_host.ModelCard.from_dict(card), "cpu")
    card = tiny_ddpm()
    card["monai"]["diffusion"]["class"] = "torch.nn.Module"
    with pytest.raises(runner.BundleError, match="may name one of"):
        runner.load(medigan_host.ModelCard.from_dict(card), "cpu")
    assert not marker.exists()


class _Planted:
    def __reduce__(self):
        import os

        return (os.system, ("echo planted > /dev/null",))


def test_a_pickled_payload_is_not_loaded(site, tmp_path):
    planted = pickle.dumps({"weight": _Planted()})
    card = tiny_ddpm()
    card["id"] = "planted-ddpm"
    with WeightsServer({"/model.pt": planted}) as server:
        card["weights"] = [{"url": server.url("model.pt"), "md5": hashlib.md5(planted).hexdigest(), "filename": "model.pt"}]
        with pytest.raises(WeightsError, match="only tensors are loaded"):
            runner.load(medigan_host.ModelCard.from_dict(card), "cpu")


def test_another_bundle_is_added_by_writing_only_its_card(tmp_path, monkeypatch):
    """A JSON card in MEDIGAN_MONAI_CARDS is a model: listed beside the others, loaded by the same runner."""
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDIGAN_OFFLINE", raising=False)
    card = tiny_ddpm()
    card["id"] = "my-own-bundle"
    weights = state_bytes(card["monai"]["diffusion"], 3)
    with WeightsServer({"/model.pt": weights}) as server:
        card["weights"] = [{"url": server.url("model.pt"), "sha256": hashlib.sha256(weights).hexdigest()}]
        folder = tmp_path / "cards"
        folder.mkdir()
        (folder / "my-own-bundle.json").write_text(json.dumps(card))
        monkeypatch.setenv("MEDIGAN_MONAI_CARDS", str(folder))
        medigan_host.reset_host()
        try:
            assert medigan_host.get_card("my-own-bundle").extra["monai"]["bundle"] == "mednist_ddpm"
            assert medigan_host.load_model("my-own-bundle", device="cpu").generate([1]).images.shape == (1, 16, 16, 1)
            from medigan_host.devkit.contract import check_model
            from medigan_host.plugins import get_host

            results = check_model(get_host().catalog.get("my-own-bundle"), "cpu")  # the model checks of `medigan check`
            failed = [f"{r.name}: {r.detail}" for r in results if not r.passed and not r.skipped]
            assert results and not failed, failed
        finally:
            medigan_host.reset_host()
