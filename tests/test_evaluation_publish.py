"""Evaluation you can publish: run folders as image sets, declared intensity windows, comparability, extractor
weights from the CLI, the study with skipped cells, KID's subset size and memorisation (NumPy extractor only)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import warnings

import numpy as np
import pytest
from conftest import run_cli

import medigan_host as mg
from medigan_host.devkit.weights_server import WeightsServer
from medigan_host.errors import FrameworkMissingError, MediganUsageError, WeightsError
from medigan_host.evaluation.evaluate import EvaluationWarning, evaluate
from medigan_host.evaluation.extractors import load_extractor
from medigan_host.evaluation.memorization import memorization


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders of head-CT phantoms (uint16, HU + 1024; seeds 1 and 2) and of breast phantoms, 24 images each."""
    root = tmp_path_factory.mktemp("runs")
    for name, model, seed in (("ct1", "ct-head-phantom", 1), ("ct2", "ct-head-phantom", 2),
                              ("breast", "mammo-breast-phantom", 3)):
        mg.generate(model, 24, root / name, seed=seed, batch_size=24)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _env(cache_dir, **extra):
    return {**os.environ, "MEDIGAN_CACHE_DIR": str(cache_dir), **extra}


# -- run folders and windows (issue points 2, 13) ---------------------------------------------------------------
def test_run_folders_are_image_sets_in_manifest_order_windowed_with_the_card_range(runs, cache):
    result = run_cli("evaluate", "--fake", str(runs / "ct2"), "--real", str(runs / "ct1"), "--metric", "fid", "--json",
                     env=_env(cache))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)[0]
    assert record["n_fake"] == record["n_real"] == 24
    for side in ("fake", "real"):
        assert record[side]["window"] == {"low": 1004.0, "high": 1124.0,
                                          "source": "display_range of ct-head-phantom (model card)"}
    same_images = evaluate(real=runs / "ct1/images", fake=runs / "ct2/images", metrics=("fid",))[0]
    assert same_images.value == pytest.approx(record["value"], rel=1e-12)  # the run's images/ folder: the same set
    assert same_images.real["sha256"] == record["real"]["sha256"]


def test_a_run_folder_follows_its_manifest_not_file_names(runs, cache, tmp_path):
    from medigan_host.evaluation.features import image_files

    run = tmp_path / "run"
    shutil.copytree(runs / "breast", run)
    lines = (run / "manifest.jsonl").read_text().splitlines()
    (run / "manifest.jsonl").write_text("\n".join(lines[:5][::-1]) + "\n")  # an unfinished run, appended out of order
    files, window = image_files(run)
    assert [p.name for p in files] == [f"{i:06d}.png" for i in range(5)] and window is None
    (run / "images/000003.png").unlink()
    with pytest.raises(MediganUsageError, match="missing.*--resume"):
        image_files(run)


def test_a_folder_without_images_names_the_folders_below_that_hold_some(runs, cache):
    result = run_cli("evaluate", "--fake", str(runs), "--real", str(runs / "ct1"), env=_env(cache))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "holds no images" in result.stderr and "images were found below it" in result.stderr
    assert f"{runs / 'ct1'} (a medigan run)" in result.stderr and "masks" not in result.stderr


