"""The medigan-compatible ``Generators`` API over the phantoms and the zoo of cards modelled on the original models."""

from __future__ import annotations

import json
import logging

import model_zoo
import numpy as np
import pytest

import medigan_host
from medigan_host import Generators, MediganUsageError, UnknownModelError
from medigan_host.compat import ModelMatchCandidate
from medigan_host.plugins import reset_host


@pytest.fixture
def generators(monkeypatch):
    """The phantoms and the zoo only, whatever else is installed (framework plugins reuse upstream ids)."""
    monkeypatch.setenv("MEDIGAN_PLUGINS", "phantoms")
    reset_host()
    medigan_host.register_plugin(model_zoo, name="zoo")
    return Generators()


def test_list_models_and_lookups_by_any_id(generators):
    ids = generators.list_models()
    assert {"ct-head-phantom", "dcgan-mmg-calc-roi", "pggan-polyp-masks"} <= set(ids)
    for alias in ("dcgan-mmg-calc-roi", "00001_DCGAN_MMG_CALC_ROI", "00001_dcgan_mmg_calc_roi", "00001", "1", 1, "01"):
        assert generators.get_config_by_id(alias, "description.title") == "DCGAN mammography calcification ROIs (INbreast)"
    assert generators.get_config_by_id(5 * 4 + 1, "card.id") == "cyclegan-brain-mri-t1-t2"
    with pytest.raises(UnknownModelError, match="did you mean"):
        generators.get_config_by_id("dcgan-mmg-calc-rio")


def test_config_layout(generators):
    config = generators.get_config_by_id("00001")
    assert set(config) == {"execution", "selection", "description", "card"}
    assert generators.get_config_by_id("00001", "selection.performance.FID") == 67.6  # original: plain numbers
    assert generators.get_config_by_id("00001", "card.metrics.fid.extractor") == "inception-v3-imagenet"
    assert generators.get_config_by_id("00001", "selection.performance.nothing") is None
    assert generators.get_config_by_id("00012", "selection.performance.downstream_task.CLF.accuracy") == 0.76
    assert config["selection"]["modality"] == ["mammography"] and config["selection"]["organ"] == ["breast"]
    assert config["selection"]["height"] == config["selection"]["width"] == 128
    assert config["execution"]["dependencies"] == ["torch"]
    assert generators.get_config_by_id("ct-head-phantom", "execution.dependencies") == ["numpy", "medigan-plugin-phantoms"]
    assert generators.get_config_by_id("mri-brain-phantom-3d", "selection.depth") == 64
    json.dumps(config)  # JSON-ready


def test_selection_lookups(generators):
    assert generators.get_selection_criteria_by_id("00009")["generates"] == ["images", "masks"]
    assert generators.get_selection_criteria_by_id("00009", is_model_id_removed=False)["model_id"] == "pggan-polyp-masks"
    assert len(generators.get_selection_criteria_by_ids(["00001", "00002"])) == 2
    assert generators.get_selection_values_for_key("type", "00002") == ["DCGAN"]
    assert "DCGAN" in generators.get_selection_values_for_key("type")
    assert {"performance", "modality", "organ"} <= set(generators.get_selection_keys())
    pairs = generators.get_models_by_key_value_pair("modality", "MAMMOGRAPHY")
    assert {p["model_id"] for p in pairs} == model_zoo.MAMMOGRAPHY | {"mammo-breast-phantom"}
    assert pairs[0]["modality"] == "MAMMOGRAPHY"
    assert generators.get_models_by_key_value_pair("modality", "MAMMOGRAPHY", is_case_sensitive=True) == []


def test_find_matching_models_by_values(generators):
    found = generators.find_matching_models_by_values(["mammography", "calcification"])
    assert [c.model_id for c in found] == ["dcgan-mmg-calc-roi"]
    assert isinstance(found[0], ModelMatchCandidate) and found[0].is_match
    assert {m.matching_element for m in found[0].matched_entries} == {"mammography", "calcification"}
    assert json.loads(str(found[0]))["model_id"] == "dcgan-mmg-calc-roi"
    # the original's way by default: whole values only; fuzzy=True adds prefixes, word forms and misspellings
    assert generators.find_matching_models_by_values(["mammo"]) == []
    assert {c.model_id for c in generators.find_matching_models_by_values(["mammo"], fuzzy=True)} == \
        model_zoo.MAMMOGRAPHY | {"mammo-breast-phantom"}
    assert [c.model_id for c in generators.find_matching_models_by_values(["polyps"], fuzzy=True)] == ["pggan-polyp-masks"]
    assert [c.model_id for c in generators.find_matching_models_by_values(["mamography", "INbreast"], fuzzy=True)] == \
        ["dcgan-mmg-calc-roi"]
    either = {c.model_id for c in generators.find_matching_models_by_values(["polyp", "nodule"], "OR", fuzzy=True)}
    assert either == {"pggan-polyp-masks", "dcgan-xray-lung-nodules"}
    only_one = {c.model_id for c in generators.find_matching_models_by_values(["mammography", "dcgan"], "xor")}
    assert "dcgan-xray-lung-nodules" in only_one and "mammo-breast-phantom" in only_one
    assert "dcgan-mmg-calc-roi" not in only_one  # has both
    first = generators.find_matching_models_by_values(["mammography", "mass"], fuzzy=True)
    assert first[0].model_id in {"dcgan-mmg-mass-roi", "cdcgan-mmg-masses"} and first[0].score >= first[-1].score


