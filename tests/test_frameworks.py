"""Missing frameworks and packages name their pip command; --device auto|cpu|cuda[:i] is checked against the machine."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import card

import medigan_host
from medigan_host import DeviceError, FrameworkMissingError, PluginError, hookimpl, latents
from medigan_host.frameworks import check_available, pip_requirement, resolve_device


class _Registers:
    """A plugin object registering one card with the given loader."""

    def __init__(self, model_card: dict, loader) -> None:
        self.model_card, self.loader = model_card, loader

    @hookimpl
    def medigan_register_models(self, register):
        register(self.model_card, self.loader)


def test_missing_framework_names_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # what an environment without torch looks like to importlib
    medigan_host.register_plugin(_Registers(card("needs-torch", framework="pytorch"), "medigan_test_nowhere:load"), "t")
    with pytest.raises(FrameworkMissingError, match=r"needs pytorch, which is not installed: run `pip install torch --index-url https://download.pytorch.org/whl/cpu`"):
        medigan_host.load_model("needs-torch")


def _loader_needing(module: str):
    def load(card, device):
        __import__(module)

    load.__module__ = "medigan_test_plugin.models"
    return load


def test_missing_package_inside_a_loader_names_pip_command():
    medigan_host.register_plugin(_Registers(card("needs-extra"), _loader_needing("medigan_absent_package_xyz.sub")), "x")
    with pytest.raises(FrameworkMissingError, match=r"`pip install medigan-absent-package-xyz`"):
        medigan_host.load_model("needs-extra")
    assert pip_requirement("cv2") == "opencv-python-headless" and pip_requirement("safetensors.torch") == "safetensors"


def test_missing_module_of_the_plugin_itself_is_a_plugin_error():
    medigan_host.register_plugin(_Registers(card("broken-own"), _loader_needing("medigan_test_plugin.gone")), "own")
    with pytest.raises(PluginError, match="reinstall the plugin"):
        medigan_host.load_model("broken-own")


def test_missing_package_imported_by_a_loader_module_names_pip_command(site):
    (site.root / "medigan_test_needs_dep.py").write_text("import medigan_absent_dep_abc\n\ndef load(card, device):\n    pass\n")
    medigan_host.register_plugin(_Registers(card("needs-import"), "medigan_test_needs_dep:load"), "imp")
    with pytest.raises(FrameworkMissingError, match="pip install medigan-absent-dep-abc"):
        medigan_host.load_model("needs-import")
    medigan_host.register_plugin(_Registers(card("not-installed"), "medigan_absent_loader_pkg.model:load"), "gone")
    with pytest.raises(PluginError, match="reinstall the plugin"):  # the plugin's own package is missing
        medigan_host.load_model("not-installed")


MISSING_TORCH_CLI = '''
import sys
sys.modules["torch"] = None
from medigan_host.cli import main
main(["generate", "torch-model", "-n", "1", "-o", sys.argv[1]])
'''
TORCH_CARD_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({"id": "torch-model", "name": "t", "version": "1", "description": "d", "framework": "pytorch",
              "modality": "mri", "image_size": [8, 8], "channels": 1, "license": "MIT"}, "medigan_test_torchy:load")
'''


def test_cli_exit_status_for_a_missing_framework(site, tmp_path):
    import subprocess

    site.add("torchy", TORCH_CARD_PLUGIN)
    result = subprocess.run([sys.executable, "-c", MISSING_TORCH_CLI, str(tmp_path / "out")], capture_output=True,
                            text=True, env=site.env(), timeout=120)
    assert result.returncode == 1, result.stderr
    assert "pip install torch" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "images").exists() or not any((tmp_path / "out" / "images").iterdir())


def test_numpy_models_take_any_valid_device():
    assert resolve_device("cuda:3", "numpy") == "cuda:3"  # the host cannot query numpy; the plugin decides
    with pytest.raises(ValueError, match="not one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device("gpu0", "numpy")


# -- PyTorch ---------------------------------------------------------------------------------------------
class _TinyTorch:
    """A one-layer torch generator that reports the device it runs on."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch, self.device = torch, torch.device(device)
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Sigmoid()).to(self.device).eval()

    def generate(self, seeds, *, condition=None, inputs=None):
        with self.torch.inference_mode():
            z = self.torch.from_numpy(latents(seeds, 16)).to(self.device)
            out = self.net(z).reshape(len(seeds), 8, 8, 1)
        self.last_device = out.device
        return {"images": out.cpu().numpy().astype(np.float32)}


