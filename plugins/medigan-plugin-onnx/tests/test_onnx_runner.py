"""The generic ONNX runner: graph contract, per-seed determinism, conditions, masks, layouts, files, errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from medigan_plugin_onnx.runtime import OnnxGenerator, load  # noqa: E402
from medigan_plugin_onnx.spec import parse_spec  # noqa: E402
from onnx_graphs import LATENT, conditional_graph, masked_graph, noise_graph  # noqa: E402

import medigan_host  # noqa: E402
from medigan_host import CardError, FrameworkMissingError, ModelCard, PluginError  # noqa: E402

pytestmark = pytest.mark.onnx


def make_card(model_id: str = "onnx-test", **overrides) -> dict:
    card = {"id": model_id, "name": "ONNX test model", "version": "1.0.0", "description": "A tiny ONNX graph.",
            "framework": "onnx", "modality": "ct", "image_size": [4, 4], "channels": 1, "license": "MIT",
            "onnx": {"file": "g.onnx"}}
    card.update(overrides)
    return card


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An ONNX model folder named by MEDIGAN_ONNX_MODELS, and a host that sees it."""
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("MEDIGAN_ONNX_MODELS", str(models))
    yield models
    medigan_host.reset_host()


def add_model(folder, card: dict, graph=noise_graph) -> dict:
    graph(folder / card["onnx"]["file"])
    (folder / f"{card['id']}.json").write_text(json.dumps(card))
    medigan_host.reset_host()
    return card


def test_folder_model_is_listed_and_generates_per_seed(folder):
    add_model(folder, make_card())
    assert "onnx-test" in [c.id for c in medigan_host.list_models(framework="onnx")]
    model = medigan_host.load_model("onnx-test", device="cpu")
    together = model.generate([3, 4, 5]).images
    assert together.shape == (3, 4, 4, 1) and together.dtype == np.float32
    assert 0.0 <= together.min() and together.max() <= 1.0 and together.std() > 0.05
    one_by_one = np.concatenate([model.generate([s]).images for s in (3, 4, 5)])
    assert np.allclose(together, one_by_one, atol=1e-6, rtol=0)
    assert np.array_equal(model.generate([4]).images, model.generate([4]).images)
    assert not np.allclose(together[0], together[1])


def test_output_follows_the_graph_exactly(tmp_path):
    path = noise_graph(tmp_path / "g.onnx")
    card = ModelCard.from_dict(make_card())
    generator = OnnxGenerator(path, card, "cpu")
    raw = ort.InferenceSession(str(path)).run(None, {"z": medigan_host.latents([9], LATENT)})[0]
    expected = np.clip((raw + 1) / 2, 0, 1).transpose(0, 2, 3, 1)
    assert np.array_equal(generator.generate([9]).images, expected)


def test_nhwc_layout_and_integer_dtypes(tmp_path):
    nchw = OnnxGenerator(noise_graph(tmp_path / "a.onnx"), ModelCard.from_dict(make_card()), "cpu")
    nhwc_card = ModelCard.from_dict(make_card(onnx={"file": "b.onnx", "layout": "NHWC", "dtype": "uint16"}))
    nhwc = OnnxGenerator(noise_graph(tmp_path / "b.onnx", layout="NHWC"), nhwc_card, "cpu")
    unit = nchw.generate([1, 2]).images
    wide = nhwc.generate([1, 2]).images
    assert wide.dtype == np.uint16 and wide.shape == unit.shape
    # the NHWC graph reshapes the same values into another order, so compare as sets of values
    assert np.array_equal(np.sort(wide.ravel()), np.sort(np.rint(unit * 65535).astype(np.uint16).ravel()))
    byte_card = ModelCard.from_dict(make_card(onnx={"file": "a.onnx", "dtype": "uint8", "output_range": [-1, 1]}))
    assert np.array_equal(OnnxGenerator(tmp_path / "a.onnx", byte_card, "cpu").generate([1, 2]).images,
                          np.rint(unit * 255).astype(np.uint8))


