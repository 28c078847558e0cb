"""`medigan card export`: the JSON Schema of cards (published as docs/card.schema.json), a Hugging Face model card
read back by huggingface_hub, and a MONAI metadata.json."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, card, run_cli

from medigan_host import CardError, ModelCard
from medigan_host.catalog.export import card_json_schema, hf_model_card, monai_metadata
from medigan_host.plugins import get_host

MEASURED = card("measured", metrics={"fid": {"value": 12.5, "n": 1000}, "kid": 0.01}, dataset="CBIS-DDSM",
                license="Apache-2.0", tags=["gan"], conditions={"lesion": ["benign", "malignant"]}, citation="A B. 2024",
                doi="10.1/x")


def test_the_published_schema_is_the_generated_one():
    assert json.loads((REPO / "docs" / "card.schema.json").read_text()) == card_json_schema()


def test_every_installed_card_follows_the_schema_and_bad_ones_do_not():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(card_json_schema())
    cards = [entry.card.to_dict() for entry in get_host().catalog]
    assert cards
    for data in cards + [MEASURED]:
        assert not list(validator.iter_errors(data)), data["id"]
    pinned = {"hf": "org/repo", "revision": "a" * 40, "filename": "unet/x.safetensors", "sha256": "b" * 64}
    assert not list(validator.iter_errors(card("hubbed", weights=[pinned])))
    for bad in (card("Bad Id"), card("x", framework="caffe"), card("x", image_size=[8]),
                card("x", weights={**pinned, "revision": "main"}), card("x", weights={"url": "https://a.org/w.pt"}),
                {k: v for k, v in card("x").items() if k != "license"}):
        assert list(validator.iter_errors(bad)), bad


SHA = "a" * 64
PINNED = {"hf": "org/repo", "revision": "b" * 40, "filename": "unet/x.safetensors", "sha256": SHA}
EDGE_CARDS = [  # (card, whether medigan accepts it): the schema must say the same
    (card("con"), False), (card("x", name="  "), False), (card("x", channels=65), False), (card("x", image_size=[8, 8, 8, 8]), False),
    (card("x", weights={"url": "https://a.org/w.bin", "md5": "c" * 32}), True),
    (card("x", weights={"url": "file:///w.bin", "md5": "c" * 32}), False),
    (card("x", weights={"url": "https://a.org/w.bin", "sha256": SHA, "filename": "con.bin"}), False),
    (card("x", weights={"url": "https://a.org/w.bin", "sha256": SHA, "filename": "a..b"}), False),
    (card("x", weights={"url": "package://pkg/sub/w.bin", "sha256": SHA}), True),
    (card("x", weights={"url": "package://pkg/../w.bin", "sha256": SHA}), False),
    (card("x", weights={"doi": "10.5281/zenodo.7031735", "filename": "w.pt"}), True),
    (card("x", weights={"doi": "10.5281/zenodo.7031735", "filename": "w.pt", "url": "https://a.org/w.pt"}), False),
    (card("x", weights=PINNED), True), (card("x", weights={**PINNED, "filename": "unet/../x"}), False),
    (card("x", weights={**PINNED, "filename": "nul/x.bin"}), False), (card("x", weights={**PINNED, "doi": "10.5281/zenodo.1"}), False),
    (card("x", upstream_id=" "), False), (card("x", extra={"id": "y"}), False), (card("x", tags=["a", ""]), False),
    (card("x", metrics={"fid": {"value": 1.5, "n": 0}}), False), (card("x", metrics={"group": {"fid": 2, "kid": {"value": 1}}}), True),
    (card("x", conditions={"Lesion": ["a"]}), False), (card("x", conditions={"lesion": []}), False),
    # the physical extra fields and a local folder of weights
    (card("x", spacing=[0.5, 0.5], orientation=[1, 0, 0, 0, 0, -1], rescale={"slope": 1, "intercept": -1024, "unit": "HU"},
          mask_channels=2), True),
    (card("x", spacing=[0.5, 0]), False), (card("x", spacing=[1, 1, 1, 1]), False),
    (card("x", orientation=[1, 0, 0, 0, 1]), False), (card("x", rescale={"slope": 0, "intercept": 0}), False),
    (card("x", rescale={"slope": 1, "intercept": 0, "offset": 3}), False), (card("x", mask_channels=0), False),
    (card("x", extra={"spacing": [0.5, "a"]}), False),
    (card("x", weights={"folder": "/models/tiny", "sha256": SHA}), True),
    (card("x", weights={"folder": "file:///models/tiny", "sha256": SHA, "filename": "tiny"}), True),
    (card("x", weights={"folder": "models/tiny", "sha256": SHA}), False),
    (card("x", weights={"folder": "/models/tiny"}), False),
    (card("x", weights={"folder": "/models/tiny", "sha256": SHA, "url": "https://a.org/w.bin"}), False),
    (card("x", weights={"folder": "/models/tiny", "sha256": SHA, "doi": "10.5281/zenodo.7031735", "filename": "w"}), False),
    (card("x", weights={**PINNED, "folder": "/models/tiny"}), False),
]


@pytest.mark.parametrize(("data", "accepted"), EDGE_CARDS)
def test_the_schema_and_the_validator_agree_on_edge_cards(data, accepted):
    jsonschema = pytest.importorskip("jsonschema")
    errors = list(jsonschema.Draft202012Validator(card_json_schema()).iter_errors(data))
    if accepted:
        assert not errors and ModelCard.from_dict(data).to_dict()
        assert not list(jsonschema.Draft202012Validator(card_json_schema()).iter_errors(ModelCard.from_dict(data).to_dict()))
    else:
        assert errors
        with pytest.raises(CardError):
            ModelCard.from_dict(data)


def test_the_schema_declares_every_card_field():
    """The schema is generated from the validator's declarations: a field added to ModelCard without one fails."""
    import dataclasses

    from medigan_host.cards import PATTERNS, REQUIRED_FIELDS

    schema = card_json_schema()
    assert {f.name for f in dataclasses.fields(ModelCard)} <= set(schema["properties"])
    assert schema["required"] == list(REQUIRED_FIELDS)
    assert schema["properties"]["id"]["pattern"] == PATTERNS["id"]


