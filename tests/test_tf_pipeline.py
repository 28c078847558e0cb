"""medigan_host.pipelines.tf: tf.data datasets over any model give the samples `generate` gives, with a proper signature."""

from __future__ import annotations

import numpy as np
import pytest

import medigan_host
from medigan_host import MediganUsageError, sample_seed

pytestmark = pytest.mark.tensorflow
tf = pytest.importorskip("tensorflow")
mtf = pytest.importorskip("medigan_host.pipelines.tf")


def _generated(model: str, n: int, seed: int, **options):
    batch = next(iter(medigan_host.generate(model, n, seed=seed, batch_size=n, **options)))
    return batch.images, batch.masks, batch.seeds


def test_elements_equal_generate_whatever_the_block_size():
    images, masks, seeds = _generated("mammo-breast-phantom", 5, 3, condition={"density": "c"})
    for block_size in (1, 2, 16):
        dataset = mtf.synthetic_dataset("mammo-breast-phantom", 5, seed=3, condition={"density": "c"}, block_size=block_size)
        items = list(dataset.as_numpy_iterator())
        assert len(dataset) == len(items) == 5
        for i, item in enumerate(items):
            assert item["sample"].dtype == np.float32 and np.array_equal(item["sample"], images[i])
            assert item["mask"].dtype == np.int32 and np.array_equal(item["mask"], masks[i])
            assert item["label"] == b"c" and item["seed"] == seeds[i] == sample_seed(3, i) and item["index"] == i


def test_output_signature_follows_the_card():
    spec = mtf.synthetic_dataset("ct-head-phantom", 2, condition={"lesion": "present"}).element_spec
    assert spec["sample"] == tf.TensorSpec((256, 256, 1), tf.float32)
    assert spec["mask"] == tf.TensorSpec((256, 256, 1), tf.int32)
    assert spec["label"] == tf.TensorSpec((), tf.string)
    assert spec["seed"] == spec["index"] == tf.TensorSpec((), tf.int64)
    volume = mtf.synthetic_dataset("mri-brain-phantom-3d", 1).element_spec
    assert set(volume) == {"sample", "seed", "index"} and volume["sample"].shape == (64, 64, 64, 1)
    two = mtf.output_signature(medigan_host.get_card("mammo-breast-phantom"), {"density": "a", "lesion": "absent"})
    assert set(two["label"]) == {"density", "lesion"}


def test_normalize_batching_and_prefetch():
    images, _, _ = _generated("ct-head-phantom", 3, 1)
    raw = next(iter(mtf.synthetic_dataset("ct-head-phantom", 3, seed=1, normalize=False, batch_size=3, prefetch=None)))
    assert raw["sample"].shape == (3, 256, 256, 1) and np.array_equal(raw["sample"].numpy(), images.astype(np.float32))
    scaled = next(iter(mtf.synthetic_dataset("ct-head-phantom", 3, seed=1, batch_size=2, drop_remainder=True)))
    assert np.allclose(scaled["sample"].numpy(), images[:2] / 65535.0)
    assert len(mtf.synthetic_dataset("ct-head-phantom", 3, batch_size=2, drop_remainder=True)) == 1


def test_endless_stream_and_start():
    images, _, seeds = _generated("mammo-breast-phantom", 6, 9)
    endless = mtf.synthetic_dataset("mammo-breast-phantom", seed=9, block_size=4, start=2)
    assert endless.cardinality() == tf.data.INFINITE_CARDINALITY
    taken = list(endless.take(4).as_numpy_iterator())
    assert [int(item["index"]) for item in taken] == [2, 3, 4, 5]
    assert all(np.array_equal(item["sample"], images[2 + k]) and item["seed"] == seeds[2 + k] for k, item in enumerate(taken))


