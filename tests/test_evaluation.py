"""`medigan evaluate`, `medigan extractors` and `medigan study fid`: records, the statistics cache, card metrics,
extractor plugins, and clear errors; all with the NumPy extractor that ships with the host."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import card, run_cli

import medigan_host as mg
from medigan_host.errors import MediganUsageError, WeightsError
from medigan_host.evaluation.evaluate import evaluate
from medigan_host.evaluation.extractors import list_extractors, load_extractor
from medigan_host.plugins import PluginWarning

RECORD_FIELDS = {"metric", "value", "n_fake", "n_real", "fake", "real", "extractor", "extractor_weights_sha256",
                 "normalization", "resize", "host_version", "time"}


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    """Two folders of head-CT phantoms (different seeds) and one of breast phantoms, 24 PNGs each."""
    root = tmp_path_factory.mktemp("eval")
    for name, model, seed in (("real", "ct-head-phantom", 1), ("fake", "ct-head-phantom", 2), ("breast", "mammo-breast-phantom", 3)):
        mg.generate(model, 24, root / name, seed=seed, batch_size=24)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _env(cache_dir, **extra):
    return {**os.environ, "MEDIGAN_CACHE_DIR": str(cache_dir), **extra}


def test_evaluate_folders_gives_complete_records_and_caches_their_statistics(image_sets, cache, tmp_path):
    out = tmp_path / "result.json"
    args = ["evaluate", "--fake", str(image_sets / "fake/images"), "--real", str(image_sets / "real/images"), "--json"]
    first = run_cli(*args, "--output-file", str(out), "-o", str(tmp_path / "folder"), env=_env(cache, MEDIGAN_OFFLINE="1"))
    assert first.returncode == 0, first.stderr
    records = json.loads(first.stdout)
    assert [r["metric"] for r in records] == ["fid", "kid", "precision", "recall"]
    for record in records:
        assert RECORD_FIELDS <= set(record)
        assert record["n_fake"] == record["n_real"] == 24
        assert len(record["fake"]["sha256"]) == len(record["real"]["sha256"]) == 64
        assert record["extractor"] == "pcanet-phantoms" and record["normalization"] == "unit"
    assert records[0]["real"]["stats_cached"] is records[0]["fake"]["stats_cached"] is False
    assert json.loads(out.read_text()) == records == json.loads((tmp_path / "folder/evaluation.json").read_text())
    assert len(list((cache / "stats").glob("*.npz"))) == 2  # the real folder's and the fake folder's
    second = json.loads(run_cli(*args, env=_env(cache)).stdout)
    assert second[0]["real"]["stats_cached"] is second[0]["fake"]["stats_cached"] is True
    for old, new in zip(records, second, strict=True):
        assert new["value"] == pytest.approx(old["value"], rel=1e-12)
        assert (new["real"]["sha256"], new["fake"]["sha256"]) == (old["real"]["sha256"], old["fake"]["sha256"])
    swapped = json.loads(run_cli("evaluate", "--fake", str(image_sets / "real/images"), "--real",
                                 str(image_sets / "fake/images"), "--json", env=_env(cache)).stdout)
    assert swapped[0]["real"]["stats_cached"] is swapped[0]["fake"]["stats_cached"] is True  # a folder is one entry
    uncached = json.loads(run_cli(*args, "--no-cache", env=_env(cache)).stdout)
    assert uncached[0]["real"]["stats_cached"] is uncached[0]["fake"]["stats_cached"] is False
    assert uncached[0]["value"] == pytest.approx(records[0]["value"], rel=1e-12)


def test_fid_separates_modalities_and_depends_on_the_named_options(image_sets, cache):
    real = image_sets / "real/images"
    same = mg.evaluate(real=real, fake=image_sets / "fake/images", metrics=("fid",))[0].value  # the public name
    other = evaluate(real=real, fake=image_sets / "breast/images", metrics=("fid",))[0].value
    assert 0 <= same < other / 100
    bicubic = evaluate(real=real, fake=image_sets / "breast/images", metrics=("fid",), resize="bicubic",
                       normalization="symmetric")[0]
    assert (bicubic.extractor["resize"], bicubic.extractor["normalization"]) == ("bicubic", "symmetric")
    assert bicubic.value != pytest.approx(other)


def test_a_changed_real_folder_is_not_served_from_the_cache(image_sets, cache, tmp_path):
    import shutil

    real = tmp_path / "real"
    shutil.copytree(image_sets / "real/images", real)
    fake = image_sets / "breast/images"
    before = evaluate(real=real, fake=fake, metrics=("fid",), window="0,4095")[0]  # a copy out of its run: no card range
    (real / "000000.png").unlink()
    after = evaluate(real=real, fake=fake, metrics=("fid",), window="0,4095")[0]
    assert after.real["stats_cached"] is False and after.real["n"] == 23
    assert after.real["sha256"] != before.real["sha256"]


def test_a_changed_fake_folder_is_not_served_from_the_cache_and_model_samples_never_are(image_sets, cache, tmp_path):
    import shutil

    fake = tmp_path / "fake"
    shutil.copytree(image_sets / "fake/images", fake)
    real = image_sets / "real/images"
    before = evaluate(real=real, fake=fake, metrics=("fid",))[0]
    assert evaluate(real=real, fake=fake, metrics=("fid",))[0].fake["stats_cached"] is True
    shutil.copyfile(image_sets / "breast/images/000000.png", fake / "000003.png")  # one image replaced
    after = evaluate(real=real, fake=fake, metrics=("fid",))[0]
    assert after.fake["stats_cached"] is False and after.fake["sha256"] != before.fake["sha256"]
    assert after.value != pytest.approx(before.value)
    generated = [evaluate(real=real, model="ct-head-phantom", n=12, metrics=("fid",))[0] for _ in range(2)]
    assert [g.fake["stats_cached"] for g in generated] == [False, False]


def test_evaluate_a_model_and_write_the_card_metrics(image_sets, cache, tmp_path):
    card_file = tmp_path / "card.json"
    card_file.write_text(json.dumps(card("my-model", metrics={"ssim": 0.5})))
    result = run_cli("evaluate", "mammo-breast-phantom", "-n", "12", "--real", str(image_sets / "breast/images"),
                     "--metric", "fid", "--metric", "kid", "--write-card", str(card_file), "--reference", "breast test set",
                     env=_env(cache))
    assert result.returncode == 0, result.stderr
    assert "fid" in result.stdout and "kid" in result.stdout and "precision" not in result.stdout
    written = json.loads(card_file.read_text())
    assert written["metrics"]["ssim"] == 0.5
    fid = mg.ModelCard.from_dict(written).metric("fid")
    assert fid["reference"] == "breast test set" and fid["extractor"] == "pcanet-phantoms" and fid["n"] == 12
    assert "std" in written["metrics"]["kid"]
    default_n = evaluate(real=image_sets / "breast/images", model="mammo-breast-phantom", metrics=("fid",))[0]
    assert default_n.fake["n"] == default_n.real["n"] == 24  # as many generated images as real ones


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--fake", "F"], "give --real"),
    (["evaluate", "ct-head-phantom", "--fake", "F", "--real", "R"], "not both"),
    (["evaluate", "--fake", "{fake}", "--real", "{real}", "--extractor", "pcanet-phantom"], "did you mean 'pcanet-phantoms'"),
    (["evaluate", "--fake", "{fake}", "--real", "{real}", "--normalization", "zscore"], "unknown normalisation"),
    (["evaluate", "--fake", "{fake}", "--real", "{fake}/missing"], "does not exist"),
    (["evaluate", "ct-lowdose-sim", "--real", "{real}"], "translates input images"),
    (["study", "fid", "--models", "ct-head-phantom,ct-lowdose-sim", "--real", "{real}"], "--inputs DIR -o OUT"),
])
def test_usage_errors_exit_2_with_a_clear_message(image_sets, cache, args, message):
    paths = {"fake": str(image_sets / "fake/images"), "real": str(image_sets / "real/images")}
    result = run_cli(*[a.format(**paths) for a in args], env=_env(cache))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.torch  # the torch extractors' weights: checked once torch is there to load them
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch (the torch session)")
def test_an_extractor_without_published_weights_asks_for_a_file(image_sets, cache):
    result = run_cli("evaluate", "--fake", str(image_sets / "fake/images"), "--real", str(image_sets / "real/images"),
                     "--extractor", "radimagenet-resnet50", env=_env(cache))
    assert result.returncode == 1 and "--extractor-weights" in result.stderr
    with pytest.raises(WeightsError, match="published sha256"):
        load_extractor("radimagenet-resnet50")


def test_the_shipped_extractor_is_verified_and_changes_are_caught(cache, monkeypatch, tmp_path):
    extractor = load_extractor("pcanet-phantoms")
    assert extractor.weights_sha256 == extractor.spec.weights[0]["sha256"]
    copy = tmp_path / "changed.npz"
    with np.load(mg.fetch_weights(extractor.spec.card)) as data:
        np.savez(copy, **{k: data[k] * (2 if k == "scale" else 1) for k in data.files})
    other = load_extractor("pcanet-phantoms", weights_file=copy)
    assert other.weights_sha256 != extractor.weights_sha256  # a user's file is hashed and recorded
    images = np.random.default_rng(0).integers(0, 255, (3, 80, 80, 3), dtype=np.uint8)
    np.testing.assert_allclose(other.features(images) * 2, extractor.features(images), rtol=1e-6)


PLUGIN = '''
import numpy as np
from medigan_host import hookimpl

def load(spec, weights, device):
    return lambda batch: batch.reshape(len(batch), -1)[:, :4]

@hookimpl
def medigan_register_feature_extractors(register):
    register({"name": "first-pixels", "description": "the first four pixels", "framework": "numpy",
              "input_size": [2, 2], "channels": 1, "feature_dim": 4, "normalization": "unit", "resize": "bilinear",
              "needs_weights": False}, "medigan_test_pix:load")
    register({"name": "Bad Name", "description": "d", "framework": "numpy", "input_size": [2, 2], "channels": 1,
              "feature_dim": 4, "normalization": "unit", "resize": "bilinear"}, load)
    register({"name": "pcanet-phantoms", "description": "a clash", "framework": "numpy", "input_size": [2, 2],
              "channels": 1, "feature_dim": 4, "normalization": "unit", "resize": "bilinear"}, load)
'''


def test_plugins_register_extractors_and_bad_ones_are_reported(site, host, image_sets, cache):
    site.add("pix", PLUGIN)
    site.add("boom", "from medigan_host import hookimpl\n\n@hookimpl\ndef medigan_register_feature_extractors(register):\n"
                     "    raise RuntimeError('broken extractor plugin')\n")
    host()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = [s.name for s in list_extractors()]
    assert names[:3] == ["pcanet-phantoms", "inception-v3-fid", "radimagenet-resnet50"] and "first-pixels" in names
    problems = " ".join(str(w.message) for w in caught if issubclass(w.category, PluginWarning))
    assert "Bad Name" in problems and "clashes" in problems and "broken extractor plugin" in problems
    records = evaluate(real=image_sets / "real/images", fake=image_sets / "breast/images", extractor="first-pixels",
                       metrics=("fid",))
    assert records[0].extractor["extractor_plugin"] == "pix" and records[0].extractor["feature_dim"] == 4
    assert records[0].extractor["extractor_weights_sha256"] == "none"


def test_extractors_json_and_the_old_list_option_points_there(cache):
    moved = run_cli("evaluate", "--list-extractors", env=_env(cache))
    assert moved.returncode == 2 and "medigan extractors" in moved.stderr and "Traceback" not in moved.stderr
    result = run_cli("extractors", "--json", env=_env(cache))
    assert result.returncode == 0, result.stderr
    specs = {s["name"]: s for s in json.loads(result.stdout)}
    assert specs["inception-v3-fid"]["weights"][0]["sha256"].startswith("6726825d")
    assert specs["pcanet-phantoms"]["framework"] == "numpy" and "phantoms" in specs["pcanet-phantoms"]["trained_on"]


def test_listing_extractors_and_evaluating_with_the_numpy_extractor_import_no_framework(site, image_sets, cache):
    for heavy in ("torch", "tensorflow", "onnxruntime"):
        (site.root / f"{heavy}.py").write_text("")
    folder = image_sets / "real/images"
    probe = ("import sys\nfrom medigan_host.cli import main\n"
             f"for args in (['extractors'], ['evaluate', '--fake', {str(folder)!r}, '--real', {str(folder)!r}, '-n', '8']):\n"
             "    try:\n        main(args)\n    except SystemExit as exc:\n        assert exc.code in (0, None), exc.code\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'tensorflow', 'onnxruntime'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=site.env(MEDIGAN_CACHE_DIR=str(cache)))
    assert result.returncode == 0, result.stderr
    assert "inception-v3-fid" in result.stdout and "precision" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_fid_study_writes_table_csv_json_and_plot(image_sets, cache, tmp_path):
    out = tmp_path / "study"
    with_plot = [] if _has_matplotlib() else ["--no-plot"]
    result = run_cli("study", "fid", "--models", "ct-head-phantom,mammo-breast-phantom", "--real", str(image_sets / "real/images"),
                     "--normalizations", "unit", "--normalizations", "symmetric", "-n", "12", "-o", str(out), *with_plot,
                     env=_env(cache))
    assert result.returncode == 0, result.stderr
    lines = (out / "study.csv").read_text().splitlines()
    assert lines[0].startswith("model,extractor,normalization,resize,fid") and len(lines) == 5
    assert "mammo-breast-phantom" in result.stdout and "symmetric" in result.stdout
    records = json.loads((out / "study.json").read_text())
    assert {r["normalization"] for r in records} == {"unit", "symmetric"} and all(r["n_fake"] == 12 for r in records)
    if not with_plot:
        assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def test_evaluate_rejects_volumes(cache, tmp_path):
    folder = tmp_path / "vol"
    folder.mkdir()
    for i in range(3):
        np.save(folder / f"{i}.npy", np.zeros((4, 8, 8, 1), np.float32))
    with pytest.raises(MediganUsageError, match="volume"):
        evaluate(real=folder, fake=folder, metrics=("fid",))


@pytest.mark.torch  # the torch extractors' weights: checked once torch is there to load them
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch (the torch session)")
def test_offline_says_which_file_to_place_where(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    with pytest.raises(WeightsError) as error:
        load_extractor("inception-v3-fid")
    message = str(error.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in message and str(cache / "inception-v3-fid") in message
