"""Listing, searching and reading the cards of the MONAI and diffusers models imports none of torch, monai,
diffusers or huggingface_hub (checked in a fresh process with the installed plugins)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = '''
import json, sys
from medigan_host.cli import main
for args in (["list"], ["list", "--json"], ["info", "monai-brain-ldm-t1w"], ["info", "monai-mednist-ddpm-hand", "--json"]):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
import medigan_host
assert {"monai-mednist-ddpm-hand", "monai-brain-ldm-t1w"} <= {c.id for c in medigan_host.list_models()}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "monai", "diffusers", "huggingface_hub",
                                                                       "transformers", "safetensors"))))
'''


def test_listing_the_monai_models_imports_no_framework(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "monai-brain-ldm-t1w" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