def test_hf_model_card_is_read_back_by_huggingface_hub():
    huggingface_hub = pytest.importorskip("huggingface_hub")
    text = hf_model_card(ModelCard.from_dict(MEASURED), plugin="medigan-plugin-x")
    parsed = huggingface_hub.ModelCard(text)
    assert parsed.data.license == "apache-2.0"
    assert parsed.data.pipeline_tag == "unconditional-image-generation"
    assert "medical-imaging" in parsed.data.tags
    results = {r.metric_type: r.metric_value for r in parsed.data.eval_results}
    assert results == {"fid": 12.5, "kid": 0.01}
    assert "`lesion`: benign, malignant" in parsed.text
    other = huggingface_hub.ModelCard(hf_model_card(ModelCard.from_dict(card("odd", license="Custom terms v2"))))
    assert other.data.license == "other" and other.data.license_name == "Custom terms v2"


def test_monai_metadata_has_the_fields_of_its_schema():
    meta = monai_metadata(ModelCard.from_dict(MEASURED))
    for key in ("version", "monai_version", "pytorch_version", "numpy_version", "required_packages_version", "task",
                "description", "authors", "copyright", "network_data_format", "changelog"):
        assert key in meta, key
    pred = meta["network_data_format"]["outputs"]["pred"]
    assert pred["spatial_shape"] == [8, 8] and pred["num_channels"] == 1
    assert meta["network_data_format"]["inputs"]["condition"]["channel_def"] == {"0": "lesion"}
    assert meta["eval_metrics"] == {"fid": 12.5, "kid": 0.01} and meta["license"] == "Apache-2.0"


def test_cli_export(tmp_path):
    done = run_cli("card", "export", "ct-head-phantom", "--format", "monai")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"]
    done = run_cli("card", "export", "ct-head-phantom", "--format", "hf", "--output-file", str(tmp_path / "README.md"))
    assert done.returncode == 0 and (tmp_path / "README.md").read_text().startswith("---\n")
    schema = run_cli("card", "export", "--format", "json-schema")
    assert json.loads(schema.stdout) == card_json_schema()
    bundle = run_cli("card", "export", "ct-head-phantom", "--format", "monai", "--output-dir", str(tmp_path / "bundle"))
    assert bundle.returncode == 0, bundle.stderr
    assert sorted(p.relative_to(tmp_path / "bundle").as_posix() for p in (tmp_path / "bundle").rglob("*") if p.is_file()) \
        == ["configs/inference.json", "configs/metadata.json", "docs/README.md"]
    meta = json.loads((tmp_path / "bundle/configs/metadata.json").read_text())
    assert meta["optional_packages_version"]["medigan-plugin-phantoms"] and "latent" in meta["network_data_format"]["inputs"]
    for args, words in ((("ct-head-phantom", "--format", "hf", "--output-dir", str(tmp_path / "b")), "--format monai"),
                        (("--format", "hf"), "needs a MODEL"), (("ct-head-phantom", "--format", "json-schema"), "no MODEL"),
                        (("ct-head-phantom", "--format", "yaml"), "Invalid value")):
        done = run_cli("card", "export", *args)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


def test_the_card_in_docs_sources_is_a_valid_card():
    text = (REPO / "docs" / "sources.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    assert blocks
    for block in blocks:
        data = json.loads(block)
        parsed = ModelCard.from_dict(data)
        assert parsed.weights
        if "monai" in parsed.extra:
            assert parsed.extra["monai"]["diffusion"]["class"] == "DiffusionModelUNet"
        else:  # the save_pretrained folder card
            assert parsed.extra["diffusers"]["pipeline"] == "DDPMPipeline" and "folder" in parsed.weights[0]
