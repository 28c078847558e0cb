#!/usr/bin/env python
"""Benchmarks of the original-code runner (medigan-plugin-original).

Run from the repository root, with medigan_host and medigan-plugin-original installed::

    python benchmarks/bench_original.py            # full run (about a minute on 2 cores)
    python benchmarks/bench_original.py --quick    # fewer samples and repeats

It measures:

1. The runner's overhead per sample: a stand-in original package (the original layout; a numpy generate function
   making one 128x128 uint8 image per sample) served from a local fake Zenodo record and run through the worker of
   a test environment (``--system-site-packages``), against calling the same function in this process with the same
   per-sample seeding. Worker start-up (spawn, import, first request) is reported on its own.
2. ``medigan list`` with the 23 original cards installed, against a bare ``python -c "import importlib.metadata"``
   (target: at most 2.0x), and against ``medigan list`` without the original plugin (``MEDIGAN_PLUGINS``).

Nothing is downloaded from the internet; everything lives in a temporary cache that is removed at the end. The
exit status is 0 whatever the targets say.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

MODEL = "00017_DCGAN_XRAY_LUNG_NODULES"
SOURCE = '''import numpy as np

def generate(model_file, num_samples, output_path, save_images):
    scale = int(np.load(model_file)[0])
    return [(np.random.randint(0, 256 // scale, size=(128, 128)) * scale).astype(np.uint8) for _ in range(num_samples)]
'''


def _zip(package: str, weights: str) -> bytes:
    buffer, array = io.BytesIO(), io.BytesIO()
    np.save(array, np.array([3]), allow_pickle=False)
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr(f"{package}/__init__.py", SOURCE)
        zipped.writestr(f"{package}/{weights}", array.getvalue())
    return buffer.getvalue()


def _median_time(command: list[str], env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def runner_overhead(n: int, repeats: int) -> dict[str, float]:
    from medigan_plugin_original import runner

    import medigan_host
    from medigan_host import plugins
    from medigan_host.devkit.weights_server import RecordServer
    from medigan_host.environments import _inherit_parent_site, _python_in

    card = medigan_host.get_card(MODEL)
    spec = card.extra["original"]
    record = int(card.weights[0]["doi"].rsplit(".", 1)[1])
    data = _zip(spec["package"], spec["weights_file"])
    seeds = list(range(n))
    with tempfile.TemporaryDirectory() as tmp, RecordServer({record: {card.weights[0]["filename"]: data}}) as server:
        os.environ.update({"MEDIGAN_CACHE_DIR": str(Path(tmp, "cache")), "MEDIGAN_ZENODO_URL": server.base_url})
        plugins.reset_host()
        venv = Path(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
        _inherit_parent_site(_python_in(venv))
        runner.require_env = lambda _card: _python_in(venv)

        start = time.perf_counter()
        model = medigan_host.load_model(MODEL, trust_remote_code=True)
        model.generate([0])
        startup = time.perf_counter() - start
        worker = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.generate(seeds)
            worker.append((time.perf_counter() - start) / n)
        model.generator.worker.close()

        sys.path.insert(0, str(model.generator.root))
        function = importlib.import_module(f"models.{spec['package']}").generate
        weights = f"{model.generator.root}/models/{spec['package']}/{spec['weights_file']}"
        direct = []
        for _ in range(repeats):
            start = time.perf_counter()
            for seed in seeds:  # the same per-sample seeding the worker does
                random.seed(seed)
                np.random.seed(seed)
                try:
                    import torch

                    torch.manual_seed(seed)
                except ImportError:
                    pass
                function(weights, 1, tmp, False)
            direct.append((time.perf_counter() - start) / n)
    per_worker, per_direct = statistics.median(worker), statistics.median(direct)
    return {"startup_s": startup, "worker_ms_per_sample": per_worker * 1e3, "in_process_ms_per_sample": per_direct * 1e3,
            "overhead_ms_per_sample": (per_worker - per_direct) * 1e3}


def listing(repeats: int) -> dict[str, float]:
    env = {**os.environ}
    env.pop("MEDIGAN_PLUGINS", None)
    medigan = [sys.executable, "-m", "medigan_host", "list"]
    bare = _median_time([sys.executable, "-c", "import importlib.metadata"], env, repeats)
    with_original = _median_time(medigan, env, repeats)
    from medigan_host import list_plugins

    others = ",".join(p.name for p in list_plugins() if p.name != "original")
    without = _median_time(medigan, {**env, "MEDIGAN_PLUGINS": others}, repeats)
    return {"bare_s": bare, "list_with_23_original_s": with_original, "list_without_original_s": without,
            "ratio_to_bare": with_original / bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and repeats")
    args = parser.parse_args()
    n, repeats = (16, 3) if args.quick else (64, 5)
    listed = listing(repeats * 2)
    overhead = runner_overhead(n, repeats)
    print(f"runner ({n} samples, median of {repeats}):")
    print(f"  worker start-up (spawn, import, first sample): {overhead['startup_s']:.2f} s")
    print(f"  per sample through the worker: {overhead['worker_ms_per_sample']:.2f} ms; in process: "
          f"{overhead['in_process_ms_per_sample']:.2f} ms; overhead: {overhead['overhead_ms_per_sample']:.2f} ms/sample")
    print("medigan list:")
    print(f"  bare python -c 'import importlib.metadata': {listed['bare_s'] * 1e3:.0f} ms")
    print(f"  with the 23 original cards: {listed['list_with_23_original_s'] * 1e3:.0f} ms "
          f"({listed['ratio_to_bare']:.2f}x bare; target <= 2.0x: {'PASS' if listed['ratio_to_bare'] <= 2.0 else 'FAIL'})")
    print(f"  without the original plugin: {listed['list_without_original_s'] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
