"""PyTorch pipelines: map-style and streaming datasets over any model, DataLoader workers, real+synthetic mixing,
and the compatible get_as_torch_dataset / get_as_torch_dataloader (also over a PyTorch model)."""

from __future__ import annotations

import itertools

import model_zoo
import numpy as np
import pytest

import medigan_host
from medigan_host import Generators, MediganUsageError

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from medigan_host.pipelines.torch import (  # noqa: E402
    ImageFolderDataset,
    MixedDataset,
    SyntheticDataset,
    SyntheticIterableDataset,
)

pytestmark = pytest.mark.torch


def _engine_images(model: str, n: int, seed: int, **options) -> tuple[np.ndarray, np.ndarray | None]:
    batch = next(medigan_host.generate(model, n, seed=seed, batch_size=n, **options))
    return batch.images, batch.masks


def _stack(items, key="sample"):
    return torch.stack([item[key] for item in items])


def test_dataset_item_i_is_sample_i_of_the_run():
    dataset = SyntheticDataset("ct-head-phantom", 5, seed=3)
    assert len(dataset) == 5 and dataset.keys == ["sample", "mask", "seed", "index"]
    images, masks = _engine_images("ct-head-phantom", 5, 3)
    for i in (4, 0, 2, -1):
        item = dataset[i]
        j = i % 5
        assert item["sample"].shape == (1, 256, 256) and item["sample"].dtype == torch.float32
        assert torch.allclose(item["sample"], torch.from_numpy(images[j].astype(np.float32)).permute(2, 0, 1) / 65535)
        assert item["mask"].dtype == torch.int64 and torch.equal(item["mask"], torch.from_numpy(masks[j].astype(np.int64)).permute(2, 0, 1))
        assert item["index"] == j and item["seed"] == medigan_host.sample_seed(3, j)
    raw = SyntheticDataset("ct-head-phantom", 1, seed=3, normalize=False)[0]["sample"]
    assert raw.max() > 1.0 and torch.equal(raw, torch.from_numpy(images[0].astype(np.float32)).permute(2, 0, 1))
    with pytest.raises(IndexError):
        dataset[5]


def test_volumes_labels_and_transforms():
    volume = SyntheticDataset("mri-brain-phantom-3d", 2)[1]
    assert volume["sample"].shape == (1, 64, 64, 64) and "mask" not in volume
    labelled = SyntheticDataset("mammo-breast-phantom", 2, condition={"density": "d"}, transform=lambda x: x * 2,
                                item_transform=lambda item: {**item, "flipped": item["mask"].flip(-1)})
    item = labelled[0]
    assert item["label"] == "d" and "flipped" in item and item["sample"].max() > 1.0
    two = SyntheticDataset("mammo-breast-phantom", 1, condition={"density": "a", "lesion": "present"})[0]
    assert two["label"] == {"density": "a", "lesion": "present"}


def test_bad_dataset_arguments():
    with pytest.raises(MediganUsageError, match="num_samples"):
        SyntheticDataset("ct-head-phantom")
    with pytest.raises(MediganUsageError, match="pass inputs="):
        SyntheticDataset("ct-lowdose-sim", 2)
    with pytest.raises(MediganUsageError, match="takes no inputs"):
        SyntheticDataset("ct-head-phantom", 1, inputs=[np.zeros((256, 256, 1), np.uint16)])
    with pytest.raises(medigan_host.ConditionError):
        SyntheticDataset("ct-head-phantom", 1, condition={"density": "a"})


