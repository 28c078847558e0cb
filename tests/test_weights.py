"""Weights: download into the cache, verify on every use, never keep a bad file; offline mode; the cache commands."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import card, run_cli

from medigan_host import CardError, ModelCard, WeightsError, fetch_weights
from medigan_host.devkit.weights_server import WeightsServer
from medigan_host.weights import ENTRY_MARKER, cached_files, claim_folder, clear_cache, model_folder, store_weights, stored_weights

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB of known bytes
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(root))
    monkeypatch.delenv("MEDIGAN_OFFLINE", raising=False)
    return root


def weights_card(url: str, model_id: str = "weighted", **entry) -> ModelCard:
    return ModelCard.from_dict(card(model_id, weights={"url": url, "sha256": DIGEST, "size": len(PAYLOAD), **entry}))


def leftovers(folder: Path) -> list[str]:
    """The files in a cache folder besides medigan's entry marker."""
    return sorted(p.name for p in folder.iterdir() if p.name != ENTRY_MARKER) if folder.is_dir() else []


def test_download_is_verified_cached_and_reused(cache):
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        model = weights_card(server.url("/g.bin"))
        path = fetch_weights(model)
        assert path == cache / "weighted" / "1.0.0" / "g.bin" and path.read_bytes() == PAYLOAD
        assert fetch_weights(model, "g.bin") == path
        assert server.requests == ["/g.bin"], "the second call must use the cache"
    assert leftovers(path.parent) == ["g.bin"]


def test_progress_bar_on_request(cache, capsys):
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        fetch_weights(weights_card(server.url("/g.bin")), progress=True)
    shown = capsys.readouterr().err
    assert "g.bin" in shown and "100%" in shown and "1.00M" in shown


def test_no_progress_bar_when_not_asked(cache, capsys):
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        fetch_weights(weights_card(server.url("/g.bin")), progress=False)
    assert capsys.readouterr().err == ""


def test_tampered_cache_file_is_caught_on_load(cache):
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        model = weights_card(server.url("/g.bin"))
        path = fetch_weights(model)
        stat = path.stat()
        tampered = bytearray(PAYLOAD)
        tampered[1000] ^= 0xFF
        path.write_bytes(bytes(tampered))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time: only the content differs
        with pytest.raises(WeightsError, match="changed or corrupted on disk, so it was deleted") as info:
            fetch_weights(model)
        assert DIGEST in str(info.value) and "medigan fetch weighted" in str(info.value)
        assert not path.exists()
        assert fetch_weights(model).read_bytes() == PAYLOAD and len(server.requests) == 2


@pytest.mark.parametrize("served", [PAYLOAD[:300_000], PAYLOAD[:-1] + b"x"], ids=["truncated", "tampered"])
def test_bad_download_is_deleted_and_reported(cache, served):
    with WeightsServer({"/g.bin": served}) as server:
        model = weights_card(server.url("/g.bin"))
        with pytest.raises(WeightsError) as info:
            fetch_weights(model)
    message = str(info.value)
    assert f"has sha256 {hashlib.sha256(served).hexdigest()} ({len(served):,} bytes)" in message
    assert DIGEST in message and "deleted" in message and "nothing was kept" in message
    assert leftovers(model_folder(model)) == []


def test_connection_dropped_mid_download_keeps_nothing(cache):
    with WeightsServer({"/g.bin": PAYLOAD}, drop_after={"/g.bin": 200_000}) as server:
        model = weights_card(server.url("/g.bin"))
        with pytest.raises(WeightsError, match="broke off") as info:
            fetch_weights(model)
    assert "nothing was kept" in str(info.value) and str(model_folder(model)) in str(info.value)
    assert leftovers(model_folder(model)) == []


