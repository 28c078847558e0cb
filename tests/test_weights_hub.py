"""Weights from the Hugging Face Hub: a repository file at a pinned commit, resolved through huggingface_hub against a
fake Hub (HF_ENDPOINT), checked against the card's sha256, bounded and locked like every other download."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import card

from medigan_host import CardError, ModelCard, WeightsError, fetch_weights
from medigan_host.devkit.weights_server import HubServer
from medigan_host.weights import ENTRY_MARKER, cached_files, clear_cache, model_folder, place_weights

pytest.importorskip("huggingface_hub")

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()
CONFIG = json.dumps({"_class_name": "UNet2DModel", "sample_size": 8}).encode()
CONFIG_SHA = hashlib.sha256(CONFIG).hexdigest()
REPO = "medigan-test/tiny-model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(root))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    for name in ("MEDIGAN_OFFLINE", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    return root


@pytest.fixture
def hub(cache, monkeypatch):
    with HubServer({REPO: {COMMIT: {WEIGHTS: PAYLOAD, "unet/config.json": CONFIG}}}, refs={REPO: {"main": COMMIT}}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.base_url)
        yield server


def hub_card(filename: str = WEIGHTS, sha: str = SHA, **entry) -> ModelCard:
    return ModelCard.from_dict(card("hubbed", weights={"hf": REPO, "revision": COMMIT, "filename": filename,
                                                        "sha256": sha, **entry}))


def test_hub_entry_is_validated_and_unpinned_revisions_are_refused():
    assert hub_card().weights[0] == {"hf": REPO, "revision": COMMIT, "filename": WEIGHTS, "sha256": SHA}
    base = {"hf": REPO, "revision": COMMIT, "filename": WEIGHTS, "sha256": SHA}
    for bad, words in [({**base, "revision": "main"}, "40-digit sha of a commit"),
                       ({**base, "revision": None}, "40-digit sha"),
                       ({**base, "hf": "no-slash"}, "Hub repository like"),
                       ({**base, "filename": "unet/../x.bin"}, "plain names"),
                       ({**base, "filename": "/abs.bin"}, "plain names"),
                       ({k: v for k, v in base.items() if k != "sha256"}, "sha256 is missing"),
                       ({**base, "url": "https://x.org/a"}, "both a Hub repository and a url"),
                       ({**base, "size": -1}, "positive number")]:
        with pytest.raises(CardError, match=words):
            ModelCard.from_dict(card("hubbed", weights=bad))
    assert ModelCard.from_dict(json.loads(json.dumps(hub_card().to_dict()))).weights == hub_card().weights


def test_fake_hub_serves_what_hf_hub_download_asks_for(hub, tmp_path):
    """The fake answers huggingface_hub's own download (LFS redirect to the CDN, plain files, a branch)."""
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(REPO, WEIGHTS, revision=COMMIT, cache_dir=str(tmp_path / "direct"), endpoint=hub.base_url)
    assert Path(path).read_bytes() == PAYLOAD
    path = hf_hub_download(REPO, "unet/config.json", revision="main", cache_dir=str(tmp_path / "direct"),
                           endpoint=hub.base_url)
    assert Path(path).read_bytes() == CONFIG
    assert f"HEAD /{REPO}/resolve/{COMMIT}/{WEIGHTS}" in hub.requests
    assert hub.cdn.requests == [HubServer.lfs_path(PAYLOAD)]


def test_hub_file_is_downloaded_verified_and_reused(hub, cache):
    model = hub_card()
    path = fetch_weights(model)
    assert path == model_folder(model) / WEIGHTS and path.read_bytes() == PAYLOAD
    assert hub.cdn.requests == [HubServer.lfs_path(PAYLOAD)]
    assert fetch_weights(model) == path and len(hub.cdn.requests) == 1  # verified from the cache, not downloaded again
    listed = {f.name: f.state for f in cached_files([model])}
    assert listed == {WEIGHTS: "declared"}
    config = hub_card("unet/config.json", CONFIG_SHA)  # a plain (non-LFS) file is served by the Hub itself
    assert fetch_weights(config).read_bytes() == CONFIG
    mine = model_folder(model) / "notes"  # a folder medigan did not make inside its entry is not its to delete
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    assert sorted(p.relative_to(model_folder(model)).as_posix() for p in clear_cache(model.id)) == [
        "unet/config.json", WEIGHTS]
    assert not (model_folder(model) / "unet").exists() and (mine / "keep.txt").read_text() == "mine"


def test_hub_that_publishes_another_sha256_is_refused_before_downloading(hub, cache):
    model = hub_card(sha="ab" * 32)
    with pytest.raises(WeightsError, match=f"publishes sha256 {SHA}, but the card pins") as info:
        fetch_weights(model)
    assert "Nothing was downloaded" in str(info.value)
    assert hub.cdn.requests == [] and not (model_folder(model) / WEIGHTS).exists()


def test_replaced_bytes_are_caught_by_the_sha256_and_nothing_is_kept(hub, cache):
    hub.cdn.files[HubServer.lfs_path(PAYLOAD)] = PAYLOAD[:-1] + b"\x00"  # same headers, other bytes
    model = hub_card()
    with pytest.raises(WeightsError, match="has sha256 .* but the card says"):
        fetch_weights(model)
    folder = model_folder(model) / "unet"
    assert not folder.exists() or [p for p in folder.iterdir() if p.name != ENTRY_MARKER] == []


