"""Output folders at fsspec URLs (``memory://``, ``file://``): same files as a local run, journal, lock, resume."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import medigan_host
from medigan_host import FrameworkMissingError, MediganError, OutputError, OutputLockedError, hookimpl
from medigan_host.frameworks import pip_command
from medigan_host.generation.outputs import JOURNAL, RunFolder
from medigan_host.generation.storage import LOCK_FILE, FsspecStore, LocalStore, is_url, open_store
from medigan_host.seeding import sample_seed

fsspec = pytest.importorskip("fsspec")

MODEL = "ct-head-phantom"  # images and masks


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.parent != folder}


def url_files(url: str) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    return {p[len(root) + 1:]: fs.cat_file(p) for p in sorted(fs.find(root)) if "/" in p[len(root) + 1:]}


def manifest_without_time(lines: bytes | str) -> list[dict]:
    text = lines.decode() if isinstance(lines, bytes) else lines
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:
        assert record.pop("time")
    return records


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A local run: the folder every other store must reproduce."""
    folder = tmp_path_factory.mktemp("reference") / "run"
    medigan_host.generate(MODEL, 21, folder, seed=5, batch_size=4)
    return folder


def memory_url() -> str:
    return f"memory://medigan-test-{uuid.uuid4().hex}/run"


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_url_output_matches_a_local_run(scheme, reference, tmp_path):
    url = memory_url() if scheme == "memory" else f"file://{tmp_path / 'run'}"
    result = medigan_host.generate(MODEL, 21, url, seed=5, batch_size=8)
    assert result.generated == 21 and str(result.output_dir) == url
    assert url_files(url) == local_files(reference)
    fs, root = fsspec.core.url_to_fs(url)
    assert fs.cat_file(f"{root}/run.json") == (reference / "run.json").read_bytes()
    assert manifest_without_time(fs.cat_file(f"{root}/manifest.jsonl")) == \
        manifest_without_time((reference / "manifest.jsonl").read_text())
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)}
    lock = {".medigan.lock"} if scheme == "file" else set()  # a file:// URL is its local folder, with its flock file
    assert names == {"images", "masks", "manifest.jsonl", "metadata.jsonl", "run.json"} | lock  # no journal, no temporaries left
    assert fs.cat_file(f"{root}/metadata.jsonl") == (reference / "metadata.jsonl").read_bytes()


class _FailsFrom:
    """A model that raises from sample ``limit`` on while ``armed``: a run that stops half-way."""

    def __init__(self) -> None:
        self.armed = True
        self.limit = {sample_seed(0, i) for i in range(9, 40)}

    @hookimpl
    def medigan_register_models(self, register):
        register({"id": "halfway", "name": "halfway", "version": "1.0.0", "description": "d", "framework": "numpy",
                  "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT"}, lambda card, device: self)

    def generate(self, seeds, *, condition=None, inputs=None):
        if self.armed and self.limit & set(seeds):
            raise RuntimeError("stopped half-way")
        return {"images": medigan_host.latents(seeds, (8, 8, 1)).clip(-1, 1) * 0.5 + 0.5}


def test_interrupted_url_run_resumes_without_loss_or_duplicates(tmp_path):
    model = _FailsFrom()
    medigan_host.register_plugin(model, name="halfway")
    url = memory_url()
    with pytest.raises(MediganError, match="stopped half-way"):
        medigan_host.generate("halfway", 30, url, batch_size=3)
    store = open_store(url)
    assert store.names(JOURNAL), "finished batches are kept as journal parts"
    assert not store.exists(LOCK_FILE), "the lock is released after a failure"
    model.armed = False
    result = medigan_host.generate("halfway", 30, url, batch_size=3, resume=True)
    assert (result.already_done, result.generated) == (9, 21)
    medigan_host.generate("halfway", 30, tmp_path / "local", batch_size=7)
    assert url_files(url) == local_files(tmp_path / "local")
    indices = [r["index"] for r in manifest_without_time(store.read_bytes("manifest.jsonl"))]
    assert indices == list(range(30))
    assert not store.exists(JOURNAL)


