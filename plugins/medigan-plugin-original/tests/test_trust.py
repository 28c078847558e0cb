"""What runs is what was verified: the runner asks for trust itself, unpacks within limits into a cache entry that is
listed and cleared, and checks the unpacked files against their manifest before every load."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

import medigan_host
from medigan_host import MediganUsageError, PluginError, get_card
from medigan_host.plugins import get_host
from medigan_host.weights import cached_files, clear_cache, model_folder


def _load(card):
    model = medigan_host.load_model(card.id, trust_remote_code=True)
    model.generator.worker.close()
    return model


def test_the_runner_asks_for_trust_before_fetching_anything(cache):
    from medigan_plugin_original import runner

    card = get_card("00017")
    with pytest.raises(MediganUsageError, match="--trust-remote-code"):
        runner.load(card, "cpu")  # called directly, as any plugin could register it for any card
    assert not cache.exists()


def test_an_edited_init_in_the_cache_is_refused_even_offline(serve, shared_env, monkeypatch):
    card = get_card("00017")
    serve(card)
    root = _load(card).generator.root
    package = root / "models" / card.extra["original"]["package"]
    manifest = json.loads((root / ".unpacked.json").read_text())
    assert f"{card.extra['original']['package']}/__init__.py" in manifest["files"]
    init = package / "__init__.py"
    init.write_text(init.read_text() + "\nimport pathlib; pathlib.Path('pwned').touch()\n")
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    with pytest.raises(PluginError, match="has a changed .*__init__.py.*it was not run"):
        medigan_host.load_model(card.id, trust_remote_code=True)
    assert not root.exists()  # deleted; unpacked afresh from the verified zip, offline
    assert _load(card).generator.root == root and "pathlib.Path('pwned')" not in init.read_text()


@pytest.mark.parametrize("planted", ["numpy.py", "{package}/helper.py", "{package}/__pycache__/x.cpython-311.pyc"])
def test_an_importable_file_added_to_the_unpacked_tree_is_refused(planted, serve, shared_env):
    card = get_card("00018")
    serve(card)
    root = _load(card).generator.root
    path = root / "models" / planted.format(package=card.extra["original"]["package"])
    path.parent.mkdir(exist_ok=True)
    path.write_text("raise SystemExit('planted code ran')\n")
    with pytest.raises(PluginError, match="which was not in the archive"):
        medigan_host.load_model(card.id, trust_remote_code=True)


def _bomb(card, size: int = 64 << 20) -> bytes:
    buffer = io.BytesIO()
    package = card.extra["original"]["package"]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(f"{package}/__init__.py", "")
        zipped.writestr(f"{package}/zeros.bin", bytes(size))
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_and_nothing_is_left(serve, shared_env):
    card = get_card("00017")
    data = _bomb(card)
    assert len(data) < 1 << 20  # 64 MiB of zeros in well under 1 MiB
    serve(card, zips={card.id: data})
    with pytest.raises(PluginError, match=r"would unpack to 67,10.* times its own .*zip bomb.*nothing was unpacked"):
        medigan_host.load_model(card.id, trust_remote_code=True)
    left = [p.name for p in model_folder(card).rglob("*") if p.name != ".medigan-entry"]
    assert left == []  # no tree, no half-built folder, no archive


def test_the_size_and_count_limits(serve, shared_env, monkeypatch):
    card = get_card("00017")
    package = card.extra["original"]["package"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zipped:
        zipped.writestr(f"{package}/__init__.py", "")
        for i in range(10_001):
            zipped.writestr(f"{package}/f{i}", "")
    serve(card, zips={card.id: buffer.getvalue()})
    with pytest.raises(PluginError, match="holds 10,002 files"):
        medigan_host.load_model(card.id, trust_remote_code=True)
    other = get_card("00018")
    serve(other)
    monkeypatch.setenv("MEDIGAN_UNPACK_MAX_BYTES", "10")
    with pytest.raises(PluginError, match="MEDIGAN_UNPACK_MAX_BYTES"):
        medigan_host.load_model(other.id, trust_remote_code=True)
    monkeypatch.setenv("MEDIGAN_UNPACK_MAX_BYTES", "lots")
    with pytest.raises(MediganUsageError, match="MEDIGAN_UNPACK_MAX_BYTES='lots'"):
        medigan_host.load_model(other.id, trust_remote_code=True)


def test_the_unpacked_code_is_listed_and_cleared_with_its_model(serve, shared_env, cache):
    card = get_card("00017")
    serve(card)
    root = _load(card).generator.root
    cards = [e.card for e in get_host().catalog]
    states = {f.name: f.state for f in cached_files(cards) if f.model == card.id}
    package = card.extra["original"]["package"]
    assert states[f"code/models/{package}/__init__.py"] == "unpacked" and states[card.weights[0]["filename"]] == "declared"
    assert "code/.unpacked.json" in states
    clear_cache(card.id)
    assert not root.exists() and not model_folder(card).exists()
