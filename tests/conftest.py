"""Shared fixtures: fake installed plugins (a dist-info folder plus a module on sys.path) and a CLI runner."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import medigan_host
from medigan_host import plugins as host_plugins

REPO = Path(__file__).resolve().parents[1]


def card(model_id: str, **overrides) -> dict:
    """A valid minimal card dict."""
    base = {
        "id": model_id, "name": f"Test model {model_id}", "version": "1.0.0", "description": "A test model.",
        "framework": "numpy", "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT",
    }
    base.update(overrides)
    return base


class Site:
    """A folder of fake installed plugin distributions, found through importlib.metadata like real ones."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, source: str, *, dist: str | None = None, version: str = "0.1.0",
            module: str | None = None) -> None:
        module = module or f"medigan_test_{name}"
        dist = dist or f"medigan-test-{name}"
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[medigan.plugins]\n{name} = {module}\n")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "MEDIGAN_PLUGINS"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        env.update(extra)
        return env


#: A plugin module with one small, fast, deterministic model per id given.
GOOD_PLUGIN = '''
import numpy as np
from medigan_host import hookimpl, latents

IDS = {ids!r}

class Gen:
    def __init__(self, card):
        self.card = card
    def generate(self, seeds, *, condition=None, inputs=None):
        z = latents(seeds, 8 * 8)
        images = (1 / (1 + np.exp(-z))).reshape(len(seeds), 8, 8, 1).astype(np.float32)
        return {{"images": images}}

def load(card, device):
    return Gen(card)

@hookimpl
def medigan_register_models(register):
    for model_id in IDS:
        register({{"id": model_id, "name": model_id, "version": "1.0.0", "description": "d", "framework": "numpy",
                  "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT"}}, load)
'''


@pytest.fixture
def site(tmp_path, monkeypatch) -> Site:
    """Fake plugins visible to this process (and to subprocesses run with ``site.env()``)."""
    fake = Site(tmp_path / "site")
    monkeypatch.syspath_prepend(str(fake.root))
    monkeypatch.delenv("MEDIGAN_PLUGINS", raising=False)
    yield fake
    root = str(fake.root)
    for name, module in list(sys.modules.items()):  # the fake plugins, and stand-ins (e.g. a fake tensorflow) made there
        if name.startswith("medigan_test_") or str(getattr(module, "__file__", None) or "").startswith(root):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def host(site):
    """A fresh plugin host that sees the installed plugins plus those added to ``site`` before it is used."""
    importlib.invalidate_caches()

    def make() -> host_plugins.PluginHost:
        importlib.invalidate_caches()
        return host_plugins.reset_host()

    yield make
    host_plugins.reset_host()


@pytest.fixture(autouse=True)
def _fresh_host():
    """Every test starts from the plugins that are really installed."""
    host_plugins.reset_host()
    yield
    host_plugins.reset_host()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120):
    """Run ``python -m medigan_host`` in a subprocess; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "medigan_host", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def run_json(*args: str, env: dict[str, str] | None = None):
    result = run_cli(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


assert medigan_host.__version__
