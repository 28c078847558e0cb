"""What the original library's executor, generators and visualiser tests exercise: generating every model into a
folder (one file per sample), with the original's extra keyword arguments, through a generate function and a
torch DataLoader, search-then-generate, and the latent visualiser; plus install_dependencies and regeneration."""

# ruff: noqa: F811 - test arguments name the fixtures imported from compat_fixtures
from __future__ import annotations

import glob
import json
import logging
import os

import numpy as np
import pytest
from compat_fixtures import headless, original, records  # noqa: F401 - pytest fixtures, used as arguments

from medigan import Generators
from medigan.constants import (
    CONFIG_FILE_KEY_EXECUTION,
    CONFIG_FILE_KEY_GENERATE,
    CONFIG_FILE_KEY_GENERATE_ARGS_INPUT_LATENT_VECTOR_SIZE,
    CONFIG_FILE_KEY_SELECTION,
)
from medigan_host import MediganUsageError

NUM_SAMPLES = 2
UPSTREAM = ["00001_DCGAN_MMG_CALC_ROI", "00002_DCGAN_MMG_MASS_ROI", "00005_DCGAN_MMG_MASS_ROI", "00008_C-DCGAN_MMG_MASSES",
            "00009_PGGAN_POLYP_PATCHES_W_MASKS", "00003_CYCLEGAN_MMG_DENSITY_FULL"]


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    np.save(folder / "batch.npy", np.full((NUM_SAMPLES, 32, 32, 1), 40, dtype=np.uint8))
    return str(folder / "batch.npy")


def _count(path) -> int:
    return len(glob.glob(str(path) + "/*"))


def test_config_manager_and_constants(original):
    manager = Generators().config_manager
    assert manager.model_ids[:len(UPSTREAM)] == UPSTREAM and "ct-head-phantom" in manager.model_ids
    config = manager.config_dict
    assert config["00001_DCGAN_MMG_CALC_ROI"][CONFIG_FILE_KEY_EXECUTION][CONFIG_FILE_KEY_GENERATE][
        CONFIG_FILE_KEY_GENERATE_ARGS_INPUT_LATENT_VECTOR_SIZE] == 100
    assert CONFIG_FILE_KEY_GENERATE_ARGS_INPUT_LATENT_VECTOR_SIZE not in \
        config["00003_CYCLEGAN_MMG_DENSITY_FULL"][CONFIG_FILE_KEY_EXECUTION][CONFIG_FILE_KEY_GENERATE]
    assert config["00002_DCGAN_MMG_MASS_ROI"][CONFIG_FILE_KEY_SELECTION]["license"] == "BSD"  # the original's value
    assert manager.match_model_id("05") == "00005_DCGAN_MMG_MASS_ROI" and manager.match_model_id(9) == UPSTREAM[4]
    assert manager.get_config_by_id("00001", "selection.performance.FID") == 67.6
    assert manager.is_model_in_config("00002") and not manager.is_model_in_config("99999")
    assert Generators().model_selector.find_matching_models_by_values(["BCDR"])[0].model_id == "standin-00005"


@pytest.mark.parametrize("model_id, files_per_sample", [(m, 2 if "MASKS" in m and "POLYP" in m else 1)
                                                       for m in UPSTREAM[:5]])
