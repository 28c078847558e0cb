"""The PyTorch extractors: resizing equal to PyTorch's, the FID InceptionV3 and the ResNet50 with random or served
weights (no model hub is reachable in tests)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from conftest import run_cli

from medigan_host import hookimpl, register_plugin
from medigan_host.devkit.weights_server import WeightsServer
from medigan_host.errors import WeightsError
from medigan_host.evaluation.extractors import load_extractor
from medigan_host.evaluation.preprocess import resize

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("size", [(299, 299), (20, 31), (64, 64)])
@pytest.mark.parametrize("method, mode, antialias", [("bilinear", "bilinear", False), ("bicubic", "bicubic", False),
                                                     ("antialias", "bilinear", True)])
def test_resize_equals_torch_interpolate(size, method, mode, antialias):
    x = np.random.default_rng(0).random((2, 48, 40, 3)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=size, mode=mode, align_corners=False,
                             antialias=antialias).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(resize(x, size, method), expected, atol=2e-5)


def _state_bytes(module) -> bytes:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


def test_inception_with_random_weights_gives_2048_features():
    extractor = load_extractor("inception-v3-fid", device="cpu", random_init=True)
    images = np.random.default_rng(1).integers(0, 255, (2, 64, 64, 1), dtype=np.uint8)
    features = extractor.features(images)
    assert features.shape == (2, 2048) and features.dtype == np.float64 and np.isfinite(features).all()
    assert extractor.describe()["extractor_weights_sha256"] == "random-init"


def test_served_inception_weights_are_verified_cached_and_loaded_strictly(tmp_path, monkeypatch):
    from medigan_host.evaluation.inception import FIDInceptionV3

    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    network = FIDInceptionV3().eval()
    payload = _state_bytes(network)
    digest = hashlib.sha256(payload).hexdigest()
    with WeightsServer({"/inception.pth": payload}) as server:
        class Plugin:
            @hookimpl
            def medigan_register_feature_extractors(self, register):
                register({"name": "served-inception", "description": "test copy", "framework": "pytorch",
                          "input_size": [299, 299], "channels": 3, "feature_dim": 2048, "normalization": "symmetric",
                          "resize": "bilinear", "weights": [{"url": server.url("/inception.pth"), "sha256": digest,
                                                             "filename": "inception.pth"}]},
                         "medigan_host.evaluation.inception:load")

        register_plugin(Plugin(), "served")
        extractor = load_extractor("served-inception", device="cpu")
        assert server.requests == ["/inception.pth"]
    images = np.random.default_rng(2).random((2, 32, 32, 3)).astype(np.float32)
    with torch.inference_mode():
        x = F.interpolate(torch.from_numpy(images).permute(0, 3, 1, 2), size=(299, 299), mode="bilinear",
                          align_corners=False) * 2 - 1
        expected = network(x).double().numpy()
    np.testing.assert_allclose(extractor.features(images), expected, rtol=1e-4, atol=1e-5)
    assert extractor.weights_sha256 == digest


def test_resnet50_loads_torchvision_named_weights_and_rejects_others(tmp_path):
    from medigan_host.evaluation.resnet50 import ResNet50Features

    torch.manual_seed(0)
    state = ResNet50Features().state_dict()
    state.update({"fc.weight": torch.zeros(165, 2048), "fc.bias": torch.zeros(165)})  # a classifier head is dropped
    good = tmp_path / "radimagenet.pth"
    torch.save(state, good)
    extractor = load_extractor("radimagenet-resnet50", device="cpu", weights_file=good)
    features = extractor.features(np.zeros((1, 40, 40, 1), np.uint8))
    assert features.shape == (1, 2048) and extractor.weights_sha256 == hashlib.sha256(good.read_bytes()).hexdigest()
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="torchvision"):
        load_extractor("radimagenet-resnet50", device="cpu", weights_file=bad)


def test_random_or_other_weights_are_not_comparable_with_published_fids(tmp_path):
    extractor = load_extractor("inception-v3-fid", device="cpu", random_init=True)
    about = extractor.describe()
    assert about["comparable_with_published_fid"] is False and "random weights" in about["not_comparable_because"]
    other = load_extractor("inception-v3-fid", device="cpu", random_init=True, normalization="imagenet").describe()
    assert "normalisation 'imagenet'" in other["not_comparable_because"]


def test_the_papers_study_runs_from_the_cli_with_radimagenet_weights_given(tmp_path):
    """RadImageNet's ResNet50 from a weights file named on the command line (a random network here: no weights can be
    downloaded in tests), beside the grey NumPy extractor whose cell for the same normalisation is skipped with a note.
    One 2048-d cell only: its Fréchet distance alone takes seconds on a small CPU."""
    import json
    import os

    import medigan_host as mg
    from medigan_host.evaluation.resnet50 import ResNet50Features

    torch.manual_seed(0)
    radimagenet = tmp_path / "RadImageNet-ResNet50_notop.pth"
    torch.save(ResNet50Features().state_dict(), radimagenet)
    mg.generate("mammo-breast-phantom", 3, tmp_path / "real", seed=1, batch_size=3)
    out = tmp_path / "study"
    result = run_cli("study", "fid", "--models", "mammo-breast-phantom", "--real", str(tmp_path / "real"), "-n", "2",
                     "--extractors", "radimagenet-resnet50,pcanet-phantoms", "--normalizations", "radimagenet",
                     "--extractor-weights", f"radimagenet-resnet50={radimagenet}", "--no-plot", "--device", "cpu",
                     "-o", str(out), env={**os.environ, "MEDIGAN_CACHE_DIR": str(tmp_path / "cache"), "MEDIGAN_OFFLINE": "1"},
                     timeout=600)
    assert result.returncode == 0, result.stderr
    records = [r for r in json.loads((out / "study.json").read_text()) if "metric" in r]
    assert [(r["extractor"], r["normalization"]) for r in records] == [("radimagenet-resnet50", "radimagenet")]
    assert records[0]["extractor_weights_sha256"] == hashlib.sha256(radimagenet.read_bytes()).hexdigest()
    assert records[0]["comparable_with_published_fid"] is False
    assert "skipped: pcanet-phantoms x radimagenet" in result.stdout
    assert 'pcanet-phantoms,radimagenet,-,,0,0,"skipped: normalisation' in (out / "study.csv").read_text()
