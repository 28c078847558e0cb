"""The medigan command line: exit statuses, JSON output, and a run killed mid-way then resumed."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, run_json

SLOW_PLUGIN = '''
import time
import numpy as np
from medigan_host import hookimpl, latents

class Slow:
    def generate(self, seeds, *, condition=None, inputs=None):
        time.sleep(0.03 * len(seeds))
        z = latents(seeds, 32 * 32 * 3)
        return {"images": (np.tanh(z) * 0.5 + 0.5).reshape(len(seeds), 32, 32, 3).astype(np.float32),
                "masks": (z[:, ::3] > 1).reshape(len(seeds), 32, 32, 1).astype(np.uint8)}

def load(card, device):
    return Slow()

@hookimpl
def medigan_register_models(register):
    register({"id": "slow-model", "name": "slow", "version": "1.0.0", "description": "d", "framework": "numpy",
              "modality": "xray", "image_size": [32, 32], "channels": 3, "outputs": "image+mask",
              "license": "MIT"}, load)
'''


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.parent != folder}


def test_version_and_help():
    assert run_cli("--version").stdout.startswith("medigan, version")
    result = run_cli("--help")
    assert result.returncode == 0 and "generate" in result.stdout and "plugins" in result.stdout


def test_list_and_info():
    listing = run_cli("list")
    assert listing.returncode == 0 and "ct-head-phantom" in listing.stdout and "FRAMEWORK" in listing.stdout
    cards = {c["id"]: c for c in run_json("list")}
    assert cards["mammo-breast-phantom"]["conditions"]["density"] == ["a", "b", "c", "d"]
    assert cards["mammo-breast-phantom"]["plugin"] == "phantoms"
    info = run_json("info", "mri-brain-phantom-3d")
    assert info["image_size"] == [64, 64, 64] and info["plugin_version"]
    text = run_cli("info", "ct-head-phantom")
    assert "Hounsfield" in text.stdout and "mask_labels" in text.stdout


def test_exit_statuses(tmp_path):
    unknown = run_cli("info", "ct-head-phantm")
    assert unknown.returncode == 2 and "did you mean 'ct-head-phantom'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert run_cli("generate", "ct-head-phantom", "-n", "0", "-o", str(tmp_path / "a")).returncode == 2
    malformed = run_cli("generate", "ct-head-phantom", "-n", "1", "-o", str(tmp_path / "b"), "--condition", "lesion")
    assert malformed.returncode == 2 and "key=value" in malformed.stderr
    undeclared = run_cli("generate", "ct-head-phantom", "-n", "1", "-o", str(tmp_path / "b"), "--condition", "x=1")
    assert undeclared.returncode == 2 and "no condition 'x'" in undeclared.stderr
    assert run_cli("generate", "ct-head-phantom", "-o", str(tmp_path / "c")).returncode == 2
    assert run_cli("bogus").returncode == 2


def test_generate_then_refuse_then_resume(tmp_path):
    out = tmp_path / "out"
    first = run_cli("generate", "ct-head-phantom", "-n", "4", "-o", str(out), "--seed", "5", "--condition", "lesion=present")
    assert first.returncode == 0, first.stderr
    assert "wrote 4 samples" in first.stdout
    before = _files(out)
    again = run_cli("generate", "ct-head-phantom", "-n", "4", "-o", str(out), "--seed", "5")
    assert again.returncode == 2 and "--resume" in again.stderr and _files(out) == before
    summary = json.loads(run_cli("generate", "ct-head-phantom", "-n", "6", "-o", str(out), "--seed", "5",
                                 "--condition", "lesion=present", "--resume", "--json").stdout)
    assert summary["already_done"] == 4 and summary["generated"] == 2
    assert {k: v for k, v in _files(out).items() if k in before} == before


def test_runtime_failure_exits_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("generate", "ct-head-phantom", "-n", "1", "-o", str(blocker / "sub"))
    assert result.returncode == 1 and "cannot create output folder" in result.stderr


def test_inputs_from_npy(tmp_path):
    import numpy as np

    import medigan_host

    (batch,) = medigan_host.generate("ct-head-phantom", 2, seed=1)
    np.save(tmp_path / "slices.npy", batch.images)
    result = run_cli("generate", "ct-lowdose-sim", "--inputs", str(tmp_path / "slices.npy"), "-o", str(tmp_path / "ld"),
                     "--condition", "dose=quarter")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "ld/images").iterdir()) == ["000000.png", "000001.png"]


@pytest.mark.slow
def test_killed_run_resumes_to_identical_output(site, tmp_path):
    site.add("slow", SLOW_PLUGIN)
    env = site.env()
    args = ["-m", "medigan_host", "generate", "slow-model", "-n", "60", "--batch-size", "4", "--seed", "21"]
    reference = tmp_path / "reference"
    done = subprocess.run([sys.executable, *args, "-o", str(reference)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    interrupted = tmp_path / "interrupted"
    rng = random.Random(1234)
    kills = 0
    flag: list[str] = []
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, *args, "-o", str(interrupted), *flag], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 1.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        flag = ["--resume"] if (interrupted / "run.json").exists() else []
    final = subprocess.run([sys.executable, *args, "-o", str(interrupted), *flag], env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert kills >= 2, "the run finished before it could be interrupted; the test needs a slower model"
    assert _files(interrupted) == _files(reference)
    assert not [p for p in interrupted.rglob("*medigan-tmp*")], "temporary files were left behind"
    lines = (interrupted / "manifest.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["index"] for line in lines) == list(range(60))
