"""The phantom models keep the medigan contract and show the anatomy their cards promise."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from medigan_plugin_phantoms import plugin

import medigan_host

MODELS = [card["id"] for card in plugin.CARDS]


def _inputs(model_id: str, n: int):
    if model_id != "ct-lowdose-sim":
        return None
    (batch,) = medigan_host.generate("ct-head-phantom", n, seed=99, batch_size=n)
    return batch.images


def test_registered_through_the_entry_point():
    phantoms = {p.name: p for p in medigan_host.list_plugins()}["phantoms"]
    assert phantoms.status == "ok" and phantoms.distribution == "medigan-plugin-phantoms"
    assert phantoms.models == MODELS


def test_plugin_module_is_light():
    for name in [m for m in sys.modules if m.startswith("medigan_plugin_phantoms")]:
        del sys.modules[name]
    importlib.import_module("medigan_plugin_phantoms.plugin")
    heavy = [m for m in sys.modules if m.startswith("medigan_plugin_phantoms.") and not m.endswith(".plugin")]
    assert heavy == [], "registration must not import the generators"


@pytest.mark.parametrize("model_id", MODELS)
def test_contract(model_id):
    card = medigan_host.get_card(model_id)
    model = medigan_host.load_model(model_id, device="cpu")
    seeds = [5, 6, 7]
    inputs = _inputs(model_id, 3)
    together = model.generate(seeds, inputs=inputs)  # checked against the card by the host
    assert together.images.shape == (3, *card.image_size, card.channels)
    assert (together.masks is not None) == card.has_masks
    one_by_one = [model.generate([s], inputs=None if inputs is None else inputs[i:i + 1]) for i, s in enumerate(seeds)]
    assert np.array_equal(together.images, np.concatenate([s.images for s in one_by_one]))
    if card.has_masks:
        assert np.array_equal(together.masks, np.concatenate([s.masks for s in one_by_one]))
    assert not np.array_equal(together.images[0], together.images[1])
    for name, values in card.conditions.items():
        for value in values:
            model.generate([1], condition={name: value}, inputs=None if inputs is None else inputs[:1])


def test_head_ct_anatomy():
    (batch,) = medigan_host.generate("ct-head-phantom", 8, seed=1, condition={"lesion": "present"}, batch_size=8)
    hu = batch.images[..., 0].astype(int) - 1024
    labels = batch.masks[..., 0]
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4}
    assert np.median(hu[labels == 0]) < -900           # air
    assert np.median(hu[labels == 1]) > 500            # bone
    assert 20 < np.median(hu[labels == 2]) < 50        # brain parenchyma
    assert np.median(hu[labels == 3]) < np.median(hu[labels == 2])   # CSF darker than brain
    assert np.median(hu[labels == 4]) > np.median(hu[labels == 2])   # acute blood brighter than brain
    (clean,) = medigan_host.generate("ct-head-phantom", 8, seed=1, condition={"lesion": "absent"}, batch_size=8)
    assert not (clean.masks == 4).any()


def test_breast_density_and_masses():
    fractions = {}
    for density in "abcd":
        (batch,) = medigan_host.generate("mammo-breast-phantom", 6, seed=3, batch_size=6,
                                         condition={"density": density, "lesion": "absent"})
        breast = batch.masks[..., 0] >= 1
        assert not (batch.masks == 2).any()
        fractions[density] = float(np.mean(batch.images[..., 0][breast]))
    assert fractions["a"] < fractions["b"] < fractions["c"] < fractions["d"], fractions
    (with_mass,) = medigan_host.generate("mammo-breast-phantom", 6, seed=3, batch_size=6, condition={"lesion": "present"})
    assert all((m == 2).any() for m in with_mass.masks)
    assert ((with_mass.masks == 0) == (with_mass.images < 0.02)).mean() > 0.95   # dark outside the breast


def test_brain_volume_is_symmetric_head():
    (batch,) = medigan_host.generate("mri-brain-phantom-3d", 1, seed=0)
    volume = batch.images[0, ..., 0]
    assert volume.shape == (64, 64, 64) and 0 <= volume.min() and volume.max() <= 1
    centre = volume[28:36, 28:36, 28:36].mean()
    corner = volume[:4, :4, :4].mean()
    assert centre > corner + 0.1                          # head inside, background outside
    assert np.corrcoef(volume[32].ravel(), volume[32][:, ::-1].ravel())[0, 1] > 0.8   # left-right symmetric


def test_lowdose_noise_grows_as_dose_falls():
    (source,) = medigan_host.generate("ct-head-phantom", 4, seed=8, batch_size=4)
    brain = source.masks[..., 0] == 2
    spread = {}
    for dose in ("half", "quarter", "tenth"):
        (out,) = medigan_host.generate("ct-lowdose-sim", inputs=source.images, condition={"dose": dose}, seed=2,
                                       batch_size=4)
        spread[dose] = float((out.images[..., 0].astype(float) - source.images[..., 0])[brain].std())
    assert spread["half"] < spread["quarter"] < spread["tenth"]
    assert 7 < spread["half"] < 13 and 25 < spread["tenth"] < 35   # 10 HU * sqrt(1/dose - 1)
