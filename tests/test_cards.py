"""Model cards: validation names the field, normalisation, extras kept, metric look-up."""

from __future__ import annotations

import json

import pytest
from conftest import card

from medigan_host import CardError, ModelCard


def test_round_trip_keeps_unknown_fields():
    data = card("round-trip", mask_labels={"0": "bg"}, upstream_id="00001_DCGAN_MMG_CALC_ROI", tags=["a", "b"])
    model_card = ModelCard.from_dict(data)
    assert model_card.extra == {"mask_labels": {"0": "bg"}}
    out = model_card.to_dict()
    assert out["mask_labels"] == {"0": "bg"}
    assert ModelCard.from_dict(json.loads(json.dumps(out))) == model_card


def test_normalises_case_and_sequences():
    model_card = ModelCard.from_dict(card("norm", framework="NumPy", modality="CT", image_size=(4, 5, 6),
                                          outputs="Image+Mask", conditions={"dose": ["low", "high"]}))
    assert model_card.framework == "numpy" and model_card.modality == "ct"
    assert model_card.image_size == (4, 5, 6) and model_card.ndim == 3
    assert model_card.has_masks and model_card.conditions == {"dose": ("low", "high")}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("id", "Has Spaces", "lower-case slug"),
        ("id", "-leading", "lower-case slug"),
        ("version", 1.0, "strings"),
        ("framework", "caffe", "pytorch, tensorflow, onnx"),
        ("image_size", [0, 8], "positive"),
        ("image_size", [8], "(height, width)"),
        ("channels", 0, "1 to 64"),
        ("outputs", "mask", "image, image+mask"),
        ("input", "text", "noise"),
        ("conditions", {"lesion": "benign"}, "allowed values"),
        ("conditions", {"Bad Name": ["x"]}, "identifier"),
        ("conditions", {"x": ["a", "a"]}, "twice"),
        ("metrics", {"fid": "low"}, "number"),
        ("metrics", {"fid": {"value": 1.0, "n": -3}}, "positive"),
        ("tags", "mammo", "list of strings"),
        ("weights", {"url": "ftp://x/y.bin", "sha256": "0" * 64}, "http"),
        ("weights", {"url": "https://x/y.bin", "sha256": "abc"}, "64 hexadecimal"),
        ("weights", {"url": "https://x/y.bin", "sha256": "0" * 64, "filename": "../../etc/passwd"}, "plain file name"),
        ("weights", {"url": "https://x/y.bin", "sha256": "0" * 64, "filename": "con.bin"}, "plain file name"),
        ("license", "", "non-empty"),
    ],
)
def test_invalid_field_is_named(field, value, words):
    with pytest.raises(CardError) as info:
        ModelCard.from_dict(card("bad-card", **{field: value}))
    assert info.value.field == field
    assert f"'{field}'" in str(info.value) and words in str(info.value)


def test_missing_required_field():
    data = card("incomplete")
    del data["license"]
    with pytest.raises(CardError, match="'license'.*required") as info:
        ModelCard.from_dict(data)
    assert info.value.model == "incomplete"


def test_error_located_in_plugin():
    with pytest.raises(CardError) as info:
        ModelCard.from_dict(card("loc", channels="one"))
    located = info.value.located(plugin="acme")
    assert "plugin 'acme'" in str(located) and "model 'loc'" in str(located) and "'channels'" in str(located)


def test_not_a_dict():
    with pytest.raises(CardError, match="ModelCard or a dict"):
        ModelCard.from_dict(["id", "x"])


def test_metric_lookup_is_case_insensitive_and_dotted():
    model_card = ModelCard.from_dict(card("metrics", metrics={
        "FID": 67.6,
        "fid_radimagenet": {"value": 1.27, "extractor": "radimagenet", "n": 1000},
        "downstream_task": {"CLF": {"accuracy": 0.9}},
    }))
    assert model_card.metric("fid") == {"value": 67.6}
    assert model_card.metric("FID_RadImageNet")["extractor"] == "radimagenet"
    assert model_card.metric("downstream_task.clf.ACCURACY") == {"value": 0.9}
    assert model_card.metric("ssim") is None
    assert model_card.metric("downstream_task") is None


def test_weights_entry_normalised():
    model_card = ModelCard.from_dict(card("w", weights={"url": "https://example.org/g.safetensors?dl=1", "sha256": "A" * 64}))
    (entry,) = model_card.weights
    assert entry["filename"] == "g.safetensors" and entry["sha256"] == "a" * 64


def test_keyword_construction_validates_too():
    with pytest.raises(CardError, match="'framework'"):
        ModelCard(id="x", name="x", version="1", description="d", framework="theano", modality="ct",
                  image_size=(8, 8), channels=1, license="MIT")


def test_extra_fields_are_json_data_and_cannot_shadow_card_fields():
    kept = ModelCard.from_dict({**card("x"), "extra": {"site": {1: ("a", "b")}}})
    assert kept.extra == {"site": {"1": ["a", "b"]}}  # the JSON form, so the card round-trips through its file
    assert ModelCard.from_dict(json.loads(json.dumps(kept.to_dict()))) == kept
    with pytest.raises(CardError, match="'version'.*card fields.*top level") as error:
        ModelCard.from_dict({**card("x"), "extra": {"version": None}})
    assert error.value.field == "extra"
    for bad in ({"when": {1, 2}}, {"score": float("nan")}):
        with pytest.raises(CardError, match="extra fields must hold JSON data"):
            ModelCard.from_dict({**card("x"), "extra": bad})
