"""Search: relevance of a fixed set of queries over cards modelled on the original library, filters, the CLI,
and no framework import while searching or ranking."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import model_zoo
import pytest
from conftest import run_cli

import medigan_host
from medigan_host import MediganUsageError, search_models
from medigan_host.catalog.search import analyse, edit_distance
from medigan_host.plugins import reset_host


@pytest.fixture
def zoo():
    """Only the zoo's models: installed plugins are not loaded."""
    reset_host(load_entry_points=False)
    medigan_host.register_plugin(model_zoo, name="zoo")
    yield
    reset_host()


# (query, models expected first, in this order)
RELEVANCE = [
    ("calcification", ["dcgan-mmg-calc-roi"]),
    ("microcalcifications", ["dcgan-mmg-calc-roi"]),
    ("polyp", ["pggan-polyp-masks"]),
    ("polyp segmentation masks", ["pggan-polyp-masks"]),
    ("brain mri t1 to t2", ["cyclegan-brain-mri-t1-t2"]),
    ("magnetic resonance imaging", ["cyclegan-brain-mri-t1-t2"]),
    ("chest x-ray", ["pggan-chest-xray", "dcgan-xray-lung-nodules"]),
    ("lung nodules", ["dcgan-xray-lung-nodules"]),
    ("breast density", ["cyclegan-mmg-density-optimam-mlo"]),
    ("benign malignant", ["cdcgan-mmg-masses"]),
    ("INbreast", ["dcgan-mmg-calc-roi"]),
    ("00001", ["dcgan-mmg-calc-roi"]),
    ("00021_CYCLEGAN_BRAIN_MRI_T1_T2", ["cyclegan-brain-mri-t1-t2"]),
    ("optimam mass", ["dcgan-mmg-mass-roi"]),
    ("pggan", ["pggan-chest-xray", "pggan-polyp-masks"]),
]


@pytest.mark.parametrize(("query", "expected"), RELEVANCE)
def test_relevance(zoo, query, expected):
    results = search_models(query)
    assert results.ids[: len(expected)] == expected, (query, [(h.card.id, round(h.score, 3)) for h in results.hits])
    assert all(a.score >= b.score for a, b in zip(results.hits, results.hits[1:], strict=False))


def test_prefix_finds_mammography(zoo):
    results = search_models("mammo")
    assert set(results.ids[:4]) == model_zoo.MAMMOGRAPHY and len(results) == 4
    assert not results.corrections


def test_fields_weigh_more_than_description(zoo):
    # the chest X-ray card mentions breast shadows in its description; mammography models have anatomy "breast"
    ids = search_models("breast").ids
    assert "pggan-chest-xray" in ids
    assert set(ids[:4]) == model_zoo.MAMMOGRAPHY


def test_misspellings_are_read_and_reported(zoo):
    results = search_models("mamography calcifcation")
    assert results.ids[0] == "dcgan-mmg-calc-roi"
    assert results.corrections == {"mamography": "mammography", "calcifcation": "calcification"}
    assert search_models("polip").ids[0] == "pggan-polyp-masks"
    assert search_models("brian").corrections == {"brian": "brain"}


def test_nothing_found_says_so(zoo):
    results = search_models("xyzzy")
    assert len(results) == 0 and results.unmatched == ["xyzzy"]


def test_more_matching_terms_rank_higher(zoo):
    results = search_models("dcgan mass")
    assert results.ids[0] == "dcgan-mmg-mass-roi"
    assert {"dcgan-mmg-calc-roi", "cdcgan-mmg-masses"} <= set(results.ids)


def test_analyser():
    assert analyse("X-ray CXR radiographs") == ["xray", "xray", "xray"]
    assert analyse("Masses, calcifications and polyps") == ["mass", "calcification", "polyp"]
    assert analyse("00001_DCGAN_MMG_CALC_ROI") == ["1", "dcgan", "mammography", "calcification", "roi"]
    assert edit_distance("mamography", "mammography", 2) == 1
    assert edit_distance("brian", "brain", 1) == 1
    assert edit_distance("abcdef", "uvwxyz", 2) == 3


def test_filters_are_exact_and_combine(zoo):
    assert set(search_models(modality="mammography").ids) == model_zoo.MAMMOGRAPHY
    assert search_models(modality="mammo").ids == []  # filters are exact; free text is not
    assert set(search_models(modality="MRI").ids) == {"cyclegan-brain-mri-t1-t2"}
    assert set(search_models(framework=["numpy", "tensorflow"]).ids) == {
        "pggan-polyp-masks", "cyclegan-brain-mri-t1-t2", "dcgan-xray-lung-nodules", "cdcgan-mmg-masses"}
    assert search_models(modality="mammography", framework="pytorch", architecture="dcgan").ids == ["dcgan-mmg-calc-roi",
                                                                                                    "dcgan-mmg-mass-roi"]
    assert search_models(outputs="image+mask").ids == ["pggan-polyp-masks"]
    assert search_models(conditional=True).ids == ["cdcgan-mmg-masses"]
    assert "cdcgan-mmg-masses" not in search_models(conditional=False).ids
    assert search_models(tag="ROI").ids == ["dcgan-mmg-calc-roi", "dcgan-mmg-mass-roi"]
    assert search_models(dataset="optimam", anatomy="breast").ids == ["dcgan-mmg-mass-roi", "cyclegan-mmg-density-optimam-mlo"]
    assert len(search_models(license="MIT")) == len(model_zoo.CARDS)
    ranked = search_models("mass", modality="mammography", framework="pytorch")
    assert ranked.ids == ["dcgan-mmg-mass-roi"]


