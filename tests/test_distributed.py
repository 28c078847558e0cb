"""Distributed generation on Ray: same folder as a local run, resume, lost workers, option checks.

Ray starts once for this module (it takes seconds). Ray workers only see installed plugins, so the
fault-injecting models live in a fake installed distribution put on the workers' PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import medigan_host
from medigan_host import FrameworkMissingError, MediganError, MediganUsageError
from medigan_host.frameworks import pip_command
from medigan_host.generation.distributed import MAX_RESTARTS, shard_ranges
from medigan_host.generation.outputs import JOURNAL
from medigan_host.plugins import reset_host

MODEL = "ct-head-phantom"  # images and masks

FAULTY_PLUGIN = '''
"""Models that kill their Ray worker process or fail, on the sample of index 13 of a run seeded 0."""

import os
from pathlib import Path

import numpy as np

from medigan_host import hookimpl, latents, sample_seed

TRIGGER = sample_seed(0, 13)


class Faulty:
    def __init__(self, mode):
        self.mode = mode

    def generate(self, seeds, *, condition=None, inputs=None):
        flags = Path(os.environ["MEDIGAN_TEST_FAULTS"])
        if TRIGGER in seeds:
            if self.mode == "dies-once" and not (flags / "died").exists():
                (flags / "died").touch()
                os._exit(3)
            if self.mode == "dies-always":
                os._exit(3)
            if self.mode == "fails-when-flagged" and (flags / "fail").exists():
                raise RuntimeError("failing as flagged")
        z = latents(seeds, (8, 8, 1))
        return {"images": (1 / (1 + np.exp(-z))).astype(np.float32)}


@hookimpl
def medigan_register_models(register):
    for mode in ("dies-once", "dies-always", "fails-when-flagged", "remote-code"):
        register({"id": mode, "name": mode, "version": "1.0.0", "description": "d", "framework": "numpy",
                  "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT",
                  **({"remote_code": True} if mode == "remote-code" else {})},
                 lambda card, device, mode=mode: Faulty(mode))
'''


def files(folder: Path) -> dict[str, bytes]:
    """Every sample file and run.json, by path."""
    out = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
           if p.is_file() and p.parent != folder}
    out["run.json"] = (folder / "run.json").read_bytes()
    return out


def manifest(folder: Path) -> list[dict]:
    """The manifest's records in file order, without their ``time`` (when each sample was written)."""
    records = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    for record in records:
        assert record.pop("time")
    return records


