"""The README's embedded default: the trained histology model in ONNX form, with only onnxruntime installed."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from conftest import run_cli

pytestmark = pytest.mark.onnx

DEFAULT_MODEL = "histology-ihc-fastgan-onnx"


@pytest.fixture(autouse=True)
def _needs_the_default_model():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("medigan_plugin_histology_dcgan")
    pytest.importorskip("medigan_plugin_onnx")


def test_readme_command_writes_sixteen_patches(tmp_path):
    from PIL import Image

    out = tmp_path / "synthetic"
    result = run_cli("generate", DEFAULT_MODEL, "-n", "16", "-o", str(out), "--device", "auto")
    assert result.returncode == 0, result.stderr
    files = sorted((out / "images").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(16)]
    first = np.asarray(Image.open(files[0]))
    assert first.shape == (128, 128, 3) and first.dtype == np.uint8 and first.std() > 10
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(16)) and all(r["model"] == DEFAULT_MODEL for r in records)
    again = run_cli("generate", DEFAULT_MODEL, "-n", "16", "-o", str(tmp_path / "again"), "--device", "cpu")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "images" / files[5].name).read_bytes() == files[5].read_bytes()


def test_pytorch_card_without_torch_names_the_pip_command(tmp_path):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    result = run_cli("generate", "histology-ihc-dcgan", "-n", "2", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "pip install torch" in result.stderr
    assert not (tmp_path / "out" / "images").exists() or not any((tmp_path / "out" / "images").iterdir())
