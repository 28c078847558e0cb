"""A TensorFlow/Keras model through the CLI: conditions checked by the host, applied by the model, written to disk."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow (nox -s tensorflow)"),
    pytest.mark.skipif(importlib.util.find_spec("medigan_plugin_cdcgan_histology") is None,
                       reason="needs plugins/medigan-plugin-cdcgan-histology installed (nox -s tensorflow)"),
]

MODEL = "cdcgan-histology-ihc"


def _images(folder: Path) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(path)) for path in sorted((folder / "images").glob("*.png"))])


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_cli_writes_the_requested_class_and_resumes_it(tmp_path):
    from medigan_plugin_cdcgan_histology.plugin import CARD
    from medigan_plugin_cdcgan_histology.stain import dab_positive_fraction

    threshold = CARD["labelling"]["dab_threshold"]
    areas = {}
    for value in ("negative", "positive"):
        out = tmp_path / value
        first = run_cli("generate", MODEL, "-n", "6", "-o", str(out), "--seed", "4", "--batch-size", "4",
                        "--condition", f"dab={value}", "--device", "cpu")
        assert first.returncode == 0, first.stderr
        images = _images(out)
        assert images.shape == (6, 64, 64, 3) and images.dtype == np.uint8
        assert [r["condition"] for r in _manifest(out)] == [{"dab": value}] * 6
        areas[value] = dab_positive_fraction(images, threshold)
    assert areas["positive"].mean() > areas["negative"].mean() + 0.3, areas

    more = run_cli("generate", MODEL, "-n", "9", "-o", str(tmp_path / "positive"), "--seed", "4", "--batch-size", "5",
                   "--condition", "dab=positive", "--device", "cpu", "--resume")
    assert more.returncode == 0, more.stderr
    at_once = tmp_path / "at-once"
    assert run_cli("generate", MODEL, "-n", "9", "-o", str(at_once), "--seed", "4", "--batch-size", "9",
                   "--condition", "dab=positive", "--device", "cpu").returncode == 0
    assert np.array_equal(_images(tmp_path / "positive"), _images(at_once))  # batching and resuming change nothing


@pytest.mark.parametrize("condition, message", [
    ("lesion=present", "has no condition 'lesion'; its conditions are: dab"),
    ("dab=maybe", "choose one of: negative, positive"),
])
def test_cli_rejects_conditions_the_card_does_not_declare(tmp_path, condition, message):
    result = run_cli("generate", MODEL, "-n", "2", "-o", str(tmp_path / "out"), "--condition", condition)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "out" / "images").exists()


def test_cli_cuda_needs_a_gpu_that_tensorflow_sees(tmp_path):
    result = run_cli("generate", MODEL, "-n", "2", "-o", str(tmp_path / "out"), "--device", "cuda")
    if result.returncode == 0:  # a machine with a GPU: the model ran there
        assert len(_images(tmp_path / "out")) == 2
    else:
        assert result.returncode == 2, result.stderr
        assert "device 'cuda'" in result.stderr and "TensorFlow sees no GPU" in result.stderr
        assert "--device cpu" in result.stderr
        assert not list((tmp_path / "out").glob("images/*.png"))