def test_image_to_image_dataset():
    inputs = np.full((3, 256, 256, 1), 1024, dtype=np.uint16)
    dataset = SyntheticDataset("ct-lowdose-sim", inputs=inputs, condition={"dose": "tenth"})
    assert len(dataset) == 3 and dataset[2]["sample"].shape == (1, 256, 256) and dataset[2]["label"] == "tenth"


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_workers_give_the_same_batches(workers):
    dataset = SyntheticDataset("mammo-breast-phantom", 10, seed=5, batch_size=3)
    loader = DataLoader(dataset, batch_size=4, num_workers=workers)
    batches = list(loader)
    assert [len(b["index"]) for b in batches] == [4, 4, 2]
    images, _ = _engine_images("mammo-breast-phantom", 10, 5)
    expected = torch.from_numpy(images).permute(0, 3, 1, 2)
    assert torch.equal(torch.cat([b["sample"] for b in batches]), expected)
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(10))
    if workers:
        assert dataset.source._model is None  # only the workers loaded the model


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_streaming_order_and_set_do_not_depend_on_workers():
    def run(workers: int, block: int, batch: int) -> list[torch.Tensor]:
        stream = SyntheticIterableDataset("mammo-breast-phantom", 11, seed=2, block_size=block)
        return list(DataLoader(stream, batch_size=batch, num_workers=workers))

    single = run(0, 4, 4)
    indices = torch.cat([b["index"] for b in single]).tolist()
    assert indices == list(range(11))
    for workers in (2, 3):
        batches = run(workers, 4, 4)
        assert torch.cat([b["index"] for b in batches]).tolist() == indices  # same order with block == batch
        assert torch.equal(torch.cat([b["sample"] for b in batches]), torch.cat([b["sample"] for b in single]))
    mixed = run(2, 3, 4)  # block != batch: same samples, no repeats, another order
    assert sorted(torch.cat([b["index"] for b in mixed]).tolist()) == list(range(11))


def test_spawned_workers_load_their_own_model():
    dataset = SyntheticDataset("mammo-breast-phantom", 4, seed=5)
    dataset[0]  # loaded in this process; the copy sent to the worker must not carry it
    loader = DataLoader(dataset, batch_size=2, num_workers=1, multiprocessing_context="spawn",
                        worker_init_fn=_record_model_state)
    batches = list(loader)
    assert torch.equal(torch.cat([b["sample"] for b in batches]), torch.stack([dataset[i]["sample"] for i in range(4)]))


def _record_model_state(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    assert info.dataset.source._model is None, "the model reached the worker pickled instead of being loaded there"


def test_endless_stream_and_start():
    stream = SyntheticIterableDataset("ct-head-phantom", seed=1, block_size=2)
    first = list(itertools.islice(iter(stream), 5))
    assert [item["index"] for item in first] == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="endless"):
        len(stream)
    later = list(SyntheticIterableDataset("ct-head-phantom", 2, seed=1, start=3))
    assert [item["index"] for item in later] == [3, 4] and torch.equal(later[0]["sample"], first[3]["sample"])


def test_mixing_real_folder_and_synthetic_model(tmp_path):
    from PIL import Image

    for i in range(6):
        Image.fromarray(np.full((256, 256), 40 * i, dtype=np.uint8)).save(tmp_path / f"real{i}.png")
    real = ImageFolderDataset(tmp_path)
    assert len(real) == 6 and real[1]["sample"].shape == (1, 256, 256)
    assert torch.allclose(real[1]["sample"], torch.full((1, 256, 256), 40 / 255))
    mixed = MixedDataset(tmp_path, "mammo-breast-phantom", 0.25, seed=7)
    assert len(mixed) == 8 and mixed.keys == ["sample", "synthetic"]
    flags = [mixed[j]["synthetic"] for j in range(len(mixed))]
    assert flags == [False, False, False, True, False, False, False, True]
    assert torch.equal(mixed[3]["sample"], SyntheticDataset("mammo-breast-phantom", 1, seed=7)[0]["sample"])
    assert torch.equal(mixed[4]["sample"], real[3]["sample"])
    batch = next(iter(DataLoader(mixed, batch_size=8, num_workers=2)))
    assert batch["synthetic"].tolist() == flags and batch["sample"].shape == (8, 1, 256, 256)


def test_mixing_datasets_with_labels():
    real = [(torch.zeros(1, 256, 256), "d")] * 3
    synthetic = SyntheticDataset("mammo-breast-phantom", 3, condition={"density": "d"})
    mixed = MixedDataset(real, synthetic, 0.5)
    assert len(mixed) == 6 and mixed.keys == ["sample", "synthetic", "label"]
    assert [mixed[j]["synthetic"] for j in range(6)] == [False, True] * 3
    assert {mixed[j]["label"] for j in range(6)} == {"d"}
    with pytest.raises(MediganUsageError, match="between 0 and 1"):
        MixedDataset(real, synthetic, 1.0)
    with pytest.raises(MediganUsageError, match="only when synthetic is a model id"):
        MixedDataset(real, synthetic, 0.5, condition={"density": "a"})


