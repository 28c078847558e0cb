"""The conditional Keras model keeps the medigan contract and generates the class it is asked for."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import medigan_host
from medigan_host import ConditionError, DeviceError, ModelCard, WeightsError

pytest.importorskip("tensorflow")

from medigan_plugin_cdcgan_histology import generator, plugin, stain  # noqa: E402

MODEL = plugin.MODEL_ID


@pytest.fixture(scope="module")
def model():
    medigan_host.reset_host()
    return medigan_host.load_model(MODEL, device="cpu")


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return medigan_host.get_card(MODEL)


def _dab_area(images: np.ndarray, card: ModelCard) -> np.ndarray:
    return stain.dab_positive_fraction(images, card.extra["labelling"]["dab_threshold"])


def test_registered_through_the_entry_point(card):
    info = {p.name: p for p in medigan_host.list_plugins()}["cdcgan-histology"]
    assert info.status == "ok" and info.distribution == "medigan-plugin-cdcgan-histology"
    assert info.models == [MODEL]
    assert card.framework == "tensorflow" and card.conditions == {"dab": ("negative", "positive")}
    assert card.metric("condition_accuracy")["n"] > 0


def test_listing_imports_neither_tensorflow_nor_the_generator():
    probe = ("import json, sys, medigan_host; medigan_host.list_models(); medigan_host.get_card('cdcgan-histology-ihc'); "
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras') "
             "or m.endswith('cdcgan_histology.generator'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_contract(model, card):
    seeds = [5, 6, 7]
    together = model.generate(seeds, condition={"dab": "positive"})  # checked against the card by the host
    assert together.images.shape == (3, 64, 64, 3) and together.images.dtype == np.uint8
    assert together.masks is None
    one_by_one = np.concatenate([model.generate([s], condition={"dab": "positive"}).images for s in seeds])
    assert np.array_equal(together.images, one_by_one)
    assert not np.array_equal(together.images[0], together.images[1])
    assert np.array_equal(model.generate(seeds, condition={"dab": "positive"}).images, together.images)


@pytest.mark.parametrize("condition", [None, {"dab": "negative"}])
def test_batch_size_never_changes_a_sample(condition):
    runs = [np.concatenate([b.images for b in medigan_host.generate(MODEL, 11, seed=3, batch_size=size, condition=condition,
                                                                     device="cpu")])
            for size in (1, 4, 11)]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])


def test_condition_is_applied(model, card):
    seeds = list(range(100, 148))
    negative = model.generate(seeds, condition={"dab": "negative"}).images
    positive = model.generate(seeds, condition={"dab": "positive"}).images
    neg_area, pos_area = _dab_area(negative, card), _dab_area(positive, card)
    # Same latents, other class: every sample changes, towards brown (DAB) for positive, towards blue/white for negative.
    assert all(not np.array_equal(a, b) for a, b in zip(negative, positive, strict=True))
    assert (pos_area > neg_area).mean() >= 0.95, (neg_area, pos_area)
    decision = 0.3  # halfway between the training classes (<= 10 % and >= 50 % DAB-positive area)
    assert (neg_area < decision).mean() >= 0.9 and (pos_area >= decision).mean() >= 0.9, (neg_area, pos_area)
    # DAB is brown: positive patches are redder than they are blue; haematoxylin-stained negatives are not.
    pos_rgb, neg_rgb = positive.reshape(-1, 3).mean(0), negative.reshape(-1, 3).mean(0)
    assert pos_rgb[0] - pos_rgb[2] > neg_rgb[0] - neg_rgb[2]


def test_class_is_drawn_from_the_seed_when_not_given(model):
    seeds = list(range(40))
    drawn = model.generate(seeds).images
    labels = generator.class_labels(seeds, None, ("negative", "positive"))
    assert 0 < labels.sum() < len(seeds)  # both classes occur
    for value, index in (("negative", 0), ("positive", 1)):
        chosen = [s for s, label in zip(seeds, labels, strict=True) if label == index]
        explicit = model.generate(chosen, condition={"dab": value}).images
        assert np.array_equal(drawn[labels == index], explicit)


@pytest.mark.parametrize("condition, message", [
    ({"lesion": "present"}, "has no condition 'lesion'; its conditions are: dab"),
    ({"dab": "maybe"}, "choose one of: negative, positive"),
])
def test_undeclared_conditions_are_rejected(model, condition, message):
    with pytest.raises(ConditionError, match=message):
        model.generate([1], condition=condition)
    with pytest.raises(ConditionError, match=message):
        medigan_host.generate(MODEL, 2, seed=0, condition=condition)


def test_condition_values_are_matched_case_insensitively(model):
    assert np.array_equal(model.generate([9], condition={"dab": "POSITIVE"}).images,
                          model.generate([9], condition={"dab": "positive"}).images)


def test_damaged_weights_are_never_loaded(card, tmp_path):
    entry = card.weights[0]
    original = medigan_host.fetch_weights(card)
    assert original.name == entry["filename"] and original.is_relative_to(Path(plugin.__file__).parent)
    damaged = tmp_path / entry["filename"]
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    tampered = ModelCard.from_dict({**card.to_dict(), "weights": {**entry, "url": damaged.as_uri()}})
    with pytest.raises(WeightsError, match="has sha256 .* but the card says"):
        generator.load(tampered, "cpu")
    assert damaged.read_bytes() == bytes(data)  # reported, left as it is
    assert hashlib.sha256(original.read_bytes()).hexdigest() == entry["sha256"]


def test_device_mapping(card):
    import tensorflow as tf

    assert generator.tensorflow_device("cpu", card) == "/CPU:0"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        assert generator.tensorflow_device("cuda", card) == "/GPU:0"
        assert generator.tensorflow_device(f"cuda:{len(gpus) - 1}", card) == f"/GPU:{len(gpus) - 1}"
    with pytest.raises(DeviceError, match="device 'cuda:99' was asked for, but TensorFlow sees .*--device cpu"):
        generator.tensorflow_device("cuda:99", card)


def test_dab_density_matches_scikit_image():
    color = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    assert np.allclose(stain.dab_density(rgb), color.rgb2hed(rgb)[..., 2], atol=1e-12)