def test_filter_hints_and_bad_filters(zoo):
    results = search_models(modality="pet")
    assert results.ids == [] and "mammography" in results.filter_hints["modality"]
    with pytest.raises(MediganUsageError, match="framework 'torch' is not one of"):
        search_models(framework="torch")
    with pytest.raises(MediganUsageError, match="outputs"):
        search_models(outputs="mask")
    with pytest.raises(MediganUsageError, match="limit"):
        search_models("x", limit=0)
    with pytest.raises(MediganUsageError, match="conditional"):
        search_models(conditional="yes")


def test_limit_and_no_text(zoo):
    assert len(search_models("mammography", limit=2)) == 2
    assert search_models().ids == model_zoo.IDS  # catalog order without text
    assert search_models("  ").ids == model_zoo.IDS


def test_search_covers_installed_plugins_too():
    medigan_host.register_plugin(model_zoo, name="zoo")
    ids = search_models("mammo").ids
    assert "mammo-breast-phantom" in ids and model_zoo.MAMMOGRAPHY <= set(ids)
    assert search_models("haemorrhage head ct").ids[0] == "ct-head-phantom"


@pytest.fixture
def zoo_site(site):
    site.add("zoo", Path(model_zoo.__file__).read_text(), module="medigan_test_zoo")
    return site


def test_cli_search(zoo_site):
    env = zoo_site.env(MEDIGAN_PLUGINS="zoo")
    text = run_cli("search", "mamography", "calcification", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert "'mamography' as 'mammography'" in lines[0]
    assert lines[1].split()[:2] == ["SCORE", "ID"] and lines[3].split()[1] == "dcgan-mmg-calc-roi"
    data = json.loads(run_cli("search", "mammo", "--framework", "pytorch", "--json", env=env).stdout)
    assert {r["id"] for r in data["results"]} == {"dcgan-mmg-calc-roi", "dcgan-mmg-mass-roi", "cyclegan-mmg-density-optimam-mlo"}
    assert data["filters"] == {"framework": ["pytorch"]} and data["results"][0]["card"]["upstream_id"]
    both = json.loads(run_cli("search", "--modality", "xray", "--modality", "mri", "--unconditional", "--json", env=env).stdout)
    assert [r["id"] for r in both["results"]] == ["cyclegan-brain-mri-t1-t2", "pggan-chest-xray", "dcgan-xray-lung-nodules"]
    none = run_cli("search", "xyzzy", env=env)
    assert none.returncode == 0 and "no installed model matches 'xyzzy'" in none.stdout
    bad = run_cli("search", "--framework", "torch", env=env)
    assert bad.returncode == 2 and "not one of" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_rank(zoo_site):
    env = zoo_site.env(MEDIGAN_PLUGINS="zoo")
    result = run_cli("rank", "--metric", "FID", "--modality", "mammography", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "FID, asc (lower is better)"
    rows = [line.split()[:2] for line in lines[3:7]]
    assert rows == [["1", "dcgan-mmg-calc-roi"], ["2", "dcgan-mmg-mass-roi"], ["3", "cdcgan-mmg-masses"],
                    ["-", "cyclegan-mmg-density-optimam-mlo"]]
    assert any("different reference sets" in line for line in lines)
    assert any("listed last" in line for line in lines)
    data = json.loads(run_cli("rank", "--metric", "ssim", "--json", env=env).stdout)
    assert data["order"] == "desc" and [r["id"] for r in data["results"][:2]] == ["cyclegan-brain-mri-t1-t2", "dcgan-mmg-mass-roi"]
    forced = json.loads(run_cli("rank", "--metric", "fid", "--order", "desc", "--json", env=env).stdout)
    assert forced["results"][0]["id"] == "pggan-polyp-masks"
    unknown = run_cli("rank", "--metric", "turing", env=env)
    assert unknown.returncode == 2 and "give the order" in unknown.stderr


PROBE = '''
import json, sys
from medigan_host.cli import main
import medigan_host
for args in (["search", "mammo"], ["search", "mamography", "--json"], ["search", "--framework", "pytorch"],
             ["rank", "--metric", "fid"], ["rank", "--metric", "ssim", "--json"]):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
medigan_host.search_models("brain", framework="pytorch")
medigan_host.rank_models("downstream_task.clf.accuracy")
g = medigan_host.Generators()
g.list_models()
g.get_config_by_id("00001", "selection.performance.FID")
g.find_matching_models_by_values(["mammography", "dcgan"])
g.find_models_and_rank(["mammography"], metric="FID")
g.rank_models_by_performance(metric="SSIM")
g.get_models_by_key_value_pair("modality", "mammography")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "tensorflow", "onnxruntime", "jax", "numpy"})))
'''


def test_searching_and_ranking_import_no_framework(zoo_site):
    for heavy in ("torch", "tensorflow", "onnxruntime", "jax", "numpy"):  # stand-ins that would show up if imported
        (zoo_site.root / f"{heavy}.py").write_text("")
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=zoo_site.env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert "dcgan-mmg-calc-roi" in result.stdout