def _gpu_count(torch) -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.torch
def test_auto_picks_a_gpu_when_there_is_one():
    torch = pytest.importorskip("torch")
    medigan_host.register_plugin(_Registers(card("tiny-torch", framework="pytorch"), lambda c, d: _TinyTorch(d)), "tiny")
    model = medigan_host.load_model("tiny-torch", device="auto")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert model.device == expected
    model.generate([1, 2])
    assert model.generator.last_device.type == expected
    assert medigan_host.load_model("tiny-torch", device="cpu").device == "cpu"


@pytest.mark.torch
def test_unavailable_cuda_device_is_a_usage_error():
    torch = pytest.importorskip("torch")
    count = _gpu_count(torch)
    with pytest.raises(DeviceError, match=r"device 'cuda:\d+' is not available to PyTorch.*--device cpu"):
        check_available(f"cuda:{count}", "pytorch")
    if count == 0:
        with pytest.raises(DeviceError, match="CPU-only build|no CUDA GPU"):
            check_available("cuda", "pytorch")
    else:
        check_available("cuda", "pytorch")
        check_available(f"cuda:{count - 1}", "pytorch")
        with pytest.raises(DeviceError, match=f"it sees {count} GPU"):
            check_available(f"cuda:{count}", "pytorch")


@pytest.mark.torch
def test_cuda_index_selects_the_gpu():
    torch = pytest.importorskip("torch")
    if _gpu_count(torch) == 0:
        pytest.skip("no CUDA GPU on this machine")
    medigan_host.register_plugin(_Registers(card("tiny-gpu", framework="pytorch"), lambda c, d: _TinyTorch(d)), "gpu")
    index = _gpu_count(torch) - 1
    model = medigan_host.load_model("tiny-gpu", device=f"cuda:{index}")
    model.generate([5])
    assert model.generator.last_device == torch.device("cuda", index)


TINY_TORCH_PLUGIN = '''
import numpy as np
from medigan_host import hookimpl, latents

class Tiny:
    def __init__(self, device):
        import torch
        self.torch, self.device = torch, torch.device(device)
    def generate(self, seeds, *, condition=None, inputs=None):
        z = self.torch.from_numpy(latents(seeds, 64)).to(self.device)
        return {"images": self.torch.sigmoid(z).reshape(len(seeds), 8, 8, 1).cpu().numpy().astype(np.float32)}

def load(card, device):
    return Tiny(device)

@hookimpl
def medigan_register_models(register):
    register({"id": "tiny-cli", "name": "t", "version": "1", "description": "d", "framework": "pytorch",
              "modality": "mri", "image_size": [8, 8], "channels": 1, "license": "MIT"}, load)
'''


@pytest.mark.torch
def test_cli_device_option(site, host, tmp_path):
    from click.testing import CliRunner

    from medigan_host.cli import cli

    torch = pytest.importorskip("torch")
    site.add("tinycli", TINY_TORCH_PLUGIN)
    host()
    runner = CliRunner()
    bad = runner.invoke(cli, ["generate", "tiny-cli", "-n", "2", "-o", str(tmp_path / "bad"), "--device",
                              f"cuda:{_gpu_count(torch)}"])
    assert bad.exit_code == 2 and "is not available to PyTorch" in bad.output, bad.output
    assert not (tmp_path / "bad" / "manifest.jsonl").exists()
    for device in ("cpu", "auto"):
        good = runner.invoke(cli, ["generate", "tiny-cli", "-n", "2", "-o", str(tmp_path / device), "--device", device])
        assert good.exit_code == 0, good.output
    assert (tmp_path / "cpu" / "manifest.jsonl").exists() and (tmp_path / "auto" / "manifest.jsonl").exists()