def assert_same_run(folder: Path, reference: Path) -> None:
    assert files(folder) == files(reference)
    assert manifest(folder) == manifest(reference)
    assert not (folder / JOURNAL).exists()
    assert not [p for p in folder.rglob("*medigan-tmp")]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """One local Ray instance (2 CPUs) for the module; the faulty plugin installed for driver and workers."""
    ray = pytest.importorskip("ray")
    site = tmp_path_factory.mktemp("site")
    flags = tmp_path_factory.mktemp("flags")
    (site / "medigan_test_faulty.py").write_text(textwrap.dedent(FAULTY_PLUGIN))
    info = site / "medigan_test_faulty-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: medigan-test-faulty\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[medigan.plugins]\nfaulty = medigan_test_faulty\n")
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "MEDIGAN_TEST_FAULTS", "MEDIGAN_PLUGINS")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), saved["PYTHONPATH"]]))
    os.environ["MEDIGAN_TEST_FAULTS"] = str(flags)
    os.environ.pop("MEDIGAN_PLUGINS", None)
    sys.path.insert(0, str(site))
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning",
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"], "MEDIGAN_TEST_FAULTS": str(flags)}})
    reset_host()
    try:
        yield flags
    finally:
        ray.shutdown()
        sys.path.remove(str(site))
        sys.modules.pop("medigan_test_faulty", None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_host()


@pytest.fixture
def flags(ray_cluster):
    for flag in ray_cluster.iterdir():
        flag.unlink()
    reset_host()
    return ray_cluster


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference") / "run"
    medigan_host.generate(MODEL, 37, folder, seed=9, batch_size=5)
    return folder


@pytest.mark.ray
@pytest.mark.parametrize("workers", [1, 2])
def test_ray_run_is_byte_identical_to_a_local_run(ray_cluster, reference, tmp_path, workers):
    result = medigan_host.generate(MODEL, 37, tmp_path / "run", seed=9, batch_size=4, engine="ray", workers=workers)
    assert (result.engine, result.generated, result.already_done) == ("ray", 37, 0)
    assert len(result.workers) == workers and sum(w["samples"] for w in result.workers) == 37
    assert all(w["peak_rss_mib"] > 0 and w["pids"] for w in result.workers)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.ray
def test_default_onnx_model_on_ray_matches_a_local_run(ray_cluster, tmp_path):
    pytest.importorskip("onnxruntime")
    model = "histology-ihc-dcgan-onnx"
    if model not in {card.id for card in medigan_host.list_models()}:
        pytest.skip(f"{model} is not installed")
    medigan_host.generate(model, 24, tmp_path / "local", seed=2, device="cpu")
    medigan_host.generate(model, 24, tmp_path / "run", seed=2, device="cpu", engine="ray", workers=2)
    assert_same_run(tmp_path / "run", tmp_path / "local")


@pytest.mark.ray
def test_trust_in_a_models_code_reaches_the_workers(ray_cluster, tmp_path):
    with pytest.raises(MediganUsageError, match="--trust-remote-code"):
        medigan_host.generate("remote-code", 8, tmp_path / "refused", engine="ray", workers=2)
    assert not (tmp_path / "refused" / "images").exists()
    medigan_host.generate("remote-code", 8, tmp_path / "local", trust_remote_code=True)
    medigan_host.generate("remote-code", 8, tmp_path / "run", engine="ray", workers=2, trust_remote_code=True)
    assert_same_run(tmp_path / "run", tmp_path / "local")


@pytest.mark.ray
def test_trust_given_by_the_environment_reaches_workers_that_lack_it(ray_cluster, tmp_path, monkeypatch):
    """MEDIGAN_TRUST_REMOTE_CODE=1 in the calling process trusts the run on every worker: the workers (started with the
    cluster, before the variable was set) get the decision with the run, not from their own environment."""
    monkeypatch.setenv("MEDIGAN_TRUST_REMOTE_CODE", "1")
    medigan_host.generate("remote-code", 8, tmp_path / "run", engine="ray", workers=2)
    monkeypatch.delenv("MEDIGAN_TRUST_REMOTE_CODE")
    medigan_host.generate("remote-code", 8, tmp_path / "local", trust_remote_code=True)
    assert_same_run(tmp_path / "run", tmp_path / "local")


@pytest.mark.ray
def test_ray_run_to_a_url(ray_cluster, reference, tmp_path):
    medigan_host.generate(MODEL, 37, f"file://{tmp_path / 'run'}", seed=9, engine="ray", workers=2)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.ray
def test_image_to_image_model_gets_its_inputs_on_every_worker(ray_cluster, tmp_path):
    source = next(iter(medigan_host.generate(MODEL, 19, None, seed=4, batch_size=19)))
    common = {"inputs": source.images, "condition": {"dose": "tenth"}, "seed": 1, "batch_size": 3}
    medigan_host.generate("ct-lowdose-sim", None, tmp_path / "local", **common)
    medigan_host.generate("ct-lowdose-sim", None, tmp_path / "run", engine="ray", workers=2, **common)
    assert_same_run(tmp_path / "run", tmp_path / "local")


@pytest.mark.ray
def test_ray_completes_a_partial_local_run(ray_cluster, reference, tmp_path):
    folder = tmp_path / "run"
    medigan_host.generate(MODEL, 12, folder, seed=9)
    (folder / "images" / "000005.png").unlink()  # a sample whose file was lost is redone
    result = medigan_host.generate(MODEL, 37, folder, seed=9, resume=True, engine="ray", workers=2)
    assert (result.already_done, result.generated) == (11, 26)
    assert files(folder) == files(reference) | {"run.json": files(reference)["run.json"]}
    assert sorted(r["index"] for r in manifest(folder)) == list(range(37))
    assert sorted(manifest(folder), key=lambda r: r["index"]) == manifest(reference)


@pytest.mark.ray
def test_failed_ray_run_resumes_with_nothing_lost_or_duplicated(flags, tmp_path):
    (flags / "fail").touch()
    folder = tmp_path / "run"
    with pytest.raises(MediganError, match="failing as flagged"):
        medigan_host.generate("fails-when-flagged", 40, folder, batch_size=4, engine="ray", workers=2)
    assert (folder / JOURNAL).is_dir()
    (flags / "fail").unlink()
    result = medigan_host.generate("fails-when-flagged", 40, folder, batch_size=4, resume=True, engine="ray", workers=2)
    assert 0 < result.already_done < 40 and result.already_done + result.generated == 40
    medigan_host.generate("fails-when-flagged", 40, tmp_path / "local")
    assert files(folder) == files(tmp_path / "local")
    assert sorted(r["index"] for r in manifest(folder)) == list(range(40))


@pytest.mark.ray
@pytest.mark.slow
def test_killed_ray_command_resumes_with_nothing_lost_or_duplicated(ray_cluster, tmp_path):
    """SIGKILL the command while its workers write; its local Ray goes down with it; --resume completes the run."""
    folder = tmp_path / "run"
    command = [sys.executable, "-m", "medigan_host", "generate", MODEL, "-n", "300", "-o", str(folder), "--engine", "ray",
               "--workers", "2", "--batch-size", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not any((folder / JOURNAL).glob("*.jsonl")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
    finally:
        process.kill()
        process.wait()
    count = -1
    while count != (count := len(list((folder / "images").iterdir()))):  # until the killed run's workers are gone
        time.sleep(2)
    assert 0 < count < 300
    result = medigan_host.generate(MODEL, 300, folder, resume=True, engine="ray", workers=2)
    assert result.already_done + result.generated == 300 and result.already_done > 0
    medigan_host.generate(MODEL, 300, tmp_path / "local")
    assert files(folder) == files(tmp_path / "local")
    assert sorted(r["index"] for r in manifest(folder)) == list(range(300))


@pytest.mark.ray
def test_lost_worker_is_restarted_and_only_its_shard_retried(flags, tmp_path):
    (flags / "died").touch()  # the local reference run must not kill this process
    medigan_host.generate("dies-once", 40, tmp_path / "local", batch_size=4)
    (flags / "died").unlink()
    result = medigan_host.generate("dies-once", 40, tmp_path / "run", batch_size=4, engine="ray", workers=2)
    assert (flags / "died").exists(), "the worker did die"
    restarted = [w for w in result.workers if w["restarted"]]
    assert len(restarted) == 1, result.workers
    assert sum(w["samples"] for w in result.workers) == 40
    assert_same_run(tmp_path / "run", tmp_path / "local")


@pytest.mark.ray
def test_worker_that_keeps_dying_fails_the_run_clearly(flags, tmp_path):
    with pytest.raises(MediganError, match=rf"lost while writing samples \d+ to \d+, and again after {MAX_RESTARTS} restarts"
                                           ".*--resume"):
        medigan_host.generate("dies-always", 40, tmp_path / "run", batch_size=4, engine="ray", workers=2)
    done = [json.loads(line)["index"] for path in (tmp_path / "run").glob(f"{JOURNAL}/*.jsonl")
            for line in path.read_text().splitlines()]
    assert 13 not in done and len(done) == len(set(done))


@pytest.mark.ray
def test_cli_engine_ray(ray_cluster, reference, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from medigan_host.cli import cli

    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)  # a relative folder: workers run elsewhere and get its absolute path
    result = CliRunner().invoke(cli, ["generate", MODEL, "-n", "37", "-o", "run", "--seed", "9", "--engine", "ray",
                                      "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["engine"] == "ray" and len(summary["workers"]) == 2
    assert_same_run(out, reference)
    result = CliRunner().invoke(cli, ["generate", MODEL, "-n", "3", "-o", str(tmp_path / "x"), "--engine", "ray",
                                      "--workers", "64"])
    assert result.exit_code == 2 and "64 workers need 64 CPUs but the Ray cluster has 2" in result.output


@pytest.mark.ray
def test_model_unknown_to_workers_is_reported(ray_cluster, tmp_path):
    class Local:
        @medigan_host.hookimpl
        def medigan_register_models(self, register):
            register({"id": "only-here", "name": "o", "version": "1.0.0", "description": "d", "framework": "numpy",
                      "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT"}, lambda card, device: None)

    medigan_host.register_plugin(Local(), name="only-here")
    with pytest.raises(MediganUsageError, match="unknown model 'only-here'"):
        medigan_host.generate("only-here", 4, tmp_path / "run", engine="ray", workers=1)


# -- without Ray running ----------------------------------------------------------------------------------
def test_engine_options_are_checked(tmp_path):
    with pytest.raises(MediganUsageError, match="unknown engine 'spark'"):
        medigan_host.generate(MODEL, 1, tmp_path / "a", engine="spark")
    with pytest.raises(MediganUsageError, match="workers, gpus_per_worker are only for the ray engine"):
        medigan_host.generate(MODEL, 1, tmp_path / "b", workers=2, gpus_per_worker=1)
    with pytest.raises(MediganUsageError, match="writes to an output folder"):
        medigan_host.generate(MODEL, 1, engine="ray")
    for bad in ({"workers": 0}, {"workers": True}, {"gpus_per_worker": -1}, {"address": ""}):
        with pytest.raises(MediganUsageError):
            medigan_host.generate(MODEL, 1, tmp_path / "c", engine="ray", **bad)
    assert not (tmp_path / "c").exists()


def test_without_ray_the_error_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(FrameworkMissingError, match=re.escape(pip_command("medigan-host[ray]"))):
        medigan_host.generate(MODEL, 2, tmp_path / "run", engine="ray")


def test_shards_are_whole_batches_of_consecutive_indices():
    assert shard_ranges(37, 8, 4) == [range(0, 8), range(8, 16), range(16, 24), range(24, 32), range(32, 37)]
    assert shard_ranges(5, 8, 16) == [range(0, 5)]
    for n, shards, batch in ((1000, 7, 16), (3, 2, 1), (100, 1, 7)):
        ranges = shard_ranges(n, shards, batch)
        assert [i for r in ranges for i in r] == list(range(n)) and len(ranges) <= shards
        assert all(len(r) % batch == 0 for r in ranges[:-1])


def test_host_and_listing_never_import_ray_or_fsspec():
    probe = ("import sys\nimport medigan_host\nfrom medigan_host.cli import main\n"
             "for args in (['list'], ['generate', '--help']):\n"
             "    try:\n        main(args)\n    except SystemExit as exc:\n        assert exc.code in (0, None)\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'fsspec')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
