#!/usr/bin/env python
"""Images per second of a trained histology model: PyTorch eager vs ONNX Runtime, framework vs host, side by side.

Run from the repository root with the host, medigan-plugin-onnx, medigan-plugin-histology-dcgan, torch, safetensors
and onnxruntime installed::

    python benchmarks/bench_frameworks.py            # batch sizes 1, 16, 64
    python benchmarks/bench_frameworks.py --quick    # fewer rounds, a smoke test
    python benchmarks/bench_frameworks.py --json out.json
    python benchmarks/bench_frameworks.py --model fastgan   # the 128x128 histology-ihc-fastgan(-onnx) instead

For each batch size it times (see :func:`measure` for how the variants are interleaved):

- ``torch direct``: the generator network called in eager mode on a latent tensor (``inference_mode``), output
  mapped to (N, H, W, 3) float32 in [0, 1] as the plugin returns it;
- ``onnx direct``: ``InferenceSession.run`` on the same latents, the same output mapping;
- ``torch host`` / ``onnx host``: ``medigan_host.load_model(...).generate(seeds)``: per-seed latents, condition
  and card checks included (what the engine calls for every batch).

Targets: the host adds at most 5 % over the framework itself (``host`` vs ``direct``), ONNX Runtime is at least
1.3x faster than PyTorch eager at batch 64, and the ONNX model generates at least 100 images/s through the host at
batch 64. TensorFlow: the trained model exists in PyTorch and ONNX only, so there is
no TensorFlow column (the TensorFlow plugin's model is another network). Exit status 0 whatever the targets say.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import medigan_host
from medigan_host.seeding import sample_seeds

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "bench_frameworks.json"
#: The PyTorch and ONNX card of each model ``--model`` can name.
MODELS = {"dcgan": ("histology-ihc-dcgan", "histology-ihc-dcgan-onnx"),
          "fastgan": ("histology-ihc-fastgan", "histology-ihc-fastgan-onnx")}
ONNX_TARGET_IMAGES_PER_S = 100.0
BATCH_SIZES = (1, 16, 64)
HOST_TARGET_PCT = 5.0
ONNX_TARGET_SPEEDUP = 1.3
#: Pause before each framework's turn: idle worker threads of the other framework stop spinning.
PAUSE_S = 0.3


def variants(batch: int, model: str = "dcgan") -> dict[str, Callable[[], Any]]:
    """The callables to time at ``batch``: each produces ``batch`` images as (N, H, W, 3) float32 in [0, 1]."""
    import torch

    torch_id, onnx_id = MODELS[model]
    torch_model = medigan_host.load_model(torch_id, device="cpu")
    onnx_model = medigan_host.load_model(onnx_id, device="cpu")
    net = torch_model.generator.net
    session = onnx_model.generator.session
    seeds = sample_seeds(0, range(batch))
    z = medigan_host.latents(seeds, net.latent_dim)
    z_torch = torch.from_numpy(z)

    def torch_direct() -> np.ndarray:
        with torch.inference_mode():
            return ((net(z_torch) + 1) * 0.5).clamp_(0, 1).permute(0, 2, 3, 1).contiguous().numpy()

    def onnx_direct() -> np.ndarray:
        (raw,) = session.run(["images"], {"z": z})
        return np.ascontiguousarray(np.clip((raw + 1) * 0.5, 0, 1).transpose(0, 2, 3, 1))

    return {
        "torch direct": torch_direct,
        "torch host": lambda: torch_model.generate(seeds),
        "onnx direct": onnx_direct,
        "onnx host": lambda: onnx_model.generate(seeds),
    }


def measure(batch: int, rounds: int, min_seconds: float, model: str = "dcgan") -> dict[str, Any]:
    """Images/s of every variant at ``batch``, and the paired ratios, over ``rounds`` rounds.

    Within a round, a framework's ``direct`` and ``host`` variants alternate call by call (ABAB…, the first call
    alternating between rounds), so a busy machine slows both alike; the host's overhead is the median over rounds of
    that round's host/direct time ratio. Frameworks take turns with a pause between them, so that one framework's
    spinning worker threads do not steal the other's CPU time; the ONNX/PyTorch speedup is the median over rounds of
    the ratio of their ``direct`` rates in the same round.
    """
    calls = variants(batch, model)
    for call in calls.values():  # warm-up: first-call allocations, oneDNN/ORT kernel selection
        call()
        call()
    rates: dict[str, list[float]] = {name: [] for name in calls}
    extra_ms: dict[str, list[float]] = {"torch host": [], "onnx host": []}  # host minus direct, ms per call
    pairs = [("torch direct", "torch host"), ("onnx direct", "onnx host")]
    for r in range(rounds):
        for pair in (pairs if r % 2 == 0 else pairs[::-1]):
            time.sleep(PAUSE_S)
            order = pair if r % 2 == 0 else pair[::-1]
            spent = {name: 0.0 for name in pair}
            count = 0
            while min(spent.values()) < min_seconds:
                for name in order:
                    started = time.perf_counter()
                    calls[name]()
                    spent[name] += time.perf_counter() - started
                count += 1
            for name in pair:
                rates[name].append(count * batch / spent[name])
            extra_ms[pair[1]].append((spent[pair[1]] - spent[pair[0]]) / count * 1e3)
    per_round = {
        "torch_host_overhead_pct": [(d / h - 1) * 100 for d, h in zip(rates["torch direct"], rates["torch host"], strict=True)],
        "onnx_host_overhead_pct": [(d / h - 1) * 100 for d, h in zip(rates["onnx direct"], rates["onnx host"], strict=True)],
        "onnx_vs_torch_speedup": [o / t for o, t in zip(rates["onnx direct"], rates["torch direct"], strict=True)],
        "torch_host_extra_ms_per_call": extra_ms["torch host"],
        "onnx_host_extra_ms_per_call": extra_ms["onnx host"],
    }
    return {
        "images_per_s": {name: {"median": statistics.median(v), "min": min(v), "max": max(v)} for name, v in rates.items()},
        "ratios": {name: {"median": statistics.median(v), "min": min(v), "max": max(v)} for name, v in per_round.items()},
        "rounds": rounds,
    }


def summarise(results: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for batch, r in results.items():
        rows.append({
            "batch": batch,
            **{name: round(v["median"], 1) for name, v in r["images_per_s"].items()},
            "torch_host_overhead_pct": round(r["ratios"]["torch_host_overhead_pct"]["median"], 2),
            "onnx_host_overhead_pct": round(r["ratios"]["onnx_host_overhead_pct"]["median"], 2),
            "onnx_vs_torch_speedup": round(r["ratios"]["onnx_vs_torch_speedup"]["median"], 3),
            "torch_host_extra_ms": round(r["ratios"]["torch_host_extra_ms_per_call"]["median"], 3),
            "onnx_host_extra_ms": round(r["ratios"]["onnx_host_extra_ms_per_call"]["median"], 3),
        })
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = ["batch", "torch direct", "torch host", "onnx direct", "onnx host", "torch host +%", "onnx host +%",
               "torch host +ms", "onnx host +ms", "onnx/torch"]
    keys = ["batch", "torch direct", "torch host", "onnx direct", "onnx host", "torch_host_overhead_pct",
            "onnx_host_overhead_pct", "torch_host_extra_ms", "onnx_host_extra_ms", "onnx_vs_torch_speedup"]
    cells = [headers] + [[str(row[k]) for k in keys] for row in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    worst = max(max(r["torch_host_overhead_pct"], r["onnx_host_overhead_pct"]) for r in rows)
    at64 = next((r for r in rows if r["batch"] == 64), None)
    lines = [f"host overhead (Model.generate vs framework), worst over batch sizes: {worst:+.2f} % "
             f"(target <= {HOST_TARGET_PCT} %): {'PASS' if worst <= HOST_TARGET_PCT else 'FAIL'}"]
    if at64 is not None:
        speedup = at64["onnx_vs_torch_speedup"]
        lines.append(f"ONNX Runtime vs PyTorch eager at batch 64: {speedup:.2f}x (target >= {ONNX_TARGET_SPEEDUP}x): "
                     f"{'PASS' if speedup >= ONNX_TARGET_SPEEDUP else 'FAIL'}")
        rate = at64["onnx host"]
        lines.append(f"ONNX model through the host at batch 64: {rate:.0f} images/s (target >= {ONNX_TARGET_IMAGES_PER_S:.0f}): "
                     f"{'PASS' if rate >= ONNX_TARGET_IMAGES_PER_S else 'FAIL'}")
    return lines


def environment() -> dict[str, Any]:
    import onnxruntime
    import torch

    return {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "platform": platform.platform(),
            "machine": platform.machine(), "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
            "medigan_host": medigan_host.__version__, "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.2 s per variant instead of 9 of 1 s")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    parser.add_argument("--model", choices=sorted(MODELS), default="dcgan",
                        help="dcgan: histology-ihc-dcgan(-onnx), 64x64; fastgan: histology-ihc-fastgan(-onnx), 128x128")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to save the results (default {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    rounds, min_seconds = (3, 0.2) if args.quick else (9, 1.0)
    env = environment()
    print(f"torch {env['torch']} ({env['torch_threads']} threads), onnxruntime {env['onnxruntime']}, "
          f"{env['cpu_count']} CPUs, load {env['load_average']}; images/s, median of {rounds} rounds\n")
    print(f"models: {' and '.join(MODELS[args.model])}")
    results = {batch: measure(batch, rounds, min_seconds, args.model) for batch in args.batch_sizes}
    rows = summarise(results)
    print_table(rows)
    print()
    lines = verdicts(rows)
    for line in lines:
        print(line)
    print("host +ms: what the host adds per call (per-seed latents, condition and card checks), in milliseconds; at batch 1\n"
          "it is compared with a call of a few milliseconds, so its share there says more about the model's size than the host.")
    print("TensorFlow: no column; the trained model exists in PyTorch and ONNX form only.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"environment": env, "settings": {"rounds": rounds, "min_seconds": min_seconds, "batch_sizes": args.batch_sizes,
                                               "models": list(MODELS[args.model])},
              "results": {str(k): v for k, v in results.items()}, "summary": rows, "verdicts": lines}
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nsaved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