def test_compat_dataset_and_dataloader():
    generators = Generators()
    dataset = generators.get_as_torch_dataset("ct-head-phantom", num_samples=6, seed=1)
    assert len(dataset) == 6 and set(dataset[0]) >= {"sample", "mask"}
    loader = generators.get_as_torch_dataloader(model_id="ct-head-phantom", num_samples=6, batch_size=3, seed=1)
    batches = list(loader)  # the original passed prefetch_factor=2 with num_workers=0, which torch >= 2.0 rejects
    # the original's items: the arrays generate(save_images=False) returns, (H, W, C), collated into tensors
    assert len(batches) == 2 and batches[0]["sample"].shape == (3, 256, 256, 1) and batches[0]["mask"].shape == (3, 256, 256, 1)
    assert torch.equal(batches[1]["sample"][0], torch.from_numpy(dataset[3]["sample"]))
    parallel = generators.get_as_torch_dataloader(dataset, batch_size=3, num_workers=2, prefetch_factor=1,
                                                  persistent_workers=True)
    assert torch.equal(torch.cat([b["sample"] for b in parallel]), torch.cat([b["sample"] for b in batches]))
    with pytest.raises(MediganUsageError, match="num_workers > 0"):
        generators.get_as_torch_dataloader(dataset, persistent_workers=True)
    with pytest.raises(MediganUsageError, match="model_id"):
        generators.get_as_torch_dataloader()
    labelled = generators.get_as_torch_dataset("mammo-breast-phantom", 2, condition={"density": "b"})
    assert labelled[0]["label"] == "b"


def test_compat_over_a_pytorch_model(monkeypatch):
    monkeypatch.setenv("MEDIGAN_PLUGINS", "phantoms")  # installed framework plugins may reuse the zoo's upstream ids
    medigan_host.plugins.reset_host()
    medigan_host.register_plugin(model_zoo, name="zoo")
    generators = Generators()
    ranked = generators.find_models_and_rank(["mammography", "dcgan"], metric="FID")
    assert ranked[0]["model_id"] == "dcgan-mmg-calc-roi"
    samples = generators.find_models_rank_and_generate(["mammography", "dcgan"], metric="FID", num_samples=3,
                                                       save_images=False, device="cpu")
    # an original model's samples come back as the original returned them: uint8 in 0..255
    assert len(samples) == 3 and samples[0].shape == (128, 128, 1) and samples[0].dtype == np.uint8
    again = generators.generate("00001", 3, save_images=False, device="cpu")
    assert all(np.array_equal(a, b) for a, b in zip(samples, again, strict=True))
    dataset = generators.get_as_torch_dataset("00001_DCGAN_MMG_CALC_ROI", num_samples=4, device="cpu")
    assert np.array_equal(dataset[2]["sample"], again[2])
    assert generators.get_model_executor("1").device == "cpu"


def test_installed_pytorch_plugins_through_the_compatible_api():
    """Every installed PyTorch model whose weights are at hand: generate() and get_as_torch_dataset() agree."""
    generators = Generators()
    models = [e.card for e in medigan_host.plugins.get_host().catalog if e.card.framework == "pytorch" and not e.card.needs_inputs]
    if not models:
        pytest.skip("no PyTorch plugin is installed")
    ran = 0
    for card in models:
        try:
            samples = generators.generate(card.id, 2, save_images=False, device="cpu", seed=3)
        except medigan_host.MediganError as error:
            if type(error).__name__ == "WeightsError":
                continue  # weights not downloaded here; the plugin's own tests cover it
            raise
        first = samples[0][0] if card.has_masks else samples[0]
        assert len(samples) == 2 and first.shape == (*card.image_size, card.channels)
        item = generators.get_as_torch_dataset(card.id, num_samples=2, device="cpu", seed=3)[0]
        assert np.array_equal(item["sample"], first)  # the original's items: the arrays generate() returns
        ran += 1
    if not ran:
        pytest.skip("no installed PyTorch model has its weights at hand")