def test_offline_says_which_file_to_place_where(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        model = weights_card(server.url("/g.bin"))
        with pytest.raises(WeightsError) as info:
            fetch_weights(model)
        assert server.requests == []
    message = str(info.value)
    for words in ("MEDIGAN_OFFLINE", "'g.bin'", DIGEST, f"{len(PAYLOAD):,} bytes", str(cache / "weighted" / "1.0.0")):
        assert words in message, words
    (cache / "weighted" / "1.0.0").mkdir(parents=True)
    (cache / "weighted" / "1.0.0" / "g.bin").write_bytes(PAYLOAD)  # placed by hand, as the message says
    assert fetch_weights(model).read_bytes() == PAYLOAD


def test_no_network_says_which_file_to_place_where(cache):
    with WeightsServer() as server:
        url = server.url("/g.bin")
    model = weights_card(url)  # the server is gone: connection refused
    with pytest.raises(WeightsError, match="could not download") as info:
        fetch_weights(model)
    assert DIGEST in str(info.value) and str(model_folder(model)) in str(info.value)


def test_interrupted_download_leftover_is_never_taken(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    model = weights_card("https://example.invalid/g.bin")
    folder = claim_folder(model)  # as a download does before it starts
    (folder / ".g.bin.4242.medigan-tmp").write_bytes(PAYLOAD[:1000])  # what a killed download leaves
    with pytest.raises(WeightsError, match="not in the cache"):
        fetch_weights(model)
    (state,) = [f.state for f in cached_files([model])]
    assert state == "partial"


def test_http_error_is_reported(cache):
    with WeightsServer() as server:
        model = weights_card(server.url("/missing.bin"))
        with pytest.raises(WeightsError, match="404"):
            fetch_weights(model)
    assert leftovers(model_folder(model)) == []


def test_packaged_weights_are_verified_in_place(cache, tmp_path, monkeypatch):
    package = tmp_path / "pkgs" / "medigan_test_packaged"
    (package / "weights").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "weights" / "g.bin").write_bytes(PAYLOAD)
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    model = weights_card("package://medigan_test_packaged/weights/g.bin")
    assert fetch_weights(model) == package / "weights" / "g.bin"
    (package / "weights" / "g.bin").write_bytes(PAYLOAD[::-1])
    with pytest.raises(WeightsError, match="reinstall the plugin"):
        fetch_weights(model)
    assert (package / "weights" / "g.bin").exists(), "files outside the cache are never deleted"
    missing = weights_card("package://medigan_test_packaged/weights/other.bin")
    with pytest.raises(WeightsError, match="has no file weights/other.bin"):
        fetch_weights(missing)
    assert not cache.exists()


def test_file_url_is_verified_in_place(cache, tmp_path):
    local = tmp_path / "mirror" / "g.bin"
    local.parent.mkdir()
    local.write_bytes(PAYLOAD)
    model = weights_card(local.as_uri())
    assert fetch_weights(model) == local
    local.write_bytes(b"other")
    with pytest.raises(WeightsError, match="left as it is"):
        fetch_weights(model)
    assert local.read_bytes() == b"other"


@pytest.mark.parametrize("url", ["package://medigan_x/../g.bin", "package://medigan_x", "package://9x/g.bin",
                                 "package://medigan_x//g.bin"])
def test_bad_package_url_is_rejected(url):
    with pytest.raises(CardError, match="package://python_package/folder/file.safetensors"):
        weights_card(url)


def test_several_weights_files_need_a_name(cache):
    model = ModelCard.from_dict(card("two-files", weights=[
        {"url": "https://example.org/a.bin", "sha256": DIGEST}, {"url": "https://example.org/b.bin", "sha256": DIGEST}]))
    with pytest.raises(ValueError, match="several weights files"):
        fetch_weights(model)
    with pytest.raises(ValueError, match="no weights file 'c.bin'"):
        fetch_weights(model, "c.bin")
    with pytest.raises(WeightsError, match="declares no weights"):
        fetch_weights(ModelCard.from_dict(card("no-weights")))


def test_stored_weights_are_checked_against_their_record(cache, tmp_path):
    model = ModelCard.from_dict(card("converted"))
    assert stored_weights(model, "g.bin") is None
    source = tmp_path / "converted.bin"
    source.write_bytes(PAYLOAD)
    path, digest = store_weights(model, source, "g.bin")
    assert digest == DIGEST and path.read_bytes() == PAYLOAD
    assert (path.parent / "g.bin.sha256").read_text() == f"{DIGEST}  g.bin\n"  # `sha256sum -c` reads it too
    assert stored_weights(model, "g.bin") == path
    path.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(WeightsError, match="so it was deleted"):
        stored_weights(model, "g.bin")
    assert leftovers(path.parent) == []
    path.write_bytes(PAYLOAD)  # no record: refused, not silently trusted
    with pytest.raises(WeightsError, match="no readable sha256 record"):
        stored_weights(model, "g.bin")
    with pytest.raises(ValueError, match="plain weights file name"):
        store_weights(model, source, "../g.bin")


def test_clear_only_touches_model_folders_inside_the_cache(cache, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    model = ModelCard.from_dict(card("converted"))
    source = tmp_path / "w.bin"
    source.write_bytes(PAYLOAD)
    path, _ = store_weights(model, source, "g.bin")
    (path.parent / "link-out").symlink_to(outside)
    (cache / "My Notes").mkdir()
    (cache / "My Notes" / "n.txt").write_text("not a model folder")
    (cache / "readme.txt").write_text("kept")
    removed = clear_cache("converted")
    assert sorted(p.name for p in removed) == ["g.bin", "g.bin.sha256", "link-out"]
    assert not (cache / "converted").exists()
    assert outside.read_text() == "keep" and (cache / "My Notes" / "n.txt").exists() and (cache / "readme.txt").exists()
    assert clear_cache() == [] and clear_cache("converted") == []
    with pytest.raises(ValueError, match="not a model id"):
        clear_cache("../etc")


WEIGHTED_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({{"id": "weighted-model", "name": "w", "version": "2.1", "description": "d", "framework": "numpy",
              "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT",
              "weights": {{"url": "{url}", "sha256": "{sha}", "size": {size}}}}}, "medigan_test_weighted:load")

def load(card, device):
    raise RuntimeError("not used")
'''


def test_fetch_and_cache_commands(site, tmp_path):
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        site.add("weighted", WEIGHTED_PLUGIN.format(url=server.url("/g.bin"), sha=DIGEST, size=len(PAYLOAD)))
        env = site.env(MEDIGAN_CACHE_DIR=str(tmp_path / "cache"))
        env.pop("MEDIGAN_OFFLINE", None)
        fetched = run_cli("fetch", "weighted-model", "ct-head-phantom", env=env)
        assert fetched.returncode == 0, fetched.stderr
        assert "weighted-model: g.bin downloaded" in fetched.stdout and "ct-head-phantom: its card declares no weights" in fetched.stdout
        again = run_cli("fetch", "weighted-model", "--json", env=env)
        assert json.loads(again.stdout)[0]["status"] == "verified" and server.requests == ["/g.bin"]
    (tmp_path / "cache" / "old-model" / "0.9").mkdir(parents=True)
    (tmp_path / "cache" / "old-model" / "0.9" / "g.bin").write_bytes(b"old")
    (tmp_path / "cache" / "old-model" / "0.9" / ENTRY_MARKER).write_text("made by an earlier fetch")
    listing = run_cli("cache", "list", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    files = {(f["model"], f["version"]): f for f in json.loads(listing.stdout)["files"]}
    assert files[("weighted-model", "2.1")]["state"] == "declared" and files[("weighted-model", "2.1")]["size"] == len(PAYLOAD)
    assert files[("old-model", "0.9")]["state"] == "stale"
    table = run_cli("cache", "list", env=env)
    assert "weighted-model" in table.stdout and "stale" in table.stdout
    cleared = run_cli("cache", "clear", "old-model", env=env)  # no longer installed, still clearable
    assert cleared.returncode == 0 and "removed" in cleared.stdout and "old-model" in cleared.stdout
    assert run_cli("cache", "clear", "no-such-model", env=env).returncode == 2
    everything = run_cli("cache", "clear", env=env)
    assert everything.returncode == 0 and "removed 1 files" in everything.stdout
    assert "nothing cached" in run_cli("cache", "list", env=env).stdout


def test_fetch_failure_exits_1(site, tmp_path):
    site.add("weighted", WEIGHTED_PLUGIN.format(url="http://127.0.0.1:9/g.bin", sha=DIGEST, size=len(PAYLOAD)))
    result = run_cli("fetch", "weighted-model", env=site.env(MEDIGAN_CACHE_DIR=str(tmp_path / "cache"), MEDIGAN_OFFLINE="1"))
    assert result.returncode == 1 and "MEDIGAN_OFFLINE" in result.stderr and DIGEST in result.stderr
    assert run_cli("fetch", "no-such-model", env=site.env()).returncode == 2
