"""Honest small samples, FID∞, KID's standard error, the memorisation verdict, sets of different kinds, one name for
memorisation, and the study's cells without information (NumPy extractor only)."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from conftest import run_cli

import medigan_host as mg
from medigan_host.catalog.ranking import canonical_metric, metric_direction, rank_entries
from medigan_host.evaluation.evaluate import SMALL_N, EvaluationWarning, evaluate
from medigan_host.evaluation.memorization import LEVELS, integrated, memorization, smaller_test
from medigan_host.evaluation.metrics import fid_infinity, frechet_distance, frechet_from_features, kernel_distance, kid_jackknife


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders: head-CT phantoms (seeds 1, 2; 60 images) and breast phantoms (12)."""
    root = tmp_path_factory.mktemp("runs")
    for name, model, seed, n in (("ct1", "ct-head-phantom", 1, 60), ("ct2", "ct-head-phantom", 2, 60),
                                 ("breast", "mammo-breast-phantom", 3, 12)):
        mg.generate(model, n, root / name, seed=seed, batch_size=60)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


# -- tiny samples ------------------------------------------------------------------------------------------------
def test_tiny_samples_warn_on_the_terminal_and_in_every_record(runs, cache):
    with pytest.warns(EvaluationWarning) as caught:
        records = evaluate(real=runs / "ct1", fake=runs / "ct2", n=5, metrics=("fid", "kid", "precision", "recall"))
    shown = " | ".join(str(w.message) for w in caught)
    by_metric = {r.metric: r for r in records}
    for metric in ("fid", "kid", "precision", "recall"):
        notes = by_metric[metric].details["warnings"]
        assert any(f"{metric} from 5 images (fewer than {SMALL_N[metric]})" in note for note in notes), notes
        assert all(note in shown for note in notes)
    assert any("biased upwards" in note for note in by_metric["fid"].details["warnings"])
    # KID at n = 5: each subset holds every generated image, so its std is the jackknife standard error on all images
    kid = by_metric["kid"].details
    assert "jackknife" in kid["std_method"] and kid["std"] > 0 and kid["n_fake_jackknife"] == 5


def test_enough_images_give_no_small_sample_warning(runs, cache):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = evaluate(real=runs / "ct1", fake=runs / "ct2", metrics=("kid",), kid_subset_size=20)
    assert not [w for w in caught if issubclass(w.category, EvaluationWarning)]
    assert "warnings" not in records[0].details and records[0].details["std"] == records[0].details["std_subsets"]


