"""Listing, showing and searching cards never import a deep-learning framework (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "tensorflow", "onnxruntime", "jax")

TORCH_PLUGIN = '''
from medigan_host import hookimpl

@hookimpl
def medigan_register_models(register):
    register({"id": "torch-model", "name": "t", "version": "1", "description": "d", "framework": "pytorch",
              "modality": "mri", "image_size": [8, 8], "channels": 1, "license": "MIT"},
             "medigan_test_torchloader:load")
'''
TORCH_LOADER = "import torch\n\ndef load(card, device):\n    return torch\n"

PROBE = '''
import json, sys
from medigan_host.cli import main
import medigan_host
for args in (["list"], ["list", "--json"], ["info", "torch-model"], ["info", "ct-head-phantom", "--json"], ["plugins"]):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
medigan_host.list_models(framework="pytorch")
medigan_host.get_card("torch-model")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy} or m == "numpy")))
'''


def test_listing_imports_no_framework(site):
    site.add("torchy", TORCH_PLUGIN)
    (site.root / "medigan_test_torchloader.py").write_text(TORCH_LOADER)
    for heavy in HEAVY:  # stand-ins that would show up in sys.modules if anything imported them
        (site.root / f"{heavy}.py").write_text("")
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=set(HEAVY))], capture_output=True, text=True,
                            env=site.env())
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == [], f"listing imported {imported}"
    assert "torch-model" in result.stdout