def test_case_sensitivity_and_keys(generators):
    assert [c.model_id for c in generators.find_matching_models_by_values(["INbreast"], is_case_sensitive=True)] == ["dcgan-mmg-calc-roi"]
    assert generators.find_matching_models_by_values(["inbreast"], is_case_sensitive=True) == []
    assert generators.find_matching_models_by_values(["fid_radimagenet"]) == []
    keyed = generators.find_matching_models_by_values(["fid_radimagenet"], are_keys_also_matched=True)
    assert {c.model_id for c in keyed} == {"dcgan-mmg-calc-roi", "dcgan-mmg-mass-roi"}
    assert keyed[0].matched_entries[0].key == "key"


def test_bad_search_values(generators):
    with pytest.raises(MediganUsageError, match="non-empty list"):
        generators.find_matching_models_by_values([])
    with pytest.raises(MediganUsageError, match="AND, OR, XOR"):
        generators.find_matching_models_by_values(["ct"], "NOT")
    assert generators.find_matching_models_by_values("polyp")[0].model_id == "pggan-polyp-masks"  # one value (a tag)


def test_rank_models_by_performance(generators, caplog):
    with caplog.at_level(logging.WARNING, logger="medigan_host"):
        ranked = generators.rank_models_by_performance(metric="FID")
    assert [r["model_id"] for r in ranked[:3]] == ["cyclegan-brain-mri-t1-t2", "dcgan-mmg-calc-roi", "dcgan-xray-lung-nodules"]
    assert ranked[1]["FID"] == 67.6 and ranked[1]["upstream_id"] == "00001_DCGAN_MMG_CALC_ROI"
    assert all(r["FID"] is not None for r in ranked) and "ct-head-phantom" not in [r["model_id"] for r in ranked]  # left out
    assert "different reference sets" in caplog.text and "listed last" not in caplog.text
    assert generators.rank_models_by_performance(["00001", "00002"], "FID", "desc")[0]["model_id"] == "dcgan-mmg-mass-roi"
    assert generators.rank_models_by_performance(["00001", "00002", "00021"])[0]["model_id"] == "cyclegan-brain-mri-t1-t2"
    assert generators.rank_models_by_performance([], "FID") == []
    assert generators.rank_models_by_performance(["00012"], "downstream_task.CLF.accuracy")[0]["downstream_task.CLF.accuracy"] == 0.76


def test_find_models_and_rank(generators):
    ranked = generators.find_models_and_rank(["mammography"], metric="FID")
    assert [r["model_id"] for r in ranked[:3]] == ["dcgan-mmg-calc-roi", "dcgan-mmg-mass-roi", "cdcgan-mmg-masses"]
    assert len(ranked) == 3  # the models without a FID are left out, as the original did
    assert generators.find_models_and_rank(["xyzzy"], metric="FID") == []
    assert generators.find_models_rank_and_generate(["phantom", "ct"], metric="FID", num_samples=1) is None


def test_generate_in_memory_matches_the_engine(generators):
    samples = generators.generate("ct-head-phantom", num_samples=3, save_images=False, seed=4)
    assert isinstance(samples, list) and len(samples) == 3
    image, mask = samples[0]
    batch = next(medigan_host.generate("ct-head-phantom", 3, seed=4))
    assert np.array_equal(image, batch.images[0]) and np.array_equal(mask, batch.masks[0])
    plain = generators.generate("mri-brain-phantom-3d", 2, save_images=False)
    assert isinstance(plain[0], np.ndarray) and plain[0].shape == (64, 64, 64, 1)
    assert generators.is_model_executor_already_added("ct-head-phantom") and len(generators) == 2
    conditioned = generators.generate("ct-head-phantom", 1, save_images=False, condition="present", seed=4)  # bare value
    assert np.array_equal(conditioned[0][0], next(medigan_host.generate("ct-head-phantom", 1, seed=4,
                                                                          condition={"lesion": "present"})).images[0])


def test_generate_function_continues_the_run(generators):
    gen = generators.generate("mammo-breast-phantom", num_samples=2, save_images=False, is_gen_function_returned=True, seed=9)
    first, second = gen(), gen()
    reference = [b.images for b in medigan_host.generate("mammo-breast-phantom", 4, seed=9, batch_size=4)][0]
    assert np.array_equal(np.stack([i for i, _ in first + second]), reference)
    assert len(gen(num_samples=1)) == 1
    other = generators.get_generate_function("mammo-breast-phantom", 2, save_images=False)
    assert len(other()) == 2