def test_conditions_are_applied_or_drawn_from_the_seed(folder):
    card = make_card("onnx-cond", conditions={"lesion": ["absent", "present"]},
                     onnx={"file": "c.onnx", "output_range": [-1, 2]})
    add_model(folder, card, conditional_graph)
    model = medigan_host.load_model("onnx-cond", device="cpu")
    absent = model.generate([1, 2, 3], condition={"lesion": "absent"}).images
    present = model.generate([1, 2, 3], condition={"lesion": "present"}).images
    assert np.allclose(present - absent, 1 / 3, atol=1e-6)  # +1 on a range of 3
    chosen = model.generate(list(range(40))).images
    per_sample = chosen.reshape(40, -1).mean(1) - absent.reshape(3, -1).mean(1).mean()
    assert len({bool(m > 1 / 6) for m in per_sample}) == 2, "the seed chooses both values over 40 samples"
    assert np.array_equal(chosen[:5], model.generate(list(range(5))).images)
    with pytest.raises(medigan_host.ConditionError, match="choose one of: absent, present"):
        model.generate([1], condition={"lesion": "maybe"})


def test_masks_come_from_the_second_output(folder):
    add_model(folder, make_card("onnx-mask", outputs="image+mask", onnx={"file": "m.onnx"}), masked_graph)
    samples = medigan_host.load_model("onnx-mask", device="cpu").generate([7, 8])
    assert samples.masks.shape == (2, 4, 4, 1) and samples.masks.dtype == np.int64
    assert np.array_equal(samples.masks == 1, samples.images > 0.5)