def test_image_to_image_model_with_inputs():
    slices, _, _ = _generated("ct-head-phantom", 2, 4)
    expected, _, _ = _generated("ct-lowdose-sim", 2, 5, inputs=slices, condition={"dose": "tenth"})
    dataset = mtf.synthetic_dataset("ct-lowdose-sim", seed=5, inputs=slices, condition={"dose": "tenth"}, normalize=False)
    assert len(dataset) == 2
    assert all(np.array_equal(item["sample"], expected[i]) for i, item in enumerate(dataset.as_numpy_iterator()))


def test_bad_arguments():
    with pytest.raises(MediganUsageError, match="block_size"):
        mtf.synthetic_dataset("ct-head-phantom", 2, block_size=0)
    with pytest.raises(MediganUsageError, match="takes no inputs"):
        mtf.synthetic_dataset("ct-head-phantom", 2, inputs=np.zeros((2, 256, 256, 1)))
    with pytest.raises(MediganUsageError, match="pass inputs="):
        mtf.synthetic_dataset("ct-lowdose-sim", 2)
    with pytest.raises(MediganUsageError, match="prefetch"):
        mtf.synthetic_dataset("ct-head-phantom", 2, prefetch=-5)
    with pytest.raises(medigan_host.ConditionError):
        mtf.synthetic_dataset("ct-head-phantom", 2, condition={"lesion": "maybe"})


def test_image_folder_dataset(tmp_path):
    medigan_host.generate("mammo-breast-phantom", 3, tmp_path / "run", seed=2, format="png16")
    images, _, _ = _generated("mammo-breast-phantom", 3, 2)
    dataset = mtf.image_folder_dataset(tmp_path / "run" / "images")
    items = list(dataset.as_numpy_iterator())
    assert len(dataset) == 3 and dataset.element_spec["sample"].shape == (256, 256, 1)
    assert all(np.allclose(item["sample"], images[i], atol=1 / 65535) for i, item in enumerate(items))


def test_mixed_dataset_interleaves_at_the_ratio(tmp_path):
    medigan_host.generate("ct-head-phantom", 4, tmp_path / "real", seed=1, format="png16")
    synthetic, _, _ = _generated("ct-head-phantom", 2, 8)
    mixed = list(mtf.mixed_dataset(tmp_path / "real" / "images", "ct-head-phantom", 1 / 3, seed=8).as_numpy_iterator())
    assert [bool(item["synthetic"]) for item in mixed] == [False, False, True, False, False, True]
    assert np.allclose(mixed[2]["sample"], synthetic[0] / 65535.0) and np.allclose(mixed[5]["sample"], synthetic[1] / 65535.0)
    real = mtf.image_folder_dataset(tmp_path / "real" / "images")
    assert np.array_equal(mixed[3]["sample"], list(real.as_numpy_iterator())[2]["sample"])
    with pytest.raises(MediganUsageError, match="between 0 and 1"):
        mtf.mixed_dataset(real, "ct-head-phantom", 1.5)
    with pytest.raises(MediganUsageError, match="resize"):
        mtf.mixed_dataset(real, "mri-brain-phantom-3d", 0.5)


def test_mask_channel_axis_is_fixed_by_the_card():
    spec = mtf.synthetic_dataset("ct-head-phantom", 2, batch_size=2).element_spec
    assert spec["mask"].shape.as_list() == [None, 256, 256, 1]
    card = medigan_host.ModelCard.from_dict({**medigan_host.get_card("ct-head-phantom").to_dict(), "mask_channels": 3})
    assert mtf.output_signature(card)["mask"].shape.as_list() == [256, 256, 3]


def test_the_docs_model_fit_example_runs_as_written(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "tf.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"^```python\n(.*?)^```", text, re.S | re.M) if "model.fit(" in b)
    namespace: dict = {}
    exec(compile(block, "docs/tf.md", "exec"), namespace)  # noqa: S102 - the documentation's own example
    history = namespace["model"].history.history
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert "TensorSpec(shape=(None, 256, 256, 1), dtype=tf.int32" in capsys.readouterr().out