def test_sixteen_bit_images_without_a_range_are_refused_or_take_the_declared_window(runs, cache, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(runs / "ct1/images", plain)  # CT PNGs copied out of their run: no range known
    with pytest.raises(MediganUsageError, match="value range of uint16 images is unknown.*--window"):
        evaluate(real=plain, fake=runs / "breast", metrics=("fid",))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = evaluate(real=plain, fake=runs / "ct2", metrics=("fid",))[0]  # same dtype: the run's window is taken
    assert record.real["window"]["low"] == 1004.0 and "taken for the real images" in record.real["window"]["source"]
    assert any(issubclass(w.category, EvaluationWarning) and "declare no value range" in str(w.message) for w in caught)
    explicit = evaluate(real=plain, fake=runs / "ct2", metrics=("fid",), window="1004,1124")[0]
    assert explicit.value == pytest.approx(record.value, rel=1e-12)
    assert explicit.real["window"]["source"] == "--window 1004,1124"
    old_squash = evaluate(real=plain, fake=runs / "ct2", metrics=("fid",), window="0,65535")[0]
    assert old_squash.value != pytest.approx(record.value)  # the window changes the number, hence it is recorded
    model = evaluate(real=runs / "ct1", model="ct-head-phantom", n=8, metrics=("fid",))[0]
    assert model.fake["window"]["source"] == "display_range of ct-head-phantom (model card)"


def test_a_nifti_files_own_window_is_used(cache, tmp_path):
    nibabel = pytest.importorskip("nibabel")
    folder = tmp_path / "nii"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        image = nibabel.Nifti1Image(rng.integers(-1000, 1000, (16, 16, 1)).astype(np.int16), np.eye(4))
        image.header["cal_min"], image.header["cal_max"] = -100, 200
        nibabel.save(image, folder / f"{i}.nii.gz")
    record = evaluate(real=folder, fake=folder, metrics=("fid",))[0]
    assert record.real["window"] == {"low": -100.0, "high": 200.0, "source": "NIfTI cal_min/cal_max of 0.nii.gz"}


def test_a_dicom_files_own_window_is_used(cache, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    mg.generate("ct-head-phantom", 4, tmp_path / "run", seed=5, batch_size=4, format="dicom")
    files = sorted((tmp_path / "run/images").glob("*.dcm"))
    dataset = pydicom.dcmread(files[0])
    dataset.WindowCenter, dataset.WindowWidth = 1064, 120
    dataset.save_as(files[0])
    record = evaluate(real=tmp_path / "run", fake=tmp_path / "run/images", metrics=("fid",))[0]
    for side in (record.real, record.fake):
        assert side["window"] == {"low": 1004.0, "high": 1124.0, "source": f"DICOM Window Center/Width of {files[0].name}"}


# -- comparability, extractor weights (points 3, 6) -------------------------------------------------------------
def test_records_and_listing_say_whether_a_fid_is_comparable(runs, cache):
    record = evaluate(real=runs / "ct1", fake=runs / "ct2", metrics=("fid",))[0].to_dict()
    assert record["comparable_with_published_fid"] is False and "inception-v3-fid" in record["not_comparable_because"]
    listing = run_cli("extractors", env=_env(cache))
    assert listing.returncode == 0 and "COMPARABLE" in listing.stdout
    rows = {line.split()[0]: line.split() for line in listing.stdout.splitlines()[2:] if line.strip()}
    assert "yes" in rows["inception-v3-fid"] and "no" in rows["pcanet-phantoms"]
    assert "medigan fetch --extractor inception-v3-fid" in listing.stdout
    shown = run_cli("evaluate", "--fake", str(runs / "ct2"), "--real", str(runs / "ct1"), "--metric", "fid",
                    env=_env(cache))
    assert "FID comparable with published FIDs: no" in shown.stdout


def test_fetch_an_extractor_offline_names_the_file_and_the_folder(cache):
    result = run_cli("fetch", "--extractor", "inception-v3-fid", env=_env(cache, MEDIGAN_OFFLINE="1"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "feature extractor 'inception-v3-fid'" in result.stderr and "model 'inception" not in result.stderr
    assert "pt_inception-2015-12-05-6726825d.pth" in result.stderr
    assert str(cache / "inception-v3-fid" / "2015.12.05") in result.stderr
    nothing = run_cli("fetch", env=_env(cache))
    assert nothing.returncode == 2 and "--extractor" in nothing.stderr


EXTRACTOR_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_feature_extractors(register):
    register({{"name": "served-pcanet", "description": "pcanet weights from a server", "framework": "numpy",
              "input_size": [64, 64], "channels": 1, "feature_dim": 192, "normalization": "unit", "resize": "antialias",
              "weights": [{{"url": "{url}", "sha256": "{sha}", "filename": "served.npz"}}]}},
             "medigan_host.evaluation.pcanet:load")
'''


def test_fetch_extractor_downloads_verifies_and_then_works_offline(site, cache, runs):
    weights = mg.fetch_weights(load_extractor("pcanet-phantoms").spec.card).read_bytes()
    with WeightsServer({"/served.npz": weights}) as server:
        site.add("served", EXTRACTOR_PLUGIN.format(url=server.url("/served.npz"), sha=hashlib.sha256(weights).hexdigest()))
        result = run_cli("fetch", "--extractor", "served-pcanet", "--json", env=site.env(MEDIGAN_CACHE_DIR=str(cache)))
        assert result.returncode == 0, result.stderr
        assert server.requests == ["/served.npz"]
    entry = json.loads(result.stdout)[0]
    assert entry["extractor"] == "served-pcanet" and entry["status"] == "downloaded"
    offline = run_cli("evaluate", "--fake", str(runs / "ct2"), "--real", str(runs / "ct1"), "--extractor", "served-pcanet",
                      "--metric", "fid", "--json", env=site.env(MEDIGAN_CACHE_DIR=str(cache), MEDIGAN_OFFLINE="1"))
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)[0]["extractor_weights_sha256"] == hashlib.sha256(weights).hexdigest()


def test_a_missing_framework_is_reported_before_any_download(cache, monkeypatch):
    from medigan_host import frameworks

    monkeypatch.setitem(frameworks.FRAMEWORK_PACKAGES, "pytorch", ("torch_is_not_installed_here", "torch==2.13.0"))
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")  # a download attempt would raise WeightsError instead
    with pytest.raises(FrameworkMissingError, match="feature extractor 'inception-v3-fid' needs pytorch"):
        load_extractor("inception-v3-fid")
    assert not (cache / "inception-v3-fid").exists()


@pytest.mark.torch  # the torch extractors' weights: checked once torch is there to load them
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch (the torch session)")
def test_a_missing_extractor_weights_file_is_called_an_extractor(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    with pytest.raises(WeightsError) as error:
        load_extractor("inception-v3-fid")
    assert str(error.value).startswith("feature extractor 'inception-v3-fid' needs weights")


# -- KID (point 6) --------------------------------------------------------------------------------------------------
def test_kid_with_fewer_images_than_its_subset_size_warns_and_records_it(runs, cache):
    with pytest.warns(EvaluationWarning, match="subset size lowered from 1000 to 24"):
        kid = evaluate(real=runs / "ct1", fake=runs / "ct2", metrics=("kid",))[0]
    assert kid.details["subset_size"] == 24 and kid.details["subset_size_requested"] == 1000
    assert "subset size lowered" in kid.details["warning"]
    # subsets holding the whole set do not differ: the std is then the jackknife standard error on all images
    assert kid.details["std_subsets"] < 1e-9 < kid.details["std"] and "jackknife" in kid.details["std_method"]
    assert kid.details["kid_all_images"] == pytest.approx(kid.value, rel=1e-9, abs=1e-12)
    fine = evaluate(real=runs / "ct1", fake=runs / "ct2", metrics=("kid",), kid_subset_size=10)[0]
    assert "subset size" not in fine.details["warning"] and fine.details["subset_size"] == 10
    assert fine.details["std"] == fine.details["std_subsets"] > 1e-6 and "subsets" in fine.details["std_method"]
    shown = run_cli("evaluate", "--fake", str(runs / "ct2"), "--real", str(runs / "ct1"), "--metric", "kid",
                    env=_env(cache))
    assert shown.returncode == 0 and "warning: KID subset size lowered" in shown.stderr


# -- outputs (issue 13) ---------------------------------------------------------------------------------------------
def test_dash_o_is_a_folder_and_output_file_one_file(runs, cache, tmp_path):
    old = run_cli("evaluate", "--fake", str(runs / "ct2"), "--real", str(runs / "ct1"), "-o", str(tmp_path / "r.json"),
                  env=_env(cache))
    assert old.returncode == 2 and "--output-file" in old.stderr and not (tmp_path / "r.json").exists()
    (tmp_path / "file").write_text("keep me")
    study = run_cli("study", "fid", "--models", "ct-head-phantom", "--real", str(runs / "ct1"), "-n", "4",
                    "-o", str(tmp_path / "file"), env=_env(cache))
    assert study.returncode == 2 and "--output-file" in study.stderr and (tmp_path / "file").read_text() == "keep me"


# -- the study (point 4, issue 13) --------------------------------------------------------------------------------
def test_study_skips_invalid_combinations_with_a_note_in_table_csv_json_and_plot(runs, cache, tmp_path):
    out = tmp_path / "study"
    result = run_cli("study", "fid", "--models", "ct-head-phantom,mammo-breast-phantom", "--real", str(runs / "ct1"),
                     "--extractors", "pcanet-phantoms", "--normalizations", "unit,symmetric,imagenet", "-n", "8",
                     "-o", str(out), "--output-file", str(tmp_path / "records.json"), env=_env(cache))
    assert result.returncode == 0, result.stderr
    assert "skipped: pcanet-phantoms x imagenet: normalisation 'imagenet' needs an RGB extractor" in result.stdout
    lines = (out / "study.csv").read_text().splitlines()
    assert len(lines) == 7 and sum("skipped" in line for line in lines) == 2
    records = json.loads((out / "study.json").read_text())
    assert [r for r in records if "skipped" in r] and len([r for r in records if "metric" in r]) == 4
    assert len(json.loads((tmp_path / "records.json").read_text())) == 4
    if _has_matplotlib():
        assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.torch  # the torch extractors' weights: checked once torch is there to load them
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch (the torch session)")
def test_study_takes_extractor_weights_by_name(runs, cache, tmp_path):
    copy = tmp_path / "pcanet-copy.npz"
    shutil.copyfile(mg.fetch_weights(load_extractor("pcanet-phantoms").spec.card), copy)
    result = run_cli("study", "fid", "--models", "ct-head-phantom", "--real", str(runs / "ct1"), "-n", "4",
                     "--extractor-weights", f"pcanet-phantoms={copy}", "--json", env=_env(cache))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["extractor_weights_sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    wrong = run_cli("study", "fid", "--models", "ct-head-phantom", "--real", str(runs / "ct1"), "-n", "4",
                    "--extractors", "pcanet-phantoms,inception-v3-fid", "--extractor-weights", str(copy), env=_env(cache))
    assert wrong.returncode == 2 and "NAME=FILE" in wrong.stderr
    radimagenet = run_cli("study", "fid", "--models", "ct-head-phantom", "--real", str(runs / "ct1"), "-n", "4",
                          "--extractors", "radimagenet-resnet50", env=_env(cache))
    assert radimagenet.returncode == 1 and "--extractor-weights radimagenet-resnet50=FILE" in radimagenet.stderr


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


# -- memorisation (point 5) -----------------------------------------------------------------------------------------
def test_memorization_scores_follow_their_definitions():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 8))
    copies = real[:30] + 1e-6 * rng.standard_normal((30, 8))  # near-exact copies of training samples
    fresh = rng.standard_normal((70, 8))
    result = memorization(np.concatenate([copies, fresh]), real, holdout=rng.standard_normal((100, 8)))
    assert result.copies[:30].all() and np.array_equal(result.nearest[:30], np.arange(30))
    expected = 1 - (30 + result.copies[30:].sum()) / 100
    assert result.authenticity == pytest.approx(expected)
    assert result.holdout_copies is not None and result.holdout_copies < 0.8  # new real images are mostly not copies
    # alpha-precision and beta-recall: same distribution scores near 1, a shifted one clearly lower
    same = memorization(rng.standard_normal((400, 8)), rng.standard_normal((400, 8)))
    shifted = memorization(rng.standard_normal((400, 8)) + 3.0, rng.standard_normal((400, 8)))
    assert same.alpha_precision > 0.8 and shifted.alpha_precision < 0.2 and shifted.beta_recall < same.beta_recall
    # the curve is the share of samples within the alpha-quantile radius around the real centre
    assert same.alpha_curve[0] <= 0.01 and same.alpha_curve[-1] >= 0.98


def test_memorization_on_the_cli_finds_copied_training_images(runs, cache, tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    for i in range(8):  # 8 copies of training images and 16 new images
        shutil.copyfile(runs / f"ct1/images/{i:06d}.png", fake / f"copy{i}.png")
    for i in range(16):
        shutil.copyfile(runs / f"ct2/images/{i:06d}.png", fake / f"new{i:02d}.png")
    out = tmp_path / "out"
    result = run_cli("evaluate", "--fake", str(fake), "--real", str(runs / "ct1"), "--metric", "memorization",
                     "--window", "1004,1124", "--holdout", str(runs / "ct2/images"), "-o", str(out), "--json",
                     env=_env(cache))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)[0]
    assert record["metric"] == "memorization" and record["value"] == record["authenticity"]
    copies = [n for n in record["nearest"] if n["fake"].split("/")[-1].startswith("copy")]
    assert all(n["copy"] and n["distance"] < 1e-3 * n["real_nearest_real_distance"] for n in copies)
    assert all(n["real"].endswith(f"{i:06d}.png") for i, n in enumerate(copies))
    assert record["copies"] >= 8 and record["value"] <= 16 / 24
    assert {n["fake"] for n in record["closest"][:8]} == {n["fake"] for n in copies}
    assert 0 <= record["holdout_copies"] <= 1 and record["n_holdout"] == 24
    assert -1 <= record["alpha_precision"] <= 1 and -1 <= record["beta_recall"] <= 1
    grid = out / "memorization.png"
    assert record["grid"] == str(grid) and grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "evaluation.json").read_text())[0]["metric"] == "memorization"
    text = run_cli("evaluate", "--fake", str(fake), "--real", str(runs / "ct1"), "--metric", "memorization",
                   "--window", "1004,1124", env=_env(cache))
    assert "memorization: authenticity" in text.stdout and "alpha-precision" in text.stdout
    stray = run_cli("evaluate", "--fake", str(fake), "--real", str(runs / "ct1"), "--holdout", str(fake), env=_env(cache))
    assert stray.returncode == 2 and "--metric memorization" in stray.stderr


def test_memorization_of_a_model_reads_its_samples_back_for_the_grid(runs, cache, tmp_path):
    record = evaluate(real=runs / "ct1", model="ct-head-phantom", n=6, metrics=("memorization",), seed=1,
                      output_dir=tmp_path)[0]
    # the same run seed as the training run ct1: every sample is one of its images
    assert record.details["copies"] == 6 and record.value == 0.0
    assert record.details["closest"][0]["fake"].startswith("ct-head-phantom sample")
    assert (tmp_path / "memorization.png").is_file()