def test_generate_to_disk(generators, tmp_path, monkeypatch):
    assert generators.generate("ct-head-phantom", 3, str(tmp_path / "run"), seed=1) is None
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["0.png", "0_mask.png", "1.png", "1_mask.png",
                                                                     "2.png", "2_mask.png"]
    manifest = (tmp_path / ".run.medigan" / "manifest.jsonl").read_text().splitlines()
    assert len(manifest) == 3 and json.loads(manifest[0])["files"] == {"image": "0.png", "mask": "0_mask.png"}
    monkeypatch.chdir(tmp_path)
    generators.generate("mri-brain-phantom-3d", 1)
    written = list((tmp_path / "output" / "mri-brain-phantom-3d").glob("*/0.npy"))
    assert len(written) == 1
    gen = generators.get_generate_function("ct-head-phantom", 2, str(tmp_path / "grow"))
    gen()
    gen()
    lines = [json.loads(line) for line in (tmp_path / ".grow.medigan" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in lines) == [0, 1, 2, 3] and len(list((tmp_path / "grow").iterdir())) == 8
    assert len(generators.generate("ct-head-phantom", 1, str(tmp_path / "x"), save_images=False)) == 1  # path unused
    assert not (tmp_path / "x").exists()


def test_image_to_image_translates_every_input(generators, tmp_path):
    inputs = np.full((3, 256, 256, 1), 1024, dtype=np.uint16)
    out = generators.generate("ct-lowdose-sim", save_images=False, inputs=inputs, condition={"dose": "half"})
    assert len(out) == 3 and out[0].shape == (256, 256, 1)
    np.save(tmp_path / "inputs.npy", inputs[:2])
    assert len(generators.generate("ct-lowdose-sim", save_images=False, input_path=str(tmp_path / "inputs.npy"))) == 2


def test_install_dependencies_never_installs(generators, caplog):
    with caplog.at_level(logging.WARNING, logger="medigan_host"):
        assert len(generators.generate("ct-head-phantom", 1, save_images=False, install_dependencies=True)) == 1
    assert "never installs" in caplog.text
    if medigan_host.frameworks.importlib.util.find_spec("tensorflow") is None:
        with pytest.raises(MediganUsageError, match=r"needs tensorflow.*Run `pip install \S*tensorflow"):
            generators.get_as_torch_dataset("00012", install_dependencies=True)


def test_find_model_and_generate(generators):
    samples = generators.find_model_and_generate(["haemorrhage"], num_samples=2, save_images=False)
    assert len(samples) == 2 and samples[0][0].dtype == np.uint16


def test_unknown_options_and_unsupported_methods(generators):
    with pytest.raises(MediganUsageError, match="give condition as a dict"):
        generators.generate("mammo-breast-phantom", 1, save_images=False, condition="c")
    for call in (lambda: generators.add_model_to_config("x", {}), lambda: generators.push_to_zenodo("x", "t"),
                 lambda: generators.contribute("x", "p", "g", "z"), lambda: generators.add_model_contributor("x")):
        with pytest.raises(MediganUsageError, match="plugin"):
            call()
    assert generators.get_model_contributor_by_id("00001") is None
    with pytest.raises(MediganUsageError, match="config_manager"):
        Generators(config_manager=object())


def test_test_model_and_metadata(generators):
    generators.test_model("ct-head-phantom", num_samples=2)
    assert generators.is_model_metadata_valid("00001", generators.get_config_by_id("00001", "card"))
    assert not generators.is_model_metadata_valid("00001", {"id": "x"})


def test_framework_missing_names_the_pip_command(generators):
    if medigan_host.frameworks.importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("tensorflow is installed")
    with pytest.raises(medigan_host.FrameworkMissingError, match="pip install tensorflow"):
        generators.generate("00012", 1, save_images=False)


def test_repr_len_getitem(generators):
    generators.get_model_executor("mammo-breast-phantom")
    assert len(generators) == 1 and generators[0].card.id == "mammo-breast-phantom"
    assert "mammo-breast-phantom" in repr(generators)


def test_every_installed_model_is_reachable():
    """Over whatever plugins are installed (the phantoms, and framework plugins where present), without loading any."""
    generators = Generators()
    entries = list(medigan_host.plugins.get_host().catalog)
    listed = generators.list_models()  # one model per original id: the one that id resolves to
    assert set(listed) == {e.id for e in entries
                           if not e.card.upstream_id or generators.get_config_by_id(e.card.upstream_id, "card.id") == e.id}
    upstream = [e.card.upstream_id for e in entries if e.card.upstream_id]
    for entry in entries:
        card = entry.card
        assert generators.get_config_by_id(card.id, "card.id") == card.id
        if card.upstream_id and upstream.count(card.upstream_id) == 1:
            assert generators.get_config_by_id(card.upstream_id, "card.id") == card.id
        if card.id in listed:
            assert card.id in [c.model_id for c in generators.find_matching_models_by_values([card.modality])]
        assert generators.get_config_by_id(card.id, "execution.framework") == card.framework
    for metric in ("FID", "SSIM"):
        ranked = generators.rank_models_by_performance(metric=metric)
        assert {r["model_id"] for r in ranked} >= {e.id for e in entries if e.id in listed and e.card.metric(metric) is not None}
        assert {r["model_id"] for r in ranked} <= set(listed)
