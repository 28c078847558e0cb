"""The trust gate and the supply chain: code downloaded with a model runs only when trusted, per call; what is placed
by hand is checked or marked unverified; every download has a size bound, even when nothing declares one.

Servers are fakes on 127.0.0.1 whose loops are bounded. The original plugin's runner is the real one where it is
installed (it is in the ``tests`` and ``reliability`` sessions)."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import card, run_cli
from reliability_log import case

import medigan_host
from medigan_host import MediganUsageError, ModelCard, WeightsError, fetch_weights, hookimpl, latents
from medigan_host.devkit.weights_server import HubServer, RecordServer, WeightsServer
from medigan_host.weights import ENTRY_MARKER, model_folder, place_weights

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(root))
    for name in ("MEDIGAN_OFFLINE", "MEDIGAN_TRUST_REMOTE_CODE", "MEDIGAN_ZENODO_URL", "MEDIGAN_DOWNLOAD_MAX_BYTES",
                 "MEDIGAN_DOWNLOAD_STALL_TIMEOUT", "MEDIGAN_DOWNLOAD_DEADLINE"):
        monkeypatch.delenv(name, raising=False)
    return root


# -- 1. remote_code is a JSON boolean; the code's own loader asks for trust, whatever the card says -----------------
class _Hostile:
    """A plugin re-registering an original card with ``remote_code`` spelled ``value`` (absent for ``...``)."""

    def __init__(self, template: dict, value) -> None:
        self.card = {k: v for k, v in template.items() if k != "remote_code"}
        self.card["id"] = "hostile-original"
        if value is not ...:
            self.card["remote_code"] = value

    @hookimpl
    def medigan_register_models(self, register):
        register(self.card, "medigan_plugin_original.runner:load")


@pytest.mark.parametrize("value", ["true", 1, "yes", "1"])
def test_remote_code_that_is_not_a_boolean_skips_the_model_naming_the_field(value):
    with pytest.warns(Warning, match="'remote_code'.*JSON boolean"):
        medigan_host.register_plugin(_Hostile(card("x"), value), "hostile")
        assert "hostile-original" not in [c.id for c in medigan_host.list_models()]
    case("trust gate: remote code", f"remote_code: {value!r} on a card", "model skipped, warning names the field")


@pytest.mark.parametrize("value", [..., False, "true", 1, "yes"], ids=["absent", "false", "str-true", "one", "yes"])
def test_an_original_card_re_registered_never_runs_its_code_without_trust(value, cache, tmp_path, monkeypatch):
    pytest.importorskip("medigan_plugin_original")
    template = medigan_host.get_card("original-00017-dcgan-xray-lung-nodules").to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the non-boolean spellings are skipped with a warning (tested above)
        medigan_host.register_plugin(_Hostile(template, value), "hostile")
    from medigan_plugin_original import runner

    fetched: list = []
    monkeypatch.setattr(runner, "fetch_weights", lambda *a, **k: fetched.append(a) or Path("/nonexistent"))
    monkeypatch.setattr(runner, "require_env", lambda c: fetched.append(c) or Path("/nonexistent"))
    if value in (..., False):
        entry = medigan_host.plugins.get_host().catalog.get("hostile-original")
        from medigan_host.models import load

        with pytest.raises(MediganUsageError, match="--trust-remote-code"):
            load(entry)
        with pytest.raises(MediganUsageError, match="trust_remote_code=True"):
            medigan_host.generate("hostile-original", 1, tmp_path / "out")
        assert not (tmp_path / "out" / "images").exists()
    else:
        assert "hostile-original" not in [c.id for c in medigan_host.list_models()]
    assert not fetched and not cache.exists()  # nothing fetched, unpacked or started
    case("trust gate: remote code", "a plugin registering an original card with remote_code absent, false, 'true', 1 "
         "or 'yes'", "its code never fetched nor run without trust")


def test_list_labels_remote_code_only_for_the_boolean(site):
    site.add("labels", '''
        from medigan_host import hookimpl
        def load(card, device): raise RuntimeError("never")
        @hookimpl
        def medigan_register_models(register):
            base = {"name": "n", "version": "1", "description": "d", "framework": "numpy", "modality": "ct",
                    "image_size": [8, 8], "channels": 1, "license": "MIT"}
            register({**base, "id": "truly", "remote_code": True}, load)
            register({**base, "id": "stringly", "remote_code": "true"}, load)
        ''')
    done = run_cli("list", env=site.env())
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.split()}
    assert "(remote code)" in rows["truly"] and "stringly" not in rows
    assert "remote_code" in done.stderr


# -- 2. trust is per call: the compatible API and Ray workers ----------------------------------------------------------
class _Gen:
    def __init__(self, card):
        self.card = card

    def generate(self, seeds, *, condition=None, inputs=None):
        z = latents(seeds, 64)
        return {"images": (1 / (1 + np.exp(-z))).reshape(len(seeds), 8, 8, 1).astype(np.float32)}


def _asks_for_trust(card, device):
    from medigan_host.trust import require_granted

    require_granted(card)  # a loader that runs downloaded code, whatever its card says
    return _Gen(card)


class _Remote:
    @hookimpl
    def medigan_register_models(self, register):
        register(card("flagged-remote", remote_code=True), lambda c, d: _Gen(c))
        register(card("unflagged-remote"), _asks_for_trust)


@pytest.mark.parametrize("model", ["flagged-remote", "unflagged-remote"])
def test_trust_does_not_stick_in_the_compatible_api(model, cache, tmp_path):
    from medigan_host.compat import Generators

    medigan_host.register_plugin(_Remote(), "remote")
    generators = Generators()
    assert len(generators.generate(model, 2, save_images=False, trust_remote_code=True)) == 2
    with pytest.raises(MediganUsageError, match="trust"):
        generators.generate(model, 2, save_images=False)
    with pytest.raises(MediganUsageError, match="trust"):
        generators.get_generate_function(model, 2, save_images=False)()
    with pytest.raises(MediganUsageError, match="trust"):
        generators.generate(model, 1, output_path=str(tmp_path / "o"))
    assert len(generators.generate(model, 1, save_images=False, trust_remote_code=True)) == 1
    case("trust gate: remote code", "the compatible API called without trust after a trusted call",
         "refused each time; trust is per call")


def test_ray_workers_check_trust_per_call(cache):
    from medigan_host.generation.distributed import ShardWriter
    from medigan_host.models import load

    medigan_host.register_plugin(_Remote(), "remote")
    model = load(medigan_host.plugins.get_host().catalog.get("unflagged-remote"), trust_remote_code=True)
    assert model.runs_downloaded_code
    writer = ShardWriter.__new__(ShardWriter)  # the actor's state, as its __init__ leaves it (no Ray needed)
    writer.error, writer.model = None, model
    writer.spec = SimpleNamespace(trust_remote_code=False)
    answer = writer.write([0], None)
    assert answer["error"]["usage"] and "--trust-remote-code" in answer["error"]["message"]
    case("trust gate: remote code", "a Ray worker's write call for an untrusted run", "refused in the worker")


# -- 3. placed by hand: checked against the record, or marked unverified ----------------------------------------------
def _record_card() -> ModelCard:
    return ModelCard.from_dict(card("recorded", weights={"doi": "10.5281/zenodo.42", "filename": "w.zip"}))


def test_offline_place_of_a_record_file_is_refused_unless_unverified(cache, tmp_path, monkeypatch, site):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    model = _record_card()
    source = tmp_path / "w.zip"
    source.write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match="could not be checked against record 42.*--unverified"):
        place_weights(model, source)
    assert not (model_folder(model) / "w.zip").exists()
    placed, how = place_weights(model, source, unverified=True)
    from medigan_host.weights import unverified_weights

    assert "NOT checked" in how and unverified_weights(model) == ["w.zip"]
    assert fetch_weights(model) == placed  # used, on the user's word
    case("supply chain: placed by hand", "a record's file placed offline", "refused unless --unverified, then marked")


def test_a_file_dropped_into_the_cache_offline_is_not_used(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    model = _record_card()
    folder = model_folder(model)
    folder.mkdir(parents=True)
    (folder / "w.zip").write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match="could not be checked.*--unverified"):
        fetch_weights(model)
    case("supply chain: placed by hand", "a record's file dropped into the cache folder offline", "not used")


def test_unverified_weights_are_named_in_the_run_provenance(cache, tmp_path, monkeypatch):
    class Recorded:
        @hookimpl
        def medigan_register_models(self, register):
            register(card("recorded", weights={"doi": "10.5281/zenodo.42", "filename": "w.zip"}),
                     lambda c, d: (fetch_weights(c), _Gen(c))[1])

    medigan_host.register_plugin(Recorded(), "recorded")
    monkeypatch.setenv("MEDIGAN_OFFLINE", "1")
    source = tmp_path / "w.zip"
    source.write_bytes(PAYLOAD)
    from click.testing import CliRunner

    from medigan_host.cli import cli

    refused = CliRunner().invoke(cli, ["cache", "place", "recorded", str(source)])
    assert refused.exit_code == 1 and "--unverified" in refused.output
    done = CliRunner().invoke(cli, ["cache", "place", "recorded", str(source), "--unverified"])
    assert done.exit_code == 0 and "NOT checked" in done.output, done.output
    medigan_host.generate("recorded", 1, tmp_path / "run")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["unverified_weights"] == ["w.zip"]


# -- 4. every download has a size bound --------------------------------------------------------------------------------
def test_an_endless_download_of_undeclared_size_stops_at_the_bound_naming_the_variable(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_MAX_BYTES", str(1 << 20))
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    with WeightsServer({"/g.bin": PAYLOAD}, behaviour={"/g.bin": "endless"}, endless_limit=256 << 20) as server:
        model = ModelCard.from_dict(card("endless", weights={"url": server.url("/g.bin"), "sha256": sha}))
        with pytest.raises(WeightsError, match=r"sent more than the 1,048,576 bytes .*MEDIGAN_DOWNLOAD_MAX_BYTES"):
            fetch_weights(model)
    assert server.sent < 64 << 20
    assert not [p for p in model_folder(model).iterdir() if p.name != ENTRY_MARKER]
    case("fault: hostile download server", "an endless body for a url without a declared size",
         "stopped at MEDIGAN_DOWNLOAD_MAX_BYTES; nothing kept")


def test_a_record_without_a_size_is_bounded_too(cache, monkeypatch):
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_MAX_BYTES", str(1 << 20))
    with RecordServer({42: {"w.zip": PAYLOAD}}) as server:
        listing = json.loads(server.files[server.record_path(42)])
        listing["files"][0]["size"] = None
        listing["files"][0].pop("checksum")
        server.files[server.record_path(42)] = json.dumps(listing).encode()
        server.behaviour[server.file_path(42, "w.zip")] = "endless"
        monkeypatch.setenv("MEDIGAN_ZENODO_URL", server.base_url)
        with pytest.raises(WeightsError, match="MEDIGAN_DOWNLOAD_MAX_BYTES"):
            fetch_weights(_record_card())
    case("fault: hostile download server", "an endless body for a record's file of size null",
         "stopped at MEDIGAN_DOWNLOAD_MAX_BYTES")


def test_the_bound_is_never_more_than_the_free_disk(cache, monkeypatch):
    from medigan_host.weights import download

    real = download.shutil.disk_usage
    monkeypatch.setattr(download.shutil, "disk_usage",
                        lambda p: SimpleNamespace(total=1 << 40, used=0, free=download.DISK_MARGIN + (512 << 10)))
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    with WeightsServer({"/g.bin": PAYLOAD}, behaviour={"/g.bin": "endless"}, endless_limit=64 << 20) as server:
        model = ModelCard.from_dict(card("endless", weights={"url": server.url("/g.bin"), "sha256": sha}))
        with pytest.raises(WeightsError, match=r"sent more than the 524,288 bytes the disk .* has free"):
            fetch_weights(model)
    assert real is not None


def test_a_hub_redirect_without_a_size_is_bounded(cache, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    repo, commit, name = "medigan-test/tiny", "0123456789abcdef0123456789abcdef01234567", "w.safetensors"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_MAX_BYTES", str(1 << 20))
    with HubServer({repo: {commit: {name: PAYLOAD}}}) as hub:
        answer = hub.resolve

        def sizeless(path, authorization):
            status, headers, body = answer(path, authorization)
            headers.pop("X-Linked-Size", None)
            return status, headers, body

        hub.resolve = sizeless
        hub.cdn.behaviour[HubServer.lfs_path(PAYLOAD)] = "endless"
        hub.cdn.endless_limit = 64 << 20
        monkeypatch.setenv("HF_ENDPOINT", hub.base_url)
        model = ModelCard.from_dict(card("hubbed", weights={"hf": repo, "revision": commit, "filename": name,
                                                            "sha256": hashlib.sha256(PAYLOAD).hexdigest()}))
        with pytest.raises(WeightsError, match="MEDIGAN_DOWNLOAD_MAX_BYTES"):
            fetch_weights(model)
    case("fault: hostile download server", "a Hub redirect without a size, to an endless body",
         "stopped at MEDIGAN_DOWNLOAD_MAX_BYTES")


@pytest.mark.parametrize("value", ["0", "-1", "1e9", "lots", "٣"])
def test_a_bad_download_bound_is_a_usage_error(cache, monkeypatch, value):
    monkeypatch.setenv("MEDIGAN_DOWNLOAD_MAX_BYTES", value)
    from medigan_host.weights import download_max_bytes

    with pytest.raises(MediganUsageError, match="MEDIGAN_DOWNLOAD_MAX_BYTES"):
        download_max_bytes()
