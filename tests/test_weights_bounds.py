"""Downloads have bounds: never more than the declared (or the record's) size, a stall timeout, an overall deadline;
a full disk is called so; leftovers of killed downloads are removed; several processes download a file once.

Every server here is a misbehaving fake on 127.0.0.1 whose loops are bounded."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import card

from medigan_host import ModelCard, WeightsError, fetch_weights
from medigan_host.devkit.weights_server import RecordServer, WeightsServer
from medigan_host.weights import ENTRY_MARKER, model_folder
from medigan_host.weights import download as weights_download  # where the download code reads the disk

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(root))
    for name in ("MEDIGAN_OFFLINE", "MEDIGAN_DOWNLOAD_STALL_TIMEOUT", "MEDIGAN_DOWNLOAD_DEADLINE", "MEDIGAN_ZENODO_URL"):
        monkeypatch.delenv(name, raising=False)
    return root


def url_card(url: str, size: int | None = len(PAYLOAD), model_id: str = "bounded") -> ModelCard:
    entry = {"url": url, "sha256": DIGEST, **({"size": size} if size else {})}
    return ModelCard.from_dict(card(model_id, weights=entry))


def kept(model: ModelCard) -> list[str]:
    folder = model_folder(model)
    return sorted(p.name for p in folder.iterdir() if p.name != ENTRY_MARKER) if folder.is_dir() else []  # the marker is medigan's own


def test_announced_oversize_is_refused_before_downloading(cache):
    with WeightsServer({"/g.bin": PAYLOAD * 40}) as server:  # 10 MiB announced, 256 KiB declared
        model = url_card(server.url("/g.bin"))
        with pytest.raises(WeightsError, match=r"announces 10,485,760 bytes, more than the 262,144 bytes") as info:
            fetch_weights(model)
    assert "nothing was kept" in str(info.value) and kept(model) == []


def test_endless_body_stops_at_the_declared_size(cache):
    with WeightsServer({"/g.bin": PAYLOAD}, behaviour={"/g.bin": "endless"}, endless_limit=1 << 30) as server:
        model = url_card(server.url("/g.bin"))
        started = time.monotonic()
        with pytest.raises(WeightsError, match="sent more than the 262,144 bytes the file has, so it was stopped"):
            fetch_weights(model)
        elapsed = time.monotonic() - started
        for _ in range(50):  # the server notices the hang-up at its next write
            before = server.sent
            time.sleep(0.1)
            if server.sent == before:
                break
    assert elapsed < 10 and server.sent < 64 << 20, f"{server.sent:,} bytes sent in {elapsed:.1f} s"
    assert kept(model) == []


def test_endless_body_of_a_record_stops_at_the_record_size(cache, monkeypatch):
    with RecordServer({42: {"w.zip": PAYLOAD}}) as server:
        server.behaviour[server.file_path(42, "w.zip")] = "endless"
        monkeypatch.setenv("MEDIGAN_ZENODO_URL", server.base_url)
        model = ModelCard.from_dict(card("recorded", weights={"doi": "10.5281/zenodo.42", "filename": "w.zip"}))
        with pytest.raises(WeightsError, match="sent more than the 262,144 bytes"):
            fetch_weights(model)
    assert kept(model) == []


def test_a_trickle_meets_the_overall_deadline(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_DEADLINE", "1")
    with WeightsServer({"/g.bin": PAYLOAD}, behaviour={"/g.bin": "trickle"}, trickle_interval=0.01) as server:
        model = url_card(server.url("/g.bin"))
        started = time.monotonic()
        with pytest.raises(WeightsError, match=r"took longer than the 1 s deadline \(MEDIGAN_DOWNLOAD_DEADLINE\)"):
            fetch_weights(model)
        assert time.monotonic() - started < 5
    assert kept(model) == []


def test_a_silent_server_meets_the_stall_timeout(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_STALL_TIMEOUT", "0.5")
    with WeightsServer({"/g.bin": PAYLOAD}, behaviour={"/g.bin": "stall"}) as server:
        model = url_card(server.url("/g.bin"))
        started = time.monotonic()
        with pytest.raises(WeightsError, match=r"stalled: nothing arrived for 0.5 s \(MEDIGAN_DOWNLOAD_STALL_TIMEOUT\) "
                                               r"after 1,024 bytes"):
            fetch_weights(model)
        assert time.monotonic() - started < 5
    assert kept(model) == []


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf"])
def test_bad_limits_are_usage_errors(cache, monkeypatch, value):
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_DEADLINE", value)
    with pytest.raises(ValueError, match="MEDIGAN_DOWNLOAD_DEADLINE"):
        fetch_weights(url_card("http://127.0.0.1:9/g.bin"))


def test_leftovers_of_killed_downloads_are_removed_by_the_next_download(cache):
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        model = url_card(server.url("/g.bin"))
        folder = model_folder(model)
        folder.mkdir(parents=True)
        for pid in (4242, 4243):
            (folder / f".g.bin.{pid}.medigan-tmp").write_bytes(PAYLOAD[:5000])
        (folder / ".other.bin.4242.medigan-tmp").write_bytes(b"another file's download")
        fetch_weights(model)
    assert kept(model) == [".other.bin.4242.medigan-tmp", "g.bin"]


def test_no_room_for_the_declared_size_says_disk_full(cache, monkeypatch):
    monkeypatch.setattr(weights_download.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=0, free=1000))
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        model = url_card(server.url("/g.bin"))
        with pytest.raises(WeightsError, match=r"disk full: .* has 1,000 bytes free, but 'g.bin' of model 'bounded' "
                                               r"needs 262,144") as info:
            fetch_weights(model)
        assert server.requests == []
    assert "set MEDIGAN_CACHE_DIR to a disk with room" in str(info.value)  # the variable named, not a placeholder


def test_disk_filling_up_during_the_download_says_disk_full(cache, monkeypatch):
    real_open = open

    class Full:
        def __init__(self, handle):
            self.handle, self.written = handle, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            if self.written + len(data) > 100_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.handle.write(data)

    monkeypatch.setattr(weights_download, "open", lambda path, mode="r", *a, **k: Full(real_open(path, mode, *a, **k))
                        if "w" in mode else real_open(path, mode, *a, **k), raising=False)
    with WeightsServer({"/g.bin": PAYLOAD}) as server:
        model = url_card(server.url("/g.bin"), size=None)
        with pytest.raises(WeightsError, match=r"^disk full: no space left in .* while downloading 'g.bin'") as info:
            fetch_weights(model)
    assert "check the network" not in str(info.value).lower() and "nothing was kept" in str(info.value)
    assert kept(model) == []


FETCH = """
import json, sys
from medigan_host import ModelCard, fetch_weights
print(fetch_weights(ModelCard.from_dict(json.loads(sys.argv[1]))))
"""


def test_several_processes_download_a_file_once(cache):
    small = PAYLOAD[:3000]
    digest = hashlib.sha256(small).hexdigest()
    with WeightsServer({"/g.bin": small}, behaviour={"/g.bin": "trickle"}, trickle_interval=0.001) as server:
        data = card("shared", weights={"url": server.url("/g.bin"), "sha256": digest, "size": len(small)})
        env = {**os.environ, "MEDIGAN_CACHE_DIR": str(cache)}
        workers = [subprocess.Popen([sys.executable, "-c", FETCH, json.dumps(data)], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [worker.communicate(timeout=120) for worker in workers]
    assert [w.returncode for w in workers] == [0] * 4, [r[1] for r in results]
    assert len({out.strip() for out, _ in results}) == 1
    assert server.requests == ["/g.bin"], "one download for four processes"
    assert Path(results[0][0].strip()).read_bytes() == small