def test_hub_answering_another_commit_is_refused(hub, cache, monkeypatch):
    other = "f" * 40
    hub.repos[REPO][other] = hub.repos[REPO][COMMIT]
    hub.refs[REPO][COMMIT] = other  # a Hub that resolves the pinned sha to something else
    with pytest.raises(WeightsError, match=f"answers commit {other}, not the pinned {COMMIT}"):
        fetch_weights(hub_card())


def test_missing_file_and_repository_say_what_to_check(hub, cache):
    with pytest.raises(WeightsError, match="no such repository, commit or file"):
        fetch_weights(hub_card("unet/missing.safetensors"))
    wrong = ModelCard.from_dict(card("hubbed", weights={"hf": "nobody/nothing", "revision": COMMIT, "filename": WEIGHTS,
                                                         "sha256": SHA}))
    with pytest.raises(WeightsError, match="could not ask the Hub .* gated or private"):
        fetch_weights(wrong)


def test_gated_repository_uses_the_token(hub, cache, monkeypatch):
    hub.gated[REPO] = "hf_secret"
    with pytest.raises(WeightsError, match="gated"):
        fetch_weights(hub_card())
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert fetch_weights(hub_card()).read_bytes() == PAYLOAD


def test_offline_switches_name_the_file_and_how_to_place_it(hub, cache, monkeypatch, tmp_path):
    for switch in ("HF_HUB_OFFLINE", "MEDIGAN_OFFLINE"):
        monkeypatch.setenv(switch, "1")
        with pytest.raises(WeightsError, match=f"{switch} forbids downloading it") as info:
            fetch_weights(hub_card())
        assert f"--name {WEIGHTS}" in str(info.value) and COMMIT in str(info.value)
        monkeypatch.delenv(switch)
    assert hub.requests == []
    source = tmp_path / "by-hand.safetensors"
    source.write_bytes(PAYLOAD)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    placed, how = place_weights(hub_card(), source, WEIGHTS)
    assert placed == model_folder(hub_card()) / WEIGHTS and "sha256 matches" in how
    assert fetch_weights(hub_card()) == placed


def test_file_in_the_hugging_face_cache_is_used_where_it_lies(hub, cache, tmp_path):
    from huggingface_hub import hf_hub_download

    cached = hf_hub_download(REPO, WEIGHTS, revision=COMMIT, cache_dir=str(tmp_path / "hf-cache"), endpoint=hub.base_url)
    hub.requests.clear()
    hub.cdn.requests.clear()
    assert fetch_weights(hub_card()) == Path(cached)
    assert hub.requests == [] and hub.cdn.requests == []
    assert not (model_folder(hub_card()) / WEIGHTS).exists()


def test_hub_downloads_are_bounded_like_the_others(hub, cache, monkeypatch):
    hub.cdn.behaviour[HubServer.lfs_path(PAYLOAD)] = "stall"
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_STALL_TIMEOUT", "0.5")
    with pytest.raises(WeightsError, match="stalled"):
        fetch_weights(hub_card())
    hub.cdn.behaviour[HubServer.lfs_path(PAYLOAD)] = "endless"
    hub.cdn.endless_limit = 4 * len(PAYLOAD)
    with pytest.raises(WeightsError, match=f"more than the {len(PAYLOAD):,} bytes"):
        fetch_weights(hub_card())
    assert not any(p.is_file() and p.name != ENTRY_MARKER for p in model_folder(hub_card()).rglob("*"))


def test_url_with_a_published_md5_is_checked_against_it_and_its_sha256_recorded(cache):
    """A MONAI bundle's large_files.yml publishes an md5 per file: such an entry is checked like a record's file."""
    from medigan_host.devkit.weights_server import WeightsServer

    md5 = hashlib.md5(PAYLOAD).hexdigest()
    with WeightsServer({"/model.pt": PAYLOAD}) as server:
        model = ModelCard.from_dict(card("md5ed", weights={"url": server.url("model.pt"), "md5": md5.upper()}))
        assert model.weights[0] == {"url": server.url("model.pt"), "md5": md5, "filename": "model.pt"}
        path = fetch_weights(model)
        assert path.read_bytes() == PAYLOAD
        assert (path.parent / "model.pt.sha256").read_text().split()[0] == SHA
        path.write_bytes(PAYLOAD[:-1] + b"\x01")  # changed on disk: caught by the recorded sha256
        with pytest.raises(WeightsError, match="changed or corrupted on disk"):
            fetch_weights(model)
        server.files["/model.pt"] = PAYLOAD[:-1] + b"\x01"  # the server now sends other bytes
        with pytest.raises(WeightsError, match=f"publishes md5 {md5}"):
            fetch_weights(model)
        assert not path.exists()
    with pytest.raises(CardError, match="32 hexadecimal"):
        ModelCard.from_dict(card("md5ed", weights={"url": "https://x.org/m.pt", "md5": "abc"}))
