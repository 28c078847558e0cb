"""The original library's selector and visualiser tests' expectations, over the installed cards of the original
models (the native DCGAN plugin and the original-code plugin, which serve some models twice): one model per original
id, the original's selection values and metric keys, and their search and ranking results. No model code runs."""

from __future__ import annotations

import importlib.util

import pytest

import medigan_host
from medigan import Generators
from medigan.constants import (
    CONFIG_FILE_KEY_EXECUTION,
    CONFIG_FILE_KEY_GENERATE,
    CONFIG_FILE_KEY_GENERATE_ARGS_INPUT_LATENT_VECTOR_SIZE,
)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("medigan_plugin_original") is None,
                                reason="medigan-plugin-original is not installed")
UPSTREAM = [f"{n:05d}" for n in range(1, 24)]


@pytest.fixture
def generators(monkeypatch):
    monkeypatch.delenv("MEDIGAN_PLUGINS", raising=False)
    medigan_host.plugins.reset_host()
    return Generators()


def test_one_model_per_original_id(generators):
    ids = generators.config_manager.model_ids
    originals = [i for i in ids if i[:5].isdigit()]
    assert sorted(i[:5] for i in originals) == UPSTREAM and len(set(ids)) == len(ids)
    assert len(generators.list_models()) == len(ids)
    assert generators.config_manager.match_model_id(1) == "00001_DCGAN_MMG_CALC_ROI"
    latent = generators.config_manager.config_dict["00002_DCGAN_MMG_MASS_ROI"][CONFIG_FILE_KEY_EXECUTION][CONFIG_FILE_KEY_GENERATE]
    assert latent[CONFIG_FILE_KEY_GENERATE_ARGS_INPUT_LATENT_VECTOR_SIZE] == 200


@pytest.mark.parametrize("values, found", [
    (["dcgan", "mMg", "ClF", "modality", "inbreast"], 1),
    (["dcgan", "mMg", "ClF", "modality", "optimam"], 1),
    (["dcgan", "mMg", "ClF", "modalities"], 0),
])
def test_search_finds_what_the_original_found(generators, values, found):
    matches = generators.find_matching_models_by_values(values, "AND", are_keys_also_matched=True, is_case_sensitive=False)
    assert len(matches) == found
    assert generators.find_matching_models_by_values(["DCGAN", "Mammography"], "AND", True, False)


@pytest.mark.parametrize("metric, order, at_least", [
    ("FID", "asc", 21), ("FID_RADIMAGENET_ratio", "desc", 2), ("CLF.trained_on_real_and_fake.f1", "desc", 2),
    ("turing_test.AUC", "desc", 1),
])
def test_ranking_by_the_original_metric_keys(generators, metric, order, at_least):
    ranked = generators.rank_models_by_performance(model_ids=None, metric=metric, order=order)
    assert len(ranked) >= at_least and all(r[metric] is not None for r in ranked)
    values = [r[metric] for r in ranked]
    assert values == sorted(values, reverse=order == "desc")
    found = generators.find_models_and_rank(["dcgan", "MMG"], "AND", True, False, metric=metric, order="desc")
    assert found and (len(found) < 2 or found[0][metric] >= found[1][metric])


@pytest.mark.parametrize("key, value, expected", [
    ("modality", "Full-Field Mammography", 2), ("license", "BSD", 2),
    ("performance.CLF.trained_on_real_and_fake.f1", "0.96", 1), ("performance.turing_test.AUC", "0.56", 1),
])
def test_key_value_pairs(generators, key, value, expected):
    assert len(generators.get_models_by_key_value_pair(key1=key, value1=value, is_case_sensitive=False)) >= expected


@pytest.mark.parametrize("model_id, value, word", [("00008_C-DCGAN_MMG_MASSES", 0, "malignant"), ("00008", 1, "benign"),
                                                   ("00012_C-DCGAN_MMG_MASSES", 1, "benign")])
def test_a_bare_condition_is_read_as_the_original_coded_it(generators, model_id, value, word):
    from medigan_host.compat.generate import generate_options

    entry = generators._entry(model_id)
    options, model_options = generate_options(entry, {"condition": value, "is_cbisddsm_training_data": False}, saving=True)
    assert list(options["condition"].values()) == [word] and model_options == {"is_cbisddsm_training_data": False}