def test_generate_writes_one_file_per_sample(original, tmp_path, caplog, model_id, files_per_sample):
    out = tmp_path / "test_output_path"
    generators = Generators()
    with caplog.at_level(logging.WARNING, logger="medigan_host"):
        assert generators.generate(model_id=model_id, num_samples=NUM_SAMPLES, output_path=str(out),
                                   install_dependencies=True) is None
    assert "never installs" in caplog.text  # the stand-ins' requirements are importable: warned, not installed
    assert _count(out) == len(os.listdir(out)) == NUM_SAMPLES * files_per_sample
    assert (out / "0.png").is_file() and (out / "1.png").is_file()
    sidecar = tmp_path / ".test_output_path.medigan"
    records = [json.loads(line) for line in (sidecar / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1] and json.loads((sidecar / "run.json").read_text())["n"] == 2
    gen_function = generators.get_generate_function(model_id=model_id, num_samples=NUM_SAMPLES,
                                                    output_path=str(tmp_path / "via_function"))
    gen_function()
    assert _count(tmp_path / "via_function") == NUM_SAMPLES * files_per_sample


def test_masks_lie_beside_their_images(original, tmp_path):
    Generators().generate("00009", num_samples=2, output_path=str(tmp_path / "polyps"))
    assert sorted(os.listdir(tmp_path / "polyps")) == ["0.png", "0_mask.png", "1.png", "1_mask.png"]


def test_generating_again_into_the_same_folder_warns_and_writes_again(original, tmp_path, caplog):
    out = tmp_path / "again"
    generators = Generators()
    generators.generate("00001", num_samples=3, output_path=str(out), seed=1)
    first = (out / "0.png").read_bytes()
    with caplog.at_level(logging.WARNING, logger="medigan_host"):
        generators.generate("00001", num_samples=3, output_path=str(out), seed=2)
    assert "already holds 3 file(s)" in caplog.text
    assert len(os.listdir(out)) == 3 and (out / "0.png").read_bytes() != first
    records = (tmp_path / ".again.medigan" / "manifest.jsonl").read_text().splitlines()
    assert len(records) == 3 and all(json.loads(r)["index"] < 3 for r in records)


def test_extra_arguments_reach_models_that_take_them(original, tmp_path, caplog, inputs):
    generators = Generators()
    generators.generate("00001_DCGAN_MMG_CALC_ROI", num_samples=3, output_path=str(tmp_path / "a"), image_size=128)
    assert generators.find_model_executor_by_id("00001").generator.received[-1] == {"image_size": 128}
    generators.generate("00008_C-DCGAN_MMG_MASSES", num_samples=3, output_path=str(tmp_path / "b"), condition=0,
                        is_cbisddsm_training_data=False)
    assert generators.find_model_executor_by_id("00008").generator.received[-1] == {"is_cbisddsm_training_data": False}
    assert _count(tmp_path / "b") == 3
    generators.generate("00009", num_samples=3, output_path=str(tmp_path / "c"), save_option="image_only", gpu_id=None)
    assert generators.find_model_executor_by_id("00009").generator.received[-1] == {"save_option": "image_only",
                                                                                        "gpu_id": None}
    generators.generate("03", num_samples=NUM_SAMPLES, output_path=str(tmp_path / "d"), translate_all_images=False,
                        input_path=inputs)
    assert _count(tmp_path / "d") == NUM_SAMPLES
    with caplog.at_level(logging.WARNING, logger="medigan_host"):
        samples = generators.generate("00002", num_samples=3, save_images=False, gpu_id=0, resize_pixel_dim=512)
    assert len(samples) == 3 and "does not use the option(s) gpu_id, resize_pixel_dim" in caplog.text
    assert generators.find_model_executor_by_id("00002").generator.received[-1] == {}


def test_save_images_false_returns_the_arrays_the_original_returned(original):
    images = Generators().generate(model_id="00001_DCGAN_MMG_CALC_ROI", num_samples=3, save_images=False)
    assert len(images) == 3 and all(i.dtype == np.uint8 and i.shape == (32, 32, 1) for i in images)
    assert 0 <= images[0].min() < images[0].max() <= 255
    pairs = Generators().generate("00009", num_samples=2, save_images=False)
    assert pairs[0][0].shape == (32, 32, 3) and pairs[0][1].shape == (32, 32, 1)


@pytest.mark.parametrize("values, generated", [
    (["dcgan", "mMg", "ClF", "modality", "inbreast"], True),
    (["dcgan", "mMg", "ClF", "modality", "optimam"], True),
    (["dcgan", "mMg", "ClF", "modalities"], False),
    (["dcgan", "mMg"], False),  # three models match: the original logged and generated nothing
])
def test_find_model_and_generate(original, tmp_path, caplog, values, generated):
    out = tmp_path / "test_output_path"
    with caplog.at_level(logging.ERROR, logger="medigan_host"):
        result = Generators().find_model_and_generate(values=values, target_values_operator="AND",
                                                      are_keys_also_matched=True, is_case_sensitive=False,
                                                      num_samples=NUM_SAMPLES, output_path=str(out))
    assert result is None
    assert _count(out) == (NUM_SAMPLES if generated else 0)
    assert ("exactly one is needed" in caplog.text) != generated


@pytest.mark.parametrize("metric", ["CLF.trained_on_real_and_fake.f1", "turing_test.AUC"])
def test_find_rank_and_generate(original, tmp_path, metric):
    out = tmp_path / "test_output_path"
    Generators().find_models_rank_and_generate(values=["dcgan", "MMG"], target_values_operator="AND",
                                               are_keys_also_matched=True, is_case_sensitive=False, metric=metric,
                                               order="asc", num_samples=NUM_SAMPLES, output_path=str(out))
    assert _count(out) == NUM_SAMPLES


def test_find_rank_and_generate_without_a_ranked_model_logs_and_returns_none(original, tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="medigan_host"):
        assert Generators().find_models_rank_and_generate(["endoscopy"], metric="turing_test.AUC", num_samples=1,
                                                          output_path=str(tmp_path / "none")) is None
    assert "nothing was generated" in caplog.text and not (tmp_path / "none").exists()


def test_install_dependencies_names_the_command_when_something_is_missing(original, monkeypatch):
    from medigan_host.compat import config as compat_config

    generators = Generators()
    monkeypatch.setattr(compat_config, "_installed", lambda metadata, distribution: False)
    monkeypatch.setattr(generators, "_distribution", lambda entry: "medigan-plugin-standins")
    with pytest.raises(MediganUsageError, match=r"Run `pip install numpy medigan-plugin-standins`"):
        generators.generate("00001", 1, install_dependencies=True)
    monkeypatch.setattr(generators, "_distribution", lambda entry: compat_config.ORIGINAL_CODE_DISTRIBUTION)
    with pytest.raises(MediganUsageError, match=r"Run `medigan env create 00002_DCGAN_MMG_MASS_ROI`"):
        generators.get_as_torch_dataset("00002", install_dependencies=True)


@pytest.mark.parametrize("model_id", UPSTREAM)
def test_visualize(original, headless, model_id):
    generators = Generators()
    config = generators.config_manager.config_dict
    if CONFIG_FILE_KEY_GENERATE_ARGS_INPUT_LATENT_VECTOR_SIZE in config[model_id][CONFIG_FILE_KEY_EXECUTION][CONFIG_FILE_KEY_GENERATE]:
        generators.visualize(model_id, auto_close=True)
    else:
        with pytest.raises(MediganUsageError, match="does not accept explicit latents"):
            generators.visualize(model_id, auto_close=True)


@pytest.mark.torch
@pytest.mark.parametrize("model_id", UPSTREAM[:5])
def test_dataloader_items(original, model_id):
    torch = pytest.importorskip("torch")
    generators = Generators()
    data_loader = generators.get_as_torch_dataloader(model_id=model_id, num_samples=NUM_SAMPLES)
    assert len(data_loader) == NUM_SAMPLES
    data_dict = next(iter(data_loader))
    assert torch.is_tensor(data_dict.get("sample")) and data_dict["sample"].dtype == torch.uint8
    assert data_dict["sample"].shape[1:3] == (32, 32)  # (B, H, W, C) as the original collated its arrays
    assert data_dict.get("mask") is None or torch.is_tensor(data_dict.get("mask"))
    assert data_dict.get("other_imaging_output") is None
    assert data_dict.get("label") is None
    assert ("mask" in data_dict) == (model_id.startswith("00009"))


@pytest.mark.torch
def test_dataset_transform_is_called_as_the_original_called_it(original):
    pytest.importorskip("torch")
    generators = Generators()
    calls = []

    def transform(x, mask=None):
        calls.append(mask is not None)
        return (x[::2, ::2], mask[::2, ::2]) if mask is not None else x[::2, ::2]

    with_masks = generators.get_as_torch_dataset("00009", num_samples=2, transform=transform)
    item = with_masks[1]
    assert item["sample"].shape == (16, 16, 3) and item["mask"].shape == (16, 16, 1) and calls == [True]
    labelled = generators.get_as_torch_dataset("00008", num_samples=2, transform=transform, condition=1)
    item = labelled[0]
    assert item["sample"].shape == (16, 16, 1) and item["label"] == 1 and calls == [True, False]
    plain = generators.get_as_torch_dataset("00001", num_samples=3)
    assert set(plain[0]) == {"sample"} and np.array_equal(plain[2]["sample"], generators.generate("00001", 3, save_images=False)[2])
    loader = generators.get_as_torch_dataloader(model_id="00001", num_samples=4, batch_size=2, num_workers=None,
                                                pin_memory_device="")
    assert [b["sample"].shape[0] for b in loader] == [2, 2]


def test_weights_come_from_the_models_zenodo_record(original, records, tmp_path):
    generators = Generators()
    generators.generate("00002", num_samples=2, output_path=str(tmp_path / "masses"))
    assert records.requests[:2] == ["/api/records/6647242", "/api/records/6647242/files/MALIGN_DCGAN.zip/content"]
    assert generators.find_model_executor_by_id("00002").generator.offset == 1 / 255  # read from the served zip
    cached = list((tmp_path / "cache").rglob("MALIGN_DCGAN.zip"))
    assert len(cached) == 1 and len(os.listdir(tmp_path / "masses")) == 2


def test_arrays_come_back_in_the_dtype_and_range_the_original_returned():
    from medigan_host import ModelCard
    from medigan_host.compat.generate import original_array

    base = {"id": "m", "name": "m", "version": "1", "description": "d", "framework": "numpy", "modality": "ct",
            "image_size": [2, 2], "channels": 1, "license": "MIT"}
    floats = np.array([[[0.0], [0.5]], [[1.0], [1.2]]], dtype=np.float32)
    upstream = ModelCard.from_dict({**base, "upstream_id": "00001_DCGAN_MMG_CALC_ROI"})
    assert original_array(upstream, floats).tolist() == [[[0], [128]], [[255], [255]]]
    assert original_array(upstream, np.full((2, 2, 1), 65535, np.uint16)).max() == 255
    tanh = ModelCard.from_dict({**base, "upstream_id": "00099_X", "original_output": {"dtype": "float32", "range": [-1, 1]}})
    assert original_array(tanh, floats).tolist() == [[[-1.0], [0.0]], [[1.0], [1.0]]]
    native = ModelCard.from_dict(base)
    assert original_array(native, floats) is floats
