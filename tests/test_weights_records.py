"""Weights from DOI records: found through the (fake) Zenodo record API, checked against the record's md5 and size,
recorded by sha256 and checked on every later use; offline and network errors that say where to place a copy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import card, run_cli

from medigan_host import CardError, ModelCard, WeightsError, fetch_weights
from medigan_host.devkit.weights_server import RecordServer
from medigan_host.weights import ENTRY_MARKER, model_folder, place_weights

PAYLOAD = bytes(range(256)) * 2048  # 512 KiB of known bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
RECORD = 7031735
DOI = f"10.5281/zenodo.{RECORD}"
NAME = "model.zip"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(root))
    monkeypatch.delenv("MEDIGAN_OFFLINE", raising=False)
    monkeypatch.delenv("MEDIGAN_ZENODO_URL", raising=False)
    return root


@pytest.fixture
def zenodo(cache, monkeypatch):
    with RecordServer({RECORD: {NAME: PAYLOAD, "README.md": b"readme"}}) as server:
        monkeypatch.setenv("MEDIGAN_ZENODO_URL", server.base_url)
        yield server


def record_card(**entry) -> ModelCard:
    return ModelCard.from_dict(card("recorded", weights={"doi": DOI, "filename": NAME, **entry}))


def test_record_entry_is_validated():
    assert record_card().weights[0] == {"doi": DOI, "filename": NAME}
    assert record_card(sha256=SHA.upper(), size=len(PAYLOAD)).weights[0]["sha256"] == SHA
    for bad, words in [({"doi": "10.1000/xyz", "filename": NAME}, "Zenodo DOI"),
                       ({"doi": DOI}, "filename is missing"),
                       ({"doi": DOI, "filename": "../x.zip"}, "plain file name"),
                       ({"doi": DOI, "filename": NAME, "url": "https://x.org/a"}, "both a doi and a url"),
                       ({"doi": DOI, "filename": NAME, "sha256": "abc"}, "64 hexadecimal"),
                       ({"doi": DOI, "filename": NAME, "size": 0}, "positive number")]:
        with pytest.raises(CardError, match=words):
            ModelCard.from_dict(card("recorded", weights=bad))
    round_trip = ModelCard.from_dict(json.loads(json.dumps(record_card().to_dict())))
    assert round_trip.weights == record_card().weights


def test_record_file_is_downloaded_verified_recorded_and_reused(zenodo, cache):
    model = record_card()
    path = fetch_weights(model)
    assert path == cache / "recorded" / "1.0.0" / NAME and path.read_bytes() == PAYLOAD
    assert (path.parent / f"{NAME}.sha256").read_text() == f"{SHA}  {NAME}\n"
    assert zenodo.requests == [f"/api/records/{RECORD}", f"/api/records/{RECORD}/files/{NAME}/content"]
    assert fetch_weights(model) == path and len(zenodo.requests) == 2, "a cached, recorded file needs no network"
    assert sorted(p.name for p in path.parent.iterdir()) == [ENTRY_MARKER, NAME, f"{NAME}.sha256"]


def test_file_differing_from_the_record_is_deleted_and_named(zenodo):
    tampered = bytearray(PAYLOAD)
    tampered[100] ^= 1
    zenodo.files[zenodo.file_path(RECORD, NAME)] = bytes(tampered)
    model = record_card()
    with pytest.raises(WeightsError) as info:
        fetch_weights(model)
    message = str(info.value)
    for words in (str(RECORD), NAME, MD5, hashlib.md5(bytes(tampered)).hexdigest(), "deleted", "nothing was kept"):
        assert words in message, words
    assert not model_folder(model).exists() or [p.name for p in model_folder(model).iterdir()] == [ENTRY_MARKER]


def test_pinned_sha256_is_checked_instead_of_the_record(zenodo):
    with pytest.raises(WeightsError, match=f"card says {'0' * 64}"):
        fetch_weights(record_card(sha256="0" * 64))
    path = fetch_weights(record_card(sha256=SHA))
    assert path.read_bytes() == PAYLOAD and not (path.parent / f"{NAME}.sha256").exists()


def test_cached_file_changed_on_disk_is_caught_by_its_recorded_sha256(zenodo):
    model = record_card()
    path = fetch_weights(model)
    path.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(WeightsError, match="recorded when it was verified against record 7031735") as info:
        fetch_weights(model)
    assert "so it was deleted" in str(info.value) and not path.exists()
    assert fetch_weights(model).read_bytes() == PAYLOAD


def test_record_without_the_file_lists_what_it_has(zenodo):
    model = ModelCard.from_dict(card("recorded", weights={"doi": DOI, "filename": "other.zip"}))
    with pytest.raises(WeightsError, match=r"record 7031735 has no file 'other.zip' \(it has: model.zip, README.md\)"):
        fetch_weights(model)


def _assert_explains(message: str, model: ModelCard) -> None:
    for words in (f"record {RECORD}", repr(NAME), f"https://doi.org/{DOI}", str(model_folder(model)),
                  "medigan cache place recorded FILE"):
        assert words in message, words


def test_offline_names_record_file_landing_page_and_cache_path(zenodo, monkeypatch):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    model = record_card()
    with pytest.raises(WeightsError, match="MEDIGAN_OFFLINE") as info:
        fetch_weights(model)
    _assert_explains(str(info.value), model)
    assert zenodo.requests == []


def test_unreachable_record_server_explains(cache, monkeypatch):
    with RecordServer({}) as server:
        base = server.base_url
    monkeypatch.setenv("MEDIGAN_ZENODO_URL", base)  # the server is gone: connection refused
    model = record_card()
    with pytest.raises(WeightsError, match="could not read record 7031735") as info:
        fetch_weights(model)
    _assert_explains(str(info.value), model)
    monkeypatch.setenv("MEDIGAN_ZENODO_URL", "zenodo.org")
    with pytest.raises(ValueError, match="MEDIGAN_ZENODO_URL"):
        fetch_weights(model)


def test_file_placed_by_hand_is_verified_against_the_record(zenodo):
    model = record_card()
    folder = model_folder(model)
    folder.mkdir(parents=True)
    (folder / NAME).write_bytes(PAYLOAD[::-1])  # same size, other bytes
    with pytest.raises(WeightsError, match=f"publishes md5 {MD5}"):
        fetch_weights(model)
    assert not (folder / NAME).exists()
    (folder / NAME).write_bytes(PAYLOAD)
    assert fetch_weights(model).read_bytes() == PAYLOAD
    assert (folder / f"{NAME}.sha256").read_text().startswith(SHA)
    assert f"/api/records/{RECORD}/files/{NAME}/content" not in zenodo.requests


def test_file_placed_by_hand_offline_is_used_and_recorded(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    model = record_card()
    (model_folder(model)).mkdir(parents=True)
    (model_folder(model) / NAME).write_bytes(PAYLOAD)
    with pytest.warns(UserWarning, match="could not be checked against record 7031735"):
        assert fetch_weights(model).read_bytes() == PAYLOAD
    assert (model_folder(model) / f"{NAME}.sha256").read_text().startswith(SHA)
    wrong_size = ModelCard.from_dict({**record_card(size=len(PAYLOAD) + 1).to_dict(), "id": "recorded-2"})
    model_folder(wrong_size).mkdir(parents=True)
    (model_folder(wrong_size) / NAME).write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match="not the published file"):
        fetch_weights(wrong_size)


def test_place_weights_checks_before_placing(zenodo, tmp_path, monkeypatch):
    model = record_card()
    wrong = tmp_path / NAME
    wrong.write_bytes(b"not the zip")
    with pytest.raises(WeightsError, match="nothing was placed"):
        place_weights(model, wrong)
    assert not model_folder(model).exists() or [p.name for p in model_folder(model).iterdir()] == [ENTRY_MARKER]
    good = tmp_path / "download.zip"
    good.write_bytes(PAYLOAD)
    path, how = place_weights(model, good)
    assert path == model_folder(model) / NAME and "md5 and size match record 7031735" in how
    assert good.exists(), "the source is copied, never moved"
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    assert fetch_weights(model) == path
    pinned = ModelCard.from_dict(card("pinned", weights={"doi": DOI, "filename": NAME, "sha256": "1" * 64}))
    with pytest.raises(WeightsError, match="card says 1111"):
        place_weights(pinned, good)


RECORD_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({{"id": "recorded-model", "name": "r", "version": "1", "description": "d", "framework": "numpy",
              "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT",
              "weights": {{"doi": "{doi}", "filename": "{name}"}}}}, "medigan_test_recorded:load")

def load(card, device):
    raise RuntimeError("not used")
'''


def test_fetch_and_cache_place_commands(site, tmp_path):
    site.add("recorded", RECORD_PLUGIN.format(doi=DOI, name=NAME))
    source = tmp_path / "by-hand.zip"
    source.write_bytes(PAYLOAD)
    with RecordServer({RECORD: {NAME: PAYLOAD}}) as server:
        env = site.env(MEDIGAN_CACHE_DIR=str(tmp_path / "cache"), MEDIGAN_ZENODO_URL=server.base_url)
        env.pop("MEDIGAN_OFFLINE", None)
        fetched = run_cli("fetch", "recorded-model", "--json", env=env)
        assert fetched.returncode == 0, fetched.stderr
        (entry,) = json.loads(fetched.stdout)
        assert entry["status"] == "downloaded" and entry["sha256"] == SHA
        assert run_cli("cache", "clear", "recorded-model", env=env).returncode == 0
        offline = {**env, "MEDIGAN_OFFLINE": "1"}
        refused = run_cli("generate", "recorded-model", "-n", "1", "-o", str(tmp_path / "out"), env=offline)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        placed = run_cli("cache", "place", "recorded-model", str(source), env=offline)
        assert placed.returncode == 0, placed.stderr
        assert "not checked against record 7031735" in placed.stdout and server.requests.count(f"/api/records/{RECORD}") == 1
        listing = json.loads(run_cli("cache", "list", "--json", env=env).stdout)["files"]
        assert [(f["name"], f["state"]) for f in listing] == [(NAME, "declared")]
        again = run_cli("fetch", "recorded-model", "--json", env=offline)
        assert again.returncode == 0 and json.loads(again.stdout)[0]["status"] == "verified"
    missing = run_cli("cache", "place", "recorded-model", str(tmp_path / "nope.zip"), env=env)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_contract_check_verifies_a_cached_record_file(zenodo):
    from medigan_host.devkit.contract import check_weights_verifiable

    model = record_card()
    assert "not in the cache" in check_weights_verifiable(model).detail
    path = fetch_weights(model)
    result = check_weights_verifiable(model)
    assert result.status == "PASS" and "sha256 matches" in result.detail
    path.write_bytes(PAYLOAD[:-1] + b"!")
    result = check_weights_verifiable(model)
    assert result.status == "FAIL" and f"expected {SHA}" in result.detail
