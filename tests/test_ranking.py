"""Ranking by card metrics: direction per metric, explicit order, models without the metric, unlike numbers."""

from __future__ import annotations

import model_zoo
import pytest

import medigan_host
from medigan_host import MediganUsageError, UnknownModelError, rank_models
from medigan_host.catalog.ranking import metric_direction
from medigan_host.plugins import reset_host


@pytest.fixture(autouse=True)
def zoo():
    reset_host(load_entry_points=False)
    medigan_host.register_plugin(model_zoo, name="zoo")
    yield
    reset_host()


def _ids(ranking):
    return [row.entry.id for row in ranking.models]


def test_directions():
    assert metric_direction("FID") == metric_direction("fid_radimagenet") == metric_direction("radimagenet-fid") == "lower"
    assert metric_direction("kid") == "lower"
    assert metric_direction("SSIM") == metric_direction("precision") == metric_direction("recall") == "higher"
    assert metric_direction("downstream_task.CLF.accuracy") == metric_direction("downstream_task.seg.dice") == "higher"
    assert metric_direction("turing_test") is None


def test_fid_ascending_with_missing_last():
    ranking = rank_models("FID")
    assert ranking.order == "asc" and ranking.direction == "lower"
    assert _ids(ranking) == ["cyclegan-brain-mri-t1-t2", "dcgan-mmg-calc-roi", "dcgan-xray-lung-nodules", "dcgan-mmg-mass-roi",
                             "cdcgan-mmg-masses", "pggan-polyp-masks",
                             "cyclegan-mmg-density-optimam-mlo", "pggan-chest-xray"]
    assert [row.rank for row in ranking.models] == [1, 2, 3, 4, 5, 6, None, None]
    assert [row.value for row in ranking.models][:2] == [30.7, 67.6]
    calc = ranking.models[1]
    assert (calc.reference, calc.extractor, calc.n) == ("INbreast calcification ROIs", "inception-v3-imagenet", 1000)
    assert any("no 'FID' on their card" in note and "pggan-chest-xray" in note for note in ranking.notes)
    assert any("different reference sets" in note for note in ranking.notes)
    extractors = next(note for note in ranking.notes if "feature extractors" in note)
    assert "not stated: dcgan-xray-lung-nodules, cdcgan-mmg-masses" in extractors


def test_explicit_order_is_obeyed():
    ranking = rank_models("fid", "desc")
    assert _ids(ranking)[:2] == ["pggan-polyp-masks", "cdcgan-mmg-masses"]
    assert _ids(ranking)[-2:] == ["cyclegan-mmg-density-optimam-mlo", "pggan-chest-xray"]
    assert any("a lower fid is better" in note for note in ranking.notes)
    assert rank_models("ssim", "ASC").models[0].entry.id == "dcgan-mmg-mass-roi"


def test_higher_is_better_and_dotted_metrics():
    assert _ids(rank_models("SSIM"))[:2] == ["cyclegan-brain-mri-t1-t2", "dcgan-mmg-mass-roi"]
    accuracy = rank_models("downstream_task.CLF.accuracy")
    assert accuracy.order == "desc" and accuracy.models[0].entry.id == "cdcgan-mmg-masses"
    assert accuracy.models[0].value == 0.76 and [r.rank for r in accuracy.models].count(None) == 7


def test_notes_only_for_what_differs():
    ranking = rank_models("fid_radimagenet")
    assert _ids(ranking)[:2] == ["dcgan-mmg-calc-roi", "dcgan-mmg-mass-roi"]
    assert not any("extractors" in note for note in ranking.notes)  # both radimagenet-resnet50
    assert any("different reference sets" in note for note in ranking.notes)  # INbreast vs OPTIMAM
    same = rank_models("fid_radimagenet", models=["00001"])
    assert same.notes == []


def test_restricting_models_and_filters():
    ranking = rank_models("fid", models=["00002", 1, "pggan-chest-xray"])
    assert _ids(ranking) == ["dcgan-mmg-calc-roi", "dcgan-mmg-mass-roi", "pggan-chest-xray"]
    assert _ids(rank_models("fid", modality="xray")) == ["dcgan-xray-lung-nodules", "pggan-chest-xray"]
    assert _ids(rank_models("fid", framework="numpy", conditional=False))[0] == "cyclegan-brain-mri-t1-t2"


def test_bad_requests():
    with pytest.raises(MediganUsageError, match="give the order"):
        rank_models("turing_test")
    assert rank_models("turing_test", "asc").ranked == []
    with pytest.raises(MediganUsageError, match="order must be"):
        rank_models("fid", "best")
    with pytest.raises(MediganUsageError, match="metric must be"):
        rank_models("fid..x")
    with pytest.raises(UnknownModelError):
        rank_models("fid", models=["no-such-model"])
    with pytest.raises(MediganUsageError, match="unknown filter 'organ'"):
        rank_models("fid", organ="breast")
    with pytest.raises(MediganUsageError, match="list of model ids"):
        rank_models("fid", models="00001")
