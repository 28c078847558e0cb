"""PyTorch, onnxruntime and (when installed) TensorFlow models loaded and run in one process, in any order, interleaved.

Each order runs in a fresh interpreter, so the frameworks are also *imported* in that order. Every model must give
the same images whatever the order and whatever ran between its batches.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import medigan_host

pytestmark = [pytest.mark.torch, pytest.mark.onnx, pytest.mark.slow]

#: framework -> installed models that need nothing but the framework (their weights ship inside their plugins)
CANDIDATES = {
    "pytorch": ("histology-ihc-dcgan",),
    "onnx": ("histology-ihc-dcgan-onnx",),
    "tensorflow": ("cdcgan-histology-ihc",),
}
MODULES = {"pytorch": "torch", "onnx": "onnxruntime", "tensorflow": "tensorflow"}

RUN = '''
import json, sys
import numpy as np
import medigan_host

order, out = json.loads(sys.argv[1]), sys.argv[2]
models = [medigan_host.load_model(m, device="cpu") for m in order]       # load (and import) in this order
seeds = {m: [[11, 12, 13], [14, 15]] for m in order}
images = {m: [] for m in order}
for batch in range(2):                                                    # interleave: A B C, A B C
    for m, model in zip(order, models):
        images[m].append(model.generate(seeds[m][batch]).images)
for m in order:
    np.save(f"{out}/{m}.npy", np.concatenate(images[m]))
print(json.dumps([model.card.framework for model in models]))
'''


def installed_models() -> list[str]:
    ids = {card.id for card in medigan_host.list_models()}
    chosen = []
    for framework, candidates in CANDIDATES.items():
        if importlib.util.find_spec(MODULES[framework]) is None:
            continue
        chosen.extend(m for m in candidates[:1] if m in ids)
    return chosen


def test_models_of_every_framework_run_together_in_any_order(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    models = installed_models()
    frameworks = {medigan_host.get_card(m).framework for m in models}
    if not {"pytorch", "onnx"} <= frameworks:
        pytest.skip(f"needs installed PyTorch and ONNX models, found {models}")
    env = {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    results: dict[str, list[np.ndarray]] = {m: [] for m in models}
    for order in itertools.permutations(models):
        out = tmp_path / "-".join(order)
        out.mkdir()
        done = subprocess.run([sys.executable, "-c", RUN, json.dumps(order), str(out)], capture_output=True, text=True,
                              timeout=300, env={**os.environ, **env})
        assert done.returncode == 0, f"order {order}: {done.stderr[-2000:]}"
        assert json.loads(done.stdout.strip().splitlines()[-1]) == [medigan_host.get_card(m).framework for m in order]
        for m in order:
            results[m].append(np.load(out / f"{m}.npy"))
    for m, runs in results.items():
        assert runs[0].shape[0] == 5
        for other in runs[1:]:
            assert np.allclose(runs[0], other, atol=1e-6, rtol=0), f"{m} changed with the order of the frameworks"
