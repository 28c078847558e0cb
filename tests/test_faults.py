"""Faults: a generation killed (SIGKILL) at random points, a full disk, two generations into one folder, plugins
that hang while loading, and a plugin that crashes mid-run. Nothing written is lost or corrupted, and a resumed
run equals an uninterrupted one."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import GOOD_PLUGIN, card, run_cli
from reliability_log import case, fault_rounds

import medigan_host
from medigan_host import PluginError, hookimpl

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL, flock and tmpfs are POSIX")

MODEL = "ct-head-phantom"

#: Imports first, then says "ready" so that kills land in the generation, not in the interpreter's start-up.
DRIVER = """
import sys, time
import medigan_host
medigan_host.get_card({model!r})
print("ready", flush=True)
start = time.perf_counter()
medigan_host.generate({model!r}, int(sys.argv[2]), sys.argv[1], seed=5, batch_size=2, resume=sys.argv[3] == "resume")
print("done", time.perf_counter() - start, flush=True)
"""


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("images", "masks") for p in sorted((folder / sub).glob("*")) if p.is_file()}


def check_manifest_sound(folder: Path) -> list[dict]:
    """Every complete manifest line is a JSON record whose files exist with the sha256 it lists; only the very
    last line may be torn (cut by the kill), and then it has no newline."""
    path = folder / "manifest.jsonl"
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    records = []
    for line in complete:
        record = json.loads(line)  # raises on a corrupt line in the middle
        for kind, rel in record["files"].items():
            assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == record["sha256"][kind], rel
        records.append(record)
    if tail:
        with pytest.raises(ValueError):
            json.loads(tail)
    return records


def check_finished(folder: Path, reference: Path, n: int) -> None:
    assert digests(folder) == digests(reference)
    records = check_manifest_sound(folder)
    assert sorted(r["index"] for r in records) == list(range(n)), "each sample listed exactly once"
    listed = {rel for r in records for rel in r["files"].values()}
    assert set(digests(folder)) == listed, "no orphaned sample file"
    assert not [p for p in folder.rglob("*") if p.name.endswith(".medigan-tmp")], "no temporary left"
    assert not (folder / ".medigan-journal").exists()


def driver(folder: Path, n: int, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER.format(model=MODEL), str(folder), str(n), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    n, kills_per_round = 16, 3
    reference = tmp_path / "reference"
    proc = driver(reference, n, "new")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    duration = float(out.split()[-1])
    rng = random.Random(20261125)
    for round_number in range(fault_rounds()):
        folder = tmp_path / f"round{round_number}"
        mode = "new"
        for _ in range(kills_per_round):
            proc = driver(folder, n, mode)
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0, duration * 1.1))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            finished = len(check_manifest_sound(folder))
            mode = "resume" if (folder / "run.json").exists() else "new"
            case("fault: SIGKILL during generation", "of which kills that landed mid-run (some samples written)",
                 "as above; resumed from the finished samples", int(0 < finished < n), of=1)
            case("fault: SIGKILL during generation", f"kill -9 at a random time in a {n}-sample run, {kills_per_round} "
                 "kills per run", "manifest sound after every kill: complete lines valid, files match their sha256")
        proc = driver(folder, n, mode)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        check_finished(folder, reference, n)
        shutil.rmtree(folder)
        case("fault: SIGKILL during generation", "--resume after the kills",
             "output equal to an uninterrupted run; no orphan, no temporary, each sample once")


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs mounted for the test (needs root and permission to mount), unmounted afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and `mount`")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_disk_is_a_clear_error_and_resume_works_once_space_is_freed(small_disk, tmp_path):
    n = 30  # about 60 KiB per sample: the disk fills after a few
    folder = small_disk / "run"
    full = run_cli("generate", MODEL, "-n", str(n), "-o", str(folder), "--seed", "5", "--batch-size", "2")
    assert full.returncode == 1, full.stderr
    assert "no space left on the device" in full.stderr and str(folder) in full.stderr and "--resume" in full.stderr
    assert "Traceback" not in full.stderr
    assert not [p for p in folder.rglob("*") if p.name.endswith(".medigan-tmp")], "the temporary file was removed"
    written = check_manifest_sound(folder)
    assert 0 < len(written) < n
    case("fault: disk full", "generation into a 512 KiB tmpfs", "exit 1 naming the folder and --resume; no temporary; "
         "every listed file intact")
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    resumed = run_cli("generate", MODEL, "-n", str(n), "-o", str(folder), "--seed", "5", "--batch-size", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    reference = tmp_path / "reference"
    medigan_host.generate(MODEL, n, reference, seed=5, batch_size=2)
    check_finished(folder, reference, n)
    case("fault: disk full", "--resume after the disk was enlarged", "output equal to an uninterrupted run")


#: Sleeps MEDIGAN_TEST_SLEEP seconds per batch, so that a run lasts long enough to be run into.
SLOW_PLUGIN = GOOD_PLUGIN.replace(
    "    def generate(self, seeds, *, condition=None, inputs=None):\n",
    "    def generate(self, seeds, *, condition=None, inputs=None):\n"
    "        import os, time; time.sleep(float(os.environ.get('MEDIGAN_TEST_SLEEP', '0')))\n")


def test_second_generation_into_the_same_folder_is_refused(site, tmp_path):
    site.add("slow", SLOW_PLUGIN.format(ids=["slow-model"]))
    folder = tmp_path / "shared"
    args = [sys.executable, "-m", "medigan_host", "generate", "slow-model", "-n", "40", "-o", str(folder), "--batch-size", "1"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=site.env(MEDIGAN_TEST_SLEEP="0.5"))  # 20 s in all: three refused commands fit on a busy machine
    deadline = time.monotonic() + 60
    while not (folder / "run.json").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    for extra in ([], ["--resume"], ["--overwrite"]):
        second = run_cli(*args[3:], *extra, env=site.env())
        assert first.poll() is None, "the first run ended too early for this test"
        assert second.returncode == 1 and "another medigan generation is writing into" in second.stderr, second.stderr
        case("fault: concurrent generations", f"second `medigan generate {' '.join(extra) or '(plain)'}` into a folder "
             "being written", "refused (exit 1, lock message)")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    reference = run_cli("generate", "slow-model", "-n", "40", "-o", str(tmp_path / "reference"), env=site.env())
    assert reference.returncode == 0, reference.stderr
    check_finished(folder, tmp_path / "reference", 40)
    case("fault: concurrent generations", "the first run after the refused ones", "equal to a run alone")


HANGS_ON_IMPORT = "import time\ntime.sleep(3600)\n"
HANGS_IN_HOOK = '''
import time
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    time.sleep(3600)
'''


def test_plugins_that_hang_do_not_hang_medigan_list(site):
    site.add("good", GOOD_PLUGIN.format(ids=["good-a"]))
    site.add("hangimport", HANGS_ON_IMPORT)
    site.add("hanghook", HANGS_IN_HOOK)
    env = site.env(MEDIGAN_PLUGIN_TIMEOUT="3")  # the good plugin imports within it on a busy machine
    started = time.monotonic()
    listing = run_cli("list", env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert listing.returncode == 0, listing.stderr
    assert "good-a" in listing.stdout and "ct-head-phantom" in listing.stdout
    assert "plugin 'hangimport': timed out after 3 s importing" in listing.stderr
    assert "plugin 'hanghook': medigan_register_models timed out after 3 s" in listing.stderr
    assert elapsed < 20, f"medigan list took {elapsed:.1f} s with two hung plugins and a 3 s limit"
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json", env=env, timeout=60).stdout)}
    assert plugins["hangimport"]["status"] == "failed" and "timed out after 3 s" in plugins["hangimport"]["errors"][0]
    assert plugins["hanghook"]["models"] == [] and "timed out after 3 s" in plugins["hanghook"]["errors"][0]
    assert plugins["good"]["status"] == "ok"
    case("fault: hanging plugin", "a plugin that sleeps forever on import and one in its hook; `medigan list`, "
         "`medigan plugins`", f"both reported as timed out; list done in {'<'}20 s; process exits", 2)


def test_each_call_gets_its_own_time_limit():
    from medigan_host.plugins import call_each_with_timeout

    release = threading.Event()

    def fail():
        raise ValueError("broken")

    started = time.monotonic()
    outcomes = call_each_with_timeout([lambda: 1, release.wait, fail, lambda: 4, lambda: time.sleep(0.3) or 5], 1.0, "t")
    elapsed = time.monotonic() - started
    release.set()  # lets the abandoned worker finish; its late result must not replace the timeout
    assert [kind for kind, _ in outcomes] == ["value", "timeout", "error", "value", "value"]
    assert outcomes[0][1] == 1 and outcomes[1][1] == 1.0 and isinstance(outcomes[2][1], ValueError) and outcomes[4][1] == 5
    assert 1.0 <= elapsed < 5, elapsed
    assert call_each_with_timeout([lambda: 2], None, "t") == [("value", 2)]
    case("fault: hanging plugin", "a batch of calls with one that hangs, one that raises, one slow but in time",
         "each call judged on its own limit; the rest of the batch still runs", 5)


def test_plugin_timeout_setting_is_checked(monkeypatch):
    from medigan_host.plugins import DEFAULT_TIMEOUT, PluginWarning, plugin_timeout

    for value, expected in (("0", None), ("2.5", 2.5), ("", DEFAULT_TIMEOUT)):
        monkeypatch.setenv("MEDIGAN_PLUGIN_TIMEOUT", value)
        assert plugin_timeout() == expected
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("MEDIGAN_PLUGIN_TIMEOUT", bad)
        with pytest.warns(PluginWarning, match="MEDIGAN_PLUGIN_TIMEOUT"):
            assert plugin_timeout() == DEFAULT_TIMEOUT
    case("bad input: settings", "MEDIGAN_PLUGIN_TIMEOUT values", "bad values warned about, default used", 7)


class _CrashingPlugin:
    """A plugin whose generator raises on its third batch while ``crash`` is set."""

    def __init__(self) -> None:
        self.crash = True
        self.calls = 0

    @hookimpl
    def medigan_register_models(self, register):
        register(card("crashing-model"), lambda card, device: self)

    def generate(self, seeds, *, condition=None, inputs=None):
        self.calls += 1
        if self.crash and self.calls == 3:
            raise RuntimeError("the GPU fell off the bus")
        rng = [np.random.default_rng(seed) for seed in seeds]
        return {"images": np.stack([r.random((8, 8, 1), dtype=np.float32) for r in rng])}


def test_plugin_crash_mid_run_leaves_it_resumable(tmp_path):
    plugin = _CrashingPlugin()
    medigan_host.register_plugin(plugin, "crashing")
    folder = tmp_path / "run"
    with pytest.raises(PluginError, match="crashing-model.*RuntimeError: the GPU fell off the bus"):
        medigan_host.generate("crashing-model", 10, folder, seed=2, batch_size=2)
    assert len(check_manifest_sound(folder)) == 4
    plugin.crash = False
    result = medigan_host.generate("crashing-model", 10, folder, seed=2, batch_size=2, resume=True)
    assert (result.already_done, result.generated) == (4, 6)
    medigan_host.generate("crashing-model", 10, tmp_path / "reference", seed=2, batch_size=2)
    check_finished(folder, tmp_path / "reference", 10)
    case("fault: plugin crash", "a generator raising in its third batch, then --resume",
         "PluginError naming the model; finished samples kept; output equal to an uninterrupted run")
