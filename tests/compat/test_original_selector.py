"""What the original library's model-selector tests exercise: value search, ranking by the original's metric keys,
key-value lookups, with the models that lack a metric left out."""

# ruff: noqa: F811 - test arguments name the fixtures imported from compat_fixtures
from __future__ import annotations

import logging

import pytest
from compat_fixtures import original, records  # noqa: F401 - pytest fixtures, used as arguments

from medigan import Generators

MAMMOGRAPHY = {"standin-00001", "standin-00002", "standin-00005", "standin-00008", "standin-00003"}


@pytest.mark.parametrize("values, expected", [
    (["dcgan", "mMg", "ClF", "modality"], {"standin-00001", "standin-00002"}),  # ClF: a metric key, modality: a key
    (["DCGAN", "Mammography"], {"standin-00001", "standin-00002", "standin-00005"}),
])
def test_search_values_and_keys(original, values, expected):
    found = Generators().find_matching_models_by_values(values, "AND", are_keys_also_matched=True, is_case_sensitive=False)
    assert {c.model_id for c in found} == expected


def test_values_match_whole_entries_as_in_the_original(original):
    generators = Generators()
    assert generators.find_matching_models_by_values(["dcgan", "mMg", "ClF", "modalities"], are_keys_also_matched=True) == []
    assert generators.find_matching_models_by_values(["mammo"]) == []  # no partial values
    assert {c.model_id for c in generators.find_matching_models_by_values(["mammo"], fuzzy=True)} >= MAMMOGRAPHY
    assert generators.find_matching_models_by_values(["clf"]) == []  # keys only when asked
    assert generators.find_matching_models_by_values(["MMG"], is_case_sensitive=True)
    assert generators.find_matching_models_by_values(["mmg"], is_case_sensitive=True) == []
    found = generators.find_matching_models_by_values(["Full-Field Mammography"])
    assert [c.model_id for c in found] == ["standin-00001", "standin-00002"]  # catalogue order
    assert "modality" in {m.key for m in found[0].matched_entries}


@pytest.mark.parametrize("metric", ["CLF.trained_on_real_and_fake.f1", "turing_test.AUC"])
def test_find_and_rank_by_the_original_metric_keys(original, metric):
    ranked = Generators().find_models_and_rank(["dcgan", "MMG"], "AND", True, False, metric=metric, order="desc")
    assert len(ranked) == 2 and ranked[0]["model_id"] is not None and ranked[0][metric] > ranked[1][metric]


@pytest.mark.parametrize("metric, order, expected", [
    ("FID", "asc", ["standin-00001", "standin-00002", "standin-00008", "standin-00003", "standin-00005",
                    "standin-00009"]),
    ("FID_RADIMAGENET_ratio", "desc", ["standin-00002", "standin-00001"]),
    ("CLF.trained_on_real_and_fake.f1", "desc", ["standin-00002", "standin-00001"]),
    ("turing_test.AUC", "desc", ["standin-00005", "standin-00002"]),
    ("FID_ratio", None, ["standin-00001", "standin-00002"]),  # no known direction and no order: ascending, as before
])
def test_rank_leaves_out_models_without_the_metric(original, caplog, metric, order, expected):
    with caplog.at_level(logging.INFO, logger="medigan_host"):
        ranked = Generators().rank_models_by_performance(model_ids=None, metric=metric, order=order)
    assert [r["model_id"] for r in ranked] == expected
    assert all(r[metric] is not None for r in ranked)
    assert "left out" in caplog.text  # the phantoms have none of these metrics


@pytest.mark.parametrize("key, value, expected", [
    ("modality", "Full-Field Mammography", 2),
    ("license", "BSD", 2),
    ("performance.CLF.trained_on_real_and_fake.f1", "0.96", 1),
    ("performance.turing_test.AUC", "0.56", 1),
    ("performance.turing_test.auc", "0.99", 0),
])
def test_models_by_key_value_pair(original, key, value, expected):
    found = Generators().get_models_by_key_value_pair(key1=key, value1=value, is_case_sensitive=False)
    assert len(found) == expected and all(f[key] == value for f in found)