def test_cli_writes_pngs(folder, tmp_path):
    add_model(folder, make_card())
    result = subprocess.run([sys.executable, "-m", "medigan_host", "generate", "onnx-test", "-n", "5", "-o", str(tmp_path / "out"),
                             "--device", "cpu"], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == [f"{i:06d}.png" for i in range(5)]


def test_runs_without_torch_or_tensorflow(folder):
    add_model(folder, make_card())
    probe = ("import sys, medigan_host\n"
             "medigan_host.load_model('onnx-test', device='cpu').generate([1, 2])\n"
             "print(sorted(m for m in ('torch', 'tensorflow', 'onnxruntime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "['onnxruntime']"


def test_listing_does_not_import_onnxruntime(folder):
    add_model(folder, make_card())
    probe = "import sys, medigan_host\nmedigan_host.list_models()\nprint('onnxruntime' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"


def test_sha256_is_checked_every_load(folder):
    card = add_model(folder, make_card())
    digest = sha256(folder / "g.onnx")
    card["onnx"]["sha256"] = digest
    (folder / "onnx-test.json").write_text(json.dumps(card))
    medigan_host.reset_host()
    medigan_host.load_model("onnx-test", device="cpu")
    data = bytearray((folder / "g.onnx").read_bytes())
    data[-1] ^= 1
    (folder / "g.onnx").write_bytes(bytes(data))
    with pytest.raises(PluginError, match=f"the card says {digest}"):
        medigan_host.load_model("onnx-test", device="cpu")


def test_missing_file_and_broken_graph(folder):
    add_model(folder, make_card())
    (folder / "g.onnx").unlink()
    with pytest.raises(PluginError, match="is missing"):
        medigan_host.load_model("onnx-test", device="cpu")
    (folder / "g.onnx").write_bytes(b"not a graph")
    with pytest.raises(PluginError, match="onnxruntime cannot load"):
        medigan_host.load_model("onnx-test", device="cpu")


def test_graph_and_card_must_agree(tmp_path):
    path = noise_graph(tmp_path / "g.onnx")
    with pytest.raises(PluginError, match="condition"):
        OnnxGenerator(path, ModelCard.from_dict(make_card(conditions={"lesion": ["a", "b"]})), "cpu")
    with pytest.raises(PluginError, match="needs 2 outputs"):
        OnnxGenerator(path, ModelCard.from_dict(make_card(outputs="image+mask")), "cpu")
    with pytest.raises(PluginError, match="output has shape"):
        OnnxGenerator(path, ModelCard.from_dict(make_card(image_size=[4, 4, 1])), "cpu").generate([1])
    symbolic = noise_graph(tmp_path / "s.onnx", latent="k")
    with pytest.raises(PluginError, match="onnx.latent_shape"):
        OnnxGenerator(symbolic, ModelCard.from_dict(make_card()), "cpu")
    card = ModelCard.from_dict(make_card(onnx={"file": "s.onnx", "latent_shape": [LATENT]}))
    assert OnnxGenerator(symbolic, card, "cpu").generate([1]).images.shape == (1, 4, 4, 1)
    with pytest.raises(PluginError, match="generates from noise"):
        OnnxGenerator(path, ModelCard.from_dict(make_card(input="image")), "cpu")


@pytest.mark.parametrize(("section", "message"), [
    ({"file": "../g.onnx"}, "relative path"),
    ({"file": "g.onnx", "layout": "CHW"}, "layout must be one of NCHW, NHWC"),
    ({"file": "g.onnx", "output_range": [1, -1]}, "low < high"),
    ({"file": "g.onnx", "dtype": "int8"}, "dtype must be one of"),
    ({"file": "g.onnx", "sha256": "abc"}, "64 hexadecimal digits"),
    ({"file": "g.onnx", "latent_shape": [0]}, "positive whole numbers"),
    ({"file": "g.onnx", "colour": "red"}, "unknown key"),
    ({"layout": "NCHW"}, "say where the graph is"),
])
def test_bad_onnx_sections_name_the_problem(section, message):
    with pytest.raises(CardError, match=message) as info:
        parse_spec(ModelCard.from_dict(make_card(onnx=section)))
    assert "onnx-test" in str(info.value) and "'onnx'" in str(info.value)


def test_cuda_without_a_cuda_build_names_the_package(tmp_path):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    path = noise_graph(tmp_path / "g.onnx")
    with pytest.raises(FrameworkMissingError, match="pip install onnxruntime-gpu"):
        OnnxGenerator(path, ModelCard.from_dict(make_card()), "cuda:0")
    with pytest.raises(medigan_host.MediganUsageError, match="--device cpu"):
        OnnxGenerator(path, ModelCard.from_dict(make_card()), "mps")


def test_bad_folder_cards_are_reported_and_good_ones_kept(folder):
    add_model(folder, make_card())
    (folder / "broken.json").write_text("{not json")
    (folder / "torchy.json").write_text(json.dumps(make_card("torchy", framework="pytorch")))
    medigan_host.reset_host()
    with pytest.warns(medigan_host.PluginWarning) as caught:
        ids = [c.id for c in medigan_host.list_models()]
    assert "onnx-test" in ids and "torchy" not in ids
    text = " ".join(str(w.message) for w in caught)
    assert "broken.json" in text and "torchy.json" in text and "must say 'onnx'" in text


def test_weights_entries_are_fetched_and_verified_by_the_host(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    graph = noise_graph(tmp_path / "shared" / "g.onnx")
    digest = sha256(graph)
    card = ModelCard.from_dict(make_card(onnx={}, weights=[{"url": graph.as_uri(), "sha256": digest}]))
    assert load(card, "cpu").generate([1]).images.shape == (1, 4, 4, 1)
    two = ModelCard.from_dict(make_card(onnx={}, weights=[{"url": graph.as_uri(), "sha256": digest},
                                                           {"url": (tmp_path / "b.onnx").as_uri(), "sha256": digest}]))
    with pytest.raises(PluginError, match="which weights entry"):
        load(two, "cpu")
    bad = ModelCard.from_dict(make_card(onnx={"file": "g.onnx"}, weights=[{"url": graph.as_uri(), "sha256": "1" * 64}]))
    with pytest.raises(medigan_host.WeightsError, match="the card says 1111"):
        load(bad, "cpu")


def test_intra_op_threads_follow_omp_num_threads(tmp_path, monkeypatch):
    """A process given N cores (a Ray worker gets OMP_NUM_THREADS=its CPUs) runs onnxruntime on N threads."""
    path, card = noise_graph(tmp_path / "g.onnx"), ModelCard.from_dict(make_card())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    limited = OnnxGenerator(path, card, "cpu")
    assert limited.session.get_session_options().intra_op_num_threads == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    default = OnnxGenerator(path, card, "cpu")
    assert default.session.get_session_options().intra_op_num_threads == 0  # onnxruntime's own choice
    assert np.array_equal(limited.generate([3, 4]).images, default.generate([3, 4]).images)
