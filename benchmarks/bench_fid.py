#!/usr/bin/env python
"""FID with medigan against pytorch-fid on the same images and the same InceptionV3 weights: time and peak memory.

    python benchmarks/bench_fid.py                        # 2 x 300 images
    python benchmarks/bench_fid.py --n 5000 --weights pt_inception-2015-12-05-6726825d.pth   # flat memory at 5,000
    python benchmarks/bench_fid.py --json out.json        # default: benchmarks/results/bench_fid.json (git-ignored)

Needs pytorch-fid (which needs torchvision) beside medigan_host and the phantoms plugin, e.g.
``pip install torch==2.14.1 torchvision==0.29.1 pytorch-fid==0.3.0 scipy``. Two folders of 8-bit PNG images
are written (breast phantoms of BI-RADS density a and d). Both tools get the same weights: ``--weights FILE``
(pytorch-fid's released file), or else a randomly initialised FID InceptionV3 with its batch-norm statistics
calibrated on 64 of the real images, saved once and placed where pytorch-fid looks for its weights (a temporary
``TORCH_HOME``), so nothing is downloaded. Each tool runs ``--repeats`` times in its own fresh child process,
alternating, on the CPU with the same thread count; the child reports its wall time (imports included) and its
peak RSS. medigan runs with its statistics cache off, and reports whether its record calls the FID comparable
with published ones (true only with ``--weights``) and the intensity window it used (uint8: 0..255, as
pytorch-fid). The FIDs of both must agree (relative difference printed).
Exit status 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "bench_fid.json"
WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"

CHILD = {
    "medigan": textwrap.dedent("""
        import json, resource, sys, time
        start = time.perf_counter()
        import torch
        torch.set_num_threads({threads})
        from medigan_host.evaluation.evaluate import evaluate
        record = evaluate(real={real!r}, fake={fake!r}, extractor="inception-v3-fid", weights_file={weights!r},
                          metrics=("fid",), device="cpu", batch_size={batch}, use_cache=False)[0]
        print(json.dumps({{"fid": record.value, "seconds": time.perf_counter() - start,
                          "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          "comparable_with_published_fid": record.extractor["comparable_with_published_fid"],
                          "window": record.fake["window"]}}))
    """),
    "pytorch-fid": textwrap.dedent("""
        import json, resource, sys, time
        start = time.perf_counter()
        import torch
        torch.set_num_threads({threads})
        from pytorch_fid.fid_score import calculate_fid_given_paths
        fid = calculate_fid_given_paths([{fake!r}, {real!r}], {batch}, "cpu", 2048, num_workers=0)
        print(json.dumps({{"fid": float(fid), "seconds": time.perf_counter() - start,
                          "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
    """),
}


def make_images(folder: Path, n: int, density: str, seed: int) -> Path:
    import medigan_host as mg

    mg.generate("mammo-breast-phantom", n, folder, seed=seed, condition={"density": density}, batch_size=50)
    return folder / "images"


def make_weights(path: Path, images: Path) -> None:
    """A random FID InceptionV3 whose batch-norm statistics are calibrated on 64 of the images, so its features
    are not degenerate (with plain random initialisation they shrink towards zero layer by layer)."""
    import numpy as np
    import torch

    from medigan_host.evaluation.inception import FIDInceptionV3
    from medigan_host.evaluation.preprocess import preprocess
    from medigan_host.formats.readers import list_images, read_image

    torch.manual_seed(0)
    network = FIDInceptionV3()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average over the calibration pass
    batch = np.stack([read_image(p) for p in list_images(images)[:64]])
    x = torch.from_numpy(preprocess(batch, size=(299, 299), channels=3, normalization="symmetric", resize_method="bilinear"))
    network.train()
    with torch.no_grad():
        network(x)
    torch.save(network.eval().state_dict(), path)


def run_child(tool: str, env: dict[str, str], **fields: object) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", CHILD[tool].format(**fields)], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="images per set")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--weights", type=Path, help=f"pytorch-fid's {WEIGHTS_NAME} (default: random weights, for timing)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-fid-"))
    try:
        real = make_images(work / "real", args.n, "a", 1)
        fake = make_images(work / "fake", args.n, "d", 2)
        hub = work / "torch-home" / "hub" / "checkpoints"
        hub.mkdir(parents=True)
        weights = hub / WEIGHTS_NAME
        if args.weights:
            shutil.copyfile(args.weights, weights)
        else:
            make_weights(weights, real)
        env = {**os.environ, "TORCH_HOME": str(work / "torch-home"), "MEDIGAN_CACHE_DIR": str(work / "cache")}
        fields = {"real": str(real), "fake": str(fake), "weights": str(weights), "batch": args.batch_size,
                  "threads": args.threads}
        runs: dict[str, list[dict[str, float]]] = {"medigan": [], "pytorch-fid": []}
        for i in range(args.repeats):
            for tool in (("medigan", "pytorch-fid") if i % 2 == 0 else ("pytorch-fid", "medigan")):
                runs[tool].append(run_child(tool, env, **fields))
                print(f"{tool:12s} run {i + 1}: {runs[tool][-1]}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best = {tool: min(r["seconds"] for r in rs) for tool, rs in runs.items()}
    peak = {tool: max(r["peak_rss_mib"] for r in rs) for tool, rs in runs.items()}
    fid = {tool: rs[0]["fid"] for tool, rs in runs.items()}
    summary = {
        "images_per_set": args.n, "threads": args.threads, "weights": "given" if args.weights else "random (seed 0), batch norm calibrated",
        "seconds_best": best, "peak_rss_mib": peak, "fid": fid,
        "speed_ratio_pytorch_fid_over_medigan": best["pytorch-fid"] / best["medigan"],
        "memory_ratio_pytorch_fid_over_medigan": peak["pytorch-fid"] / peak["medigan"],
        "fid_relative_difference": abs(fid["medigan"] - fid["pytorch-fid"]) / max(abs(fid["pytorch-fid"]), 1e-12),
        "python": platform.python_version(), "platform": platform.platform(), "runs": runs,
    }
    print(f"\n{'tool':12s} {'best s':>8s} {'peak MiB':>9s} {'FID':>14s}")
    for tool in runs:
        print(f"{tool:12s} {best[tool]:8.1f} {peak[tool]:9.0f} {fid[tool]:14.6f}")
    print(f"\npytorch-fid / medigan: time {summary['speed_ratio_pytorch_fid_over_medigan']:.2f}x, peak memory "
          f"{summary['memory_ratio_pytorch_fid_over_medigan']:.2f}x; FID relative difference "
          f"{summary['fid_relative_difference']:.2e}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"saved {args.json}")


if __name__ == "__main__":
    main()