def test_journal_left_by_a_killed_run_is_merged_once(tmp_path):
    """A run killed while merging its journal: parts already appended are not listed twice after --resume."""
    folder = tmp_path / "run"
    medigan_host.generate(MODEL, 8, folder, seed=1, batch_size=4)
    lines = (folder / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (folder / JOURNAL).mkdir()
    (folder / JOURNAL / f"{4:012d}.jsonl").write_bytes(b"".join(lines[4:]))  # also still in the manifest
    (folder / "manifest.jsonl").write_bytes(b"".join(lines[:6]) + lines[6][:10])  # and a torn line
    result = medigan_host.generate(MODEL, 8, folder, seed=1, batch_size=4, resume=True)
    assert result.generated == 0
    assert [json.loads(line)["index"] for line in (folder / "manifest.jsonl").read_text().splitlines()] == list(range(8))
    assert not (folder / JOURNAL).exists()


def test_url_lock_refuses_a_live_owner_and_takes_over_a_dead_one():
    url = memory_url()
    with RunFolder(url):
        with pytest.raises(OutputLockedError, match="another medigan generation"):
            medigan_host.generate(MODEL, 1, url)
    store = open_store(url)
    assert not store.exists(LOCK_FILE)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    store.write_bytes(LOCK_FILE, json.dumps({"token": "x", "host": socket.gethostname(), "pid": int(dead.stdout)}).encode())
    assert medigan_host.generate(MODEL, 2, url).generated == 2
    store.write_bytes(LOCK_FILE, json.dumps({"token": "x", "host": "another-machine", "pid": 1}).encode())
    with pytest.raises(OutputLockedError, match="delete"):
        medigan_host.generate(MODEL, 2, url, resume=True)


def test_url_that_is_a_file_and_non_empty_url_folder_are_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        medigan_host.generate(MODEL, 1, f"file://{target}")
    url = memory_url()
    fs, root = fsspec.core.url_to_fs(url)
    fs.pipe_file(f"{root}/notes.txt", b"mine")
    with pytest.raises(OutputError, match="not empty"):
        medigan_host.generate(MODEL, 1, url)
    assert fs.cat_file(f"{root}/notes.txt") == b"mine"


def test_overwrite_on_a_url_replaces_only_medigan_files():
    url = memory_url()
    medigan_host.generate(MODEL, 4, url, seed=1)
    store = open_store(url)
    store.write_bytes("notes.txt", b"mine")
    medigan_host.generate(MODEL, 2, url, seed=2, overwrite=True)
    assert store.read_bytes("notes.txt") == b"mine"
    assert store.names("images") == ["000000.png", "000001.png"]
    assert json.loads(store.read_bytes("run.json"))["seed"] == 2


def test_store_paths_stay_inside_the_folder(tmp_path):
    for store in (LocalStore(tmp_path), FsspecStore(memory_url())):
        assert store.safe("images/000001.png") == "images/000001.png"
        for bad in ("../x.png", "/etc/passwd", "images/../../x", "", None, 3, "s3://b/x"):
            assert store.safe(bad) is None, (store, bad)


def test_urls_and_paths_are_told_apart(tmp_path):
    assert is_url("s3://bucket/run") and is_url("file:///data/run") and is_url("memory://x")
    assert not is_url("out/run") and not is_url(r"C:\data\run") and not is_url(str(tmp_path))
    assert isinstance(open_store(tmp_path), LocalStore) and isinstance(open_store("memory://x"), FsspecStore)
    assert open_store(f"file://{tmp_path}").path == tmp_path  # one folder, one lock, however it is spelled


def test_without_fsspec_the_error_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(FrameworkMissingError, match=re.escape(pip_command("medigan-host[fsspec]"))):
        medigan_host.generate(MODEL, 1, "s3://bucket/run")


def test_unknown_protocol_is_a_clear_error():
    with pytest.raises(OutputError, match="cannot open 'nosuchproto://x'"):
        medigan_host.generate(MODEL, 1, "nosuchproto://x")


def test_cli_writes_to_a_url(tmp_path):
    from conftest import run_cli

    url = f"file://{tmp_path / 'cli'}"
    result = run_cli("generate", MODEL, "-n", "3", "-o", url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output_dir"] == url
    assert sorted(os.listdir(tmp_path / "cli" / "images")) == ["000000.png", "000001.png", "000002.png"]
    assert np.array_equal(np.frombuffer((tmp_path / "cli" / "images" / "000000.png").read_bytes()[:8], np.uint8),
                          np.frombuffer(b"\x89PNG\r\n\x1a\n", np.uint8))
