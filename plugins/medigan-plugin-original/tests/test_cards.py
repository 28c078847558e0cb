"""The 23 cards of the original models: complete, distinct, light to list."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medigan_host import get_card, list_models

ORIGINAL_IDS = [f"{n:05d}" for n in range(1, 24)]
WITH_MASKS = {"00004", "00007", "00009", "00010", "00011"}
IMAGE_INPUT = {"00003", "00013", "00014", "00015", "00016", "00021", "00023"}


def _original_cards():
    return [card for card in list_models() if card.extra.get("remote_code")]


def test_23_distinct_upstream_ids_with_records():
    cards = _original_cards()
    upstream = sorted(card.upstream_id for card in cards)
    assert len(cards) == 23 and len(set(upstream)) == 23
    assert [u[:5] for u in upstream] == ORIGINAL_IDS
    for card in cards:
        (entry,) = card.weights
        assert entry["doi"].startswith("10.5281/zenodo.") and entry["filename"].endswith(".zip")
        assert card.extra["original"]["record"] == int(entry["doi"].rsplit(".", 1)[1])
        assert card.license and card.citation and card.modality and card.anatomy and card.dataset
        assert card.extra["selection"]["modality"] or card.upstream_id.startswith("00021")


@pytest.mark.parametrize("number", ORIGINAL_IDS)
def test_outputs_inputs_conditions_follow_the_original(number):
    card = next(c for c in _original_cards() if c.upstream_id.startswith(number))
    assert card.outputs == ("image+mask" if number in WITH_MASKS else "image")
    assert card.input == ("image" if number in IMAGE_INPUT else "noise")
    if number in {"00008", "00012"}:
        assert card.conditions == {"malignancy": ("benign", "malignant")}
    elif number == "00022":
        assert set(card.conditions) == {"age_offset"}
    else:
        assert card.conditions == {}


def test_every_published_metric_is_on_the_card():
    card = get_card("original-00002-dcgan-mmg-mass-roi")
    assert card.metric("FID")["value"] == 80.51 and card.metric("FID")["n"] == 1000
    assert card.metric("FID_RADIMAGENET")["value"] == 6.19
    assert card.metric("FID_ratio")["value"] == 0.358
    assert card.metric("CLF.trained_on_real_and_fake.f1")["value"] == 0.96
    assert card.metric("turing_test.AUC")["values"] == [0.56, 0.45]
    assert card.metric("SSIM") is None  # null in the original: not published
    dce = get_card("original-00023-pix2pixhd-breast-dcemri")
    assert dce.metric("SSIM")["value"] == 0.726 and dce.metric("downstream_task.SEG.trained_on_real.dice")["value"] == 0.79


def test_selection_values_of_the_original_are_kept():
    card = get_card("original-00005-dcgan-mmg-mass-roi")
    selection = card.extra["selection"]
    assert "Full-field Mammography" in selection["tags"] and "MMG" in selection["modality"]
    assert selection["dataset"] == ["BCDR"] and selection["license"] == "MIT"
    assert get_card("original-00003-cyclegan-mmg-density-full").extra["selection"]["license"] == "BSD"


def test_cards_round_trip_through_json():
    from medigan_host import ModelCard

    for card in _original_cards():
        assert ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card


def test_listing_imports_no_framework_and_no_model_code():
    code = ("import sys, medigan_host as m; cards = [c for c in m.list_models() if c.extra.get('remote_code')]; "
            "assert len(cards) == 23; heavy = {'torch', 'tensorflow', 'onnxruntime', 'medigan_plugin_original.runner'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_list_and_info_show_remote_code():
    from click.testing import CliRunner

    from medigan_host.cli import cli

    listed = json.loads(CliRunner().invoke(cli, ["list", "--json"]).output)
    remote = [c for c in listed if c.get("remote_code")]
    assert len({c["upstream_id"] for c in remote}) == 23
    table = CliRunner().invoke(cli, ["list"]).output
    assert "original-00019-pggan-chest-xray" in table and "(remote code)" in table
    info = CliRunner().invoke(cli, ["info", "00019_PGGAN_CHEST_XRAY"]).output
    assert "remote_code" in info and "true" in info and "10.5281/zenodo.7047097" in info