def test_the_cli_prints_the_small_sample_warnings_and_fid_infinity(runs, cache):
    result = run_cli("evaluate", "--fake", str(runs / "ct2"), "--real", str(runs / "ct1"), "-n", "30",
                     "--metric", "fid", env={**os.environ, "MEDIGAN_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert "warning: fid from 30 images (fewer than 50)" in result.stderr
    assert "fid_infinity" in result.stdout and "Chong and Forsyth" in result.stdout


# -- FID∞ and the features route ---------------------------------------------------------------------------------
def test_frechet_from_features_equals_the_covariance_formula():
    rng = np.random.default_rng(0)
    for n1, n2, dim in ((40, 30, 64), (200, 150, 16)):  # fewer images than dimensions, and more
        a, b = rng.standard_normal((n1, dim)), rng.standard_normal((n2, dim)) * 1.3 + 0.2
        expected = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        assert frechet_from_features(a, b) == pytest.approx(expected, rel=1e-9)


def test_fid_infinity_removes_the_dependence_on_the_number_of_images():
    rng = np.random.default_rng(1)
    dim, shift = 48, 0.25
    true_fid = dim * shift ** 2  # equal covariances: only the means differ

    def draw(n):
        return rng.standard_normal((n, dim)) + shift, rng.standard_normal((n, dim))

    plain = {n: frechet_from_features(*draw(n)) for n in (100, 400)}
    infinite = {n: fid_infinity(*draw(n), seed=n).value for n in (100, 400)}
    assert plain[100] > plain[400] > true_fid * 1.5  # the plain FID is biased, more at smaller n
    for n, value in infinite.items():
        assert abs(value - true_fid) < 0.35 * abs(plain[n] - true_fid), (n, value, plain[n])
    fit = fid_infinity(*draw(200))
    assert len(fit.sizes) == 15 and fit.sizes[0] == 40 and fit.sizes[-1] == 200 and fit.r_squared > 0.9


def test_fid_records_carry_fid_infinity(runs, cache):
    record = evaluate(real=runs / "ct1", fake=runs / "ct2", metrics=("fid",))[0]
    fit = record.details["fid_infinity_fit"]
    slope, intercept = np.polyfit(1.0 / np.asarray(fit["sizes"], dtype=float), fit["fids"], 1)
    assert record.details["fid_infinity"] == pytest.approx(intercept) and fit["slope"] == pytest.approx(slope)
    assert fit["fids"][-1] == pytest.approx(record.value, rel=1e-6)  # all 60 images: the plain FID
    assert fit["sizes"][-1] == 60 and len(fit["fids"]) == len(fit["sizes"])
    tiny = evaluate(real=runs / "ct1", fake=runs / "ct2", n=8, metrics=("fid",))[0]
    assert tiny.details["fid_infinity"] is None and "at least 20" in tiny.details["fid_infinity_fit"]["skipped"]


# -- KID's standard error -------------------------------------------------------------------------------------------
def test_kid_jackknife_matches_the_full_set_estimate_and_its_spread():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((30, 8)), rng.standard_normal((25, 8)) + 0.5
    whole = kernel_distance(x, y, subsets=3, subset_size=100)  # subsets of the smaller set's size: all of y
    jack = kid_jackknife(x[:25], y)
    assert jack.value == pytest.approx(kernel_distance(x[:25], y, subsets=1, subset_size=25).mean, rel=1e-9)
    assert whole.subset_size == 25
    values, errors = [], []
    for _ in range(200):  # the standard error estimates the spread of the estimate over repeated draws
        result = kid_jackknife(rng.standard_normal((30, 8)), rng.standard_normal((30, 8)) + 0.5)
        values.append(result.value)
        errors.append(result.standard_error)
    assert 0.75 < np.mean(errors) / np.std(values) < 1.33


# -- memorisation verdict --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(3)
    train, held = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
    picks = rng.choice(200, 200)
    return {"train": train, "held": held, "exact": train[picks].copy(),
            "noised": train[picks] + 0.15 * rng.standard_normal((200, 8)), "honest": rng.standard_normal((200, 8))}


@pytest.mark.parametrize("kind, expected", [("exact", "memorises"), ("noised", "memorises"),
                                            ("honest", "no evidence of memorisation")])
def test_memorisation_verdict_on_copies_noised_copies_and_an_honest_set(features, kind, expected):
    result = memorization(features[kind], features["train"], features["held"])
    verdict = result.verdict
    assert verdict["verdict"] == expected
    if expected == "memorises":
        assert verdict["p_value"] < 1e-6 and verdict["effect_size"] > 0.9
    else:
        assert verdict["p_value"] > 0.01 and 0.4 < verdict["effect_size"] < 0.6
    assert 0.0 <= result.alpha_precision <= 1.0 and 0.0 <= result.beta_recall <= 1.0


def test_without_held_out_images_the_verdict_is_untested(features):
    verdict = memorization(features["exact"], features["train"]).verdict
    assert verdict["verdict"] == "untested" and "--holdout" in verdict["reason"]


def test_beta_recall_is_never_below_zero_and_integrals_follow_the_reference():
    assert integrated(LEVELS) == 1.0
    worst = np.where(LEVELS < 0.5, 1.0, 0.0)  # a curve as far from the diagonal as it gets: would be negative
    assert 1.0 - np.abs(LEVELS - worst).sum() / LEVELS.sum() < 0 and integrated(worst) == 0.0
    rng = np.random.default_rng(4)
    real = rng.standard_normal((100, 6))
    for fake in (rng.standard_normal((100, 6)) * 0.01, rng.standard_normal((100, 6)) + 5.0, real[:50] * 1.0001,
                 rng.standard_normal((30, 6)) * 3.0):
        result = memorization(fake, real)
        assert 0.0 <= result.beta_recall <= 1.0 and 0.0 <= result.alpha_precision <= 1.0


def test_the_u_test_matches_a_direct_count():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(40).round(1), rng.standard_normal(50).round(1) + 0.4  # with ties
    u, p, effect = smaller_test(x, y)
    direct = sum((a < b) + 0.5 * (a == b) for a in x for b in y)
    assert u == pytest.approx(direct) and effect == pytest.approx(direct / 2000) and 0 < p < 0.05
    scipy_stats = pytest.importorskip("scipy.stats")
    assert p == pytest.approx(scipy_stats.mannwhitneyu(x, y, alternative="less").pvalue, rel=1e-9)


def test_the_memorisation_record_and_the_cli_give_the_verdict(runs, cache, tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    for i in range(30):  # exact copies of the training images
        (fake / f"{i:03d}.png").write_bytes((runs / f"ct1/images/{i:06d}.png").read_bytes())
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(cache)}
    result = run_cli("evaluate", "--fake", str(fake), "--real", str(runs / "ct1"), "--metric", "memorisation",
                     "--holdout", str(runs / "ct2"), "--window", "1004,1124", "--json", env=env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)[0]
    assert record["metric"] == "memorization" and record["verdict"] == "memorises"
    assert record["p_value"] < 1e-6 and record["effect_size"] > 0.9 and record["beta_recall"] >= 0
    shown = run_cli("evaluate", "--fake", str(runs / "ct2"), "--real", str(runs / "ct1"), "--metric", "memorization",
                    "--holdout", str(runs / "ct2"), env=env)
    assert shown.returncode == 0 and "memorization verdict:" in shown.stdout and "p = " in shown.stdout


# -- sets of different kinds ---------------------------------------------------------------------------------------
def test_sets_of_different_modality_channels_or_size_are_warned_about(runs, cache, tmp_path):
    from PIL import Image

    rgb = tmp_path / "rgb"
    rgb.mkdir()
    rng = np.random.default_rng(6)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(rgb / f"{i:02d}.png")
    with pytest.warns(EvaluationWarning) as caught:
        records = evaluate(real=runs / "ct1", fake=runs / "breast", metrics=("fid",), window="minmax")
    assert any("mammography and the real ones ct" in str(w.message) for w in caught)
    assert any("modalities" in note for note in records[0].details["warnings"])
    assert records[0].fake["modality"] == "mammography" and records[0].real["modality"] == "ct"
    with pytest.warns(EvaluationWarning) as caught:
        records = evaluate(real=runs / "ct1", fake=rgb, metrics=("fid",), window="minmax")
    notes = records[0].details["warnings"]
    assert any("3 channel(s) and the real ones 1" in note for note in notes)
    assert any("48x48" in note and "size class" in note for note in notes)  # against 256x256 CT slices
    assert records[0].fake["channels"] == 3 and records[0].fake["image_size"] == [48, 48]
    same = evaluate(real=runs / "ct1", fake=runs / "ct2", metrics=("fid",))[0]
    assert not any("modalit" in n or "channel" in n for n in same.details.get("warnings", []))


# -- one name and one direction for memorisation --------------------------------------------------------------------
def test_memorisation_has_one_name_and_higher_is_better():
    assert canonical_metric("memorisation") == "memorization" == canonical_metric("Memorisation")
    assert metric_direction("memorization") == "higher" and metric_direction("authenticity") == "higher"
    from medigan_host.api import installed_catalog

    ranking = rank_entries(installed_catalog(), "memorisation")
    assert ranking.metric == "memorization" and ranking.order == "desc" and ranking.direction == "higher"


def test_rank_accepts_either_spelling_on_the_cli(cache):
    for spelling in ("memorisation", "memorization"):
        result = run_cli("rank", "--metric", spelling, "--json", env={**os.environ, "MEDIGAN_CACHE_DIR": str(cache)})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["metric"] == "memorization"


# -- the study ---------------------------------------------------------------------------------------------------------
def test_study_marks_cells_without_information_and_gives_reasons(runs, cache, tmp_path):
    from medigan_host.evaluation.study import fid_study, write_outputs

    result = fid_study(["ct-head-phantom"], runs / "ct1", n=12, normalizations=["unit", "symmetric"])
    unit, symmetric = result.rows
    assert not unit["note"].startswith("no information")
    assert symmetric["note"].startswith("no information: its features are 2")
    facts = result.records[1].details["no_information"]
    assert facts["same_as_normalization"] == "unit" and facts["fid_ratio"] == pytest.approx(4.0, rel=0.05)
    assert "not comparable with published FIDs: pcanet-phantoms is not the reference" in unit["note"]
    written = write_outputs(result, tmp_path / "study", plot=False)
    text = (tmp_path / "study" / "study.csv").read_text()
    assert "no information" in text and "is not the reference FID network" in text and len(written) == 2
