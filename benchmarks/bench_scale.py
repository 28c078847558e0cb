#!/usr/bin/env python
"""Scale benchmarks: local vs Ray throughput, driver and worker memory, ``medigan list`` vs installed plugins.

Run from the repository root, in an environment with ``medigan-host[ray]``, the phantoms, the ONNX runner and
the histology plugin installed (``pip install '.[ray]' ./plugins/medigan-plugin-phantoms
./plugins/medigan-plugin-onnx ./plugins/medigan-plugin-histology-dcgan``)::

    python benchmarks/bench_scale.py            # full run (about 15 minutes on 2 cores)
    python benchmarks/bench_scale.py --quick    # smaller, for a smoke test
    python benchmarks/bench_scale.py --json out.json

It measures, in one run, and prints side by side:

1. Throughput of ``histology-ihc-dcgan-onnx`` to PNG: the local engine, Ray with 1 worker and Ray with 2
   workers (interleaved repeats; one local Ray instance started beforehand, its start-up reported apart), and
   the scaling efficiency ``throughput(2 workers) / (2 x throughput(1 worker))``. All three runs must write
   identical files (checked).
2. Peak RSS (``VmHWM``) of the driver and of each Ray worker for a small and a 100x larger run, each in a fresh
   child process that starts its own Ray (flat is the target: memory must not grow with the run's length).
3. ``medigan list`` wall time with 1, 50 and 200 installed dummy plugins, against a bare interpreter start
   (the dummy plugins and timing helpers are those of ``bench_host.py``).

The load average is recorded beside every section: the machine may be shared. The exit status is 0 whatever
the figures are; it is non-zero only when something crashed or two engines wrote different files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_host import (
    check_listing,
    child_env,
    load_average,
    make_dummy_plugins,
    median,
    medigan_command,
    print_table,
    run_once,
)

import medigan_host

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "bench_scale.json"
MODEL = "histology-ihc-dcgan-onnx"
BATCH_SIZE = 64
FORMAT = "png"
MODES = ("local", "ray-1", "ray-2")


@dataclass
class Settings:
    """How much work each part does (``--quick`` shrinks everything)."""

    samples: int
    repeats: int
    memory_counts: tuple[int, int]
    memory_workers: int
    plugin_counts: tuple[int, ...]
    list_runs: int
    list_warmup: int


FULL = Settings(samples=2_000, repeats=3, memory_counts=(1_000, 100_000), memory_workers=2,
                plugin_counts=(1, 50, 200), list_runs=15, list_warmup=2)
QUICK = Settings(samples=256, repeats=1, memory_counts=(200, 2_000), memory_workers=2,
                 plugin_counts=(1, 50, 200), list_runs=3, list_warmup=1)


def folder_digest(folder: Path) -> str:
    """One sha256 over every sample file's path and bytes (the manifest's times differ by design)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.parent != folder:
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# -- 1. throughput --------------------------------------------------------------------------------------
def run_mode(mode: str, n: int, out: Path) -> dict[str, Any]:
    options: dict[str, Any] = {} if mode == "local" else {"engine": "ray", "workers": int(mode.split("-")[1])}
    started = time.perf_counter()
    result = medigan_host.generate(MODEL, n, out, seed=0, batch_size=BATCH_SIZE, format=FORMAT, device="cpu", **options)
    seconds = time.perf_counter() - started
    busy = max((w["seconds"] for w in result.workers), default=None)
    return {"seconds": seconds, "samples_per_s": n / seconds, "workers": result.workers,
            "writing_samples_per_s": n / busy if busy else None, "digest": folder_digest(out)}


def bench_throughput(settings: Settings) -> dict[str, Any]:
    """Interleaved repeats of the three modes on one local Ray instance."""
    import ray

    load_before = load_average()
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    ray_start = time.perf_counter() - started
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    try:
        with tempfile.TemporaryDirectory(prefix="medigan-bench-scale-") as tmp:
            medigan_host.generate(MODEL, BATCH_SIZE, Path(tmp) / "warm-up", batch_size=BATCH_SIZE, device="cpu")
            for repeat in range(settings.repeats):
                order = MODES[repeat % len(MODES):] + MODES[:repeat % len(MODES)]
                for mode in order:
                    runs[mode].append(run_mode(mode, settings.samples, Path(tmp) / f"{mode}-{repeat}"))
                    print(f"  {mode:6} repeat {repeat + 1}: {runs[mode][-1]['seconds']:.1f} s", flush=True)
    finally:
        ray.shutdown()
    digests = {run["digest"] for mode_runs in runs.values() for run in mode_runs}
    if len(digests) != 1:
        raise RuntimeError(f"the engines wrote different files: {len(digests)} different folder digests")
    medians = {mode: median([r["seconds"] for r in mode_runs]) for mode, mode_runs in runs.items()}
    per_s = {mode: settings.samples / seconds for mode, seconds in medians.items()}
    writing = {mode: median([r["writing_samples_per_s"] for r in runs[mode]]) for mode in MODES if mode != "local"}
    return {
        "model": MODEL, "samples": settings.samples, "batch_size": BATCH_SIZE, "format": FORMAT,
        "repeats": settings.repeats, "ray_start_s": ray_start, "median_s": medians, "samples_per_s": per_s,
        "ratio_vs_local": {mode: per_s[mode] / per_s["local"] for mode in MODES},
        "scaling_efficiency": per_s["ray-2"] / (2 * per_s["ray-1"]),
        "writing_samples_per_s": writing,
        "writing_scaling_efficiency": writing["ray-2"] / (2 * writing["ray-1"]),
        "identical_files": True, "runs": runs,
        "load_average_before": load_before, "load_average_after": load_average(),
    }


# -- 2. memory ------------------------------------------------------------------------------------------
MEMORY_CHILD = '''
import json, sys, time
import medigan_host
from medigan_host.generation.distributed import peak_rss_mib

n, out, workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
result = medigan_host.generate({model!r}, n, out, seed=0, batch_size={batch}, format={fmt!r}, device="cpu",
                               engine="ray", workers=workers)
print(json.dumps({{"n": n, "generated": result.generated, "seconds": time.perf_counter() - started,
                  "driver_peak_mib": peak_rss_mib(), "workers": result.workers}}))
'''


def bench_memory(settings: Settings) -> dict[str, Any]:
    """Driver and worker peaks for the small and the large count, each in a fresh child that starts Ray."""
    runs: dict[str, Any] = {}
    load_before = load_average()
    for n in settings.memory_counts:
        with tempfile.TemporaryDirectory(prefix="medigan-bench-scale-mem-") as tmp:
            code = MEMORY_CHILD.format(model=MODEL, batch=BATCH_SIZE, fmt=FORMAT)
            done = subprocess.run([sys.executable, "-c", code, str(n), str(Path(tmp) / "out"), str(settings.memory_workers)],
                                  env=child_env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"memory child for n={n} failed ({done.returncode}): {done.stderr[-2000:]}")
        runs[str(n)] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {n} samples: {runs[str(n)]['seconds']:.1f} s", flush=True)
    small, large = (runs[str(n)] for n in settings.memory_counts)

    def worker_peak(run: dict[str, Any]) -> float:
        return max(w["peak_rss_mib"] for w in run["workers"])

    return {"model": MODEL, "format": FORMAT, "batch_size": BATCH_SIZE, "workers": settings.memory_workers,
            "counts": list(settings.memory_counts), "runs": runs,
            "driver_ratio": large["driver_peak_mib"] / small["driver_peak_mib"],
            "worker_ratio": worker_peak(large) / worker_peak(small),
            "load_average_before": load_before, "load_average_after": load_average()}


# -- 3. listing vs plugins --------------------------------------------------------------------------------
def bench_listing(settings: Settings) -> dict[str, Any]:
    """Median wall times of a bare start and ``medigan list`` with each count of dummy plugins, interleaved."""
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="medigan-bench-scale-plugins-") as tmp:
        pycache = Path(tmp) / "pycache"
        medigan = medigan_command()
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "bare_start": ([sys.executable, "-c", "import importlib.metadata"], child_env(pycache=pycache))}
        models = {}
        for count in settings.plugin_counts:
            env = child_env(make_dummy_plugins(Path(tmp) / f"p{count}", count), pycache)
            commands[f"list_{count}"] = ([*medigan, "list"], env)
            models[count] = check_listing([*medigan, "list"], env, count)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(settings.list_warmup + settings.list_runs):
            for name in (list(commands) if i % 2 == 0 else list(reversed(commands))):
                elapsed = run_once(*commands[name])
                if i >= settings.list_warmup:
                    times[name].append(elapsed)
    medians = {name: median(values) for name, values in times.items()}
    first, last = settings.plugin_counts[0], settings.plugin_counts[-1]
    return {"runs": settings.list_runs, "models_listed": models, "median_s": medians, "times_s": times,
            "ratio_vs_bare": {name: medians[name] / medians["bare_start"] for name in medians},
            "per_extra_plugin_ms": (medians[f"list_{last}"] - medians[f"list_{first}"]) / (last - first) * 1000,
            "load_average_before": load_before, "load_average_after": load_average()}


# -- reporting ------------------------------------------------------------------------------------------
def print_throughput(t: dict[str, Any]) -> None:
    print(f"\n1. Throughput, {t['model']}, {t['samples']} samples to {t['format']}, batch {t['batch_size']}, "
          f"median of {t['repeats']} (Ray start-up {t['ray_start_s']:.1f} s, not included)")
    rows = [[mode, f"{t['median_s'][mode]:.2f} s", f"{t['samples_per_s'][mode]:.0f}", f"{t['ratio_vs_local'][mode]:.2f}x",
             "" if mode == "local" else f"{t['writing_samples_per_s'][mode]:.0f}"] for mode in MODES]
    print_table(rows, ["engine", "wall time", "samples/s", "vs local", "samples/s while writing"])
    print(f"scaling efficiency 1 -> 2 workers: {t['scaling_efficiency']:.2f} end to end, "
          f"{t['writing_scaling_efficiency']:.2f} while writing; identical files: {t['identical_files']}; "
          f"load average {t['load_average_before']} -> {t['load_average_after']}")


def print_memory(m: dict[str, Any]) -> None:
    small, large = (m["runs"][str(n)] for n in m["counts"])
    print(f"\n2. Peak RSS (VmHWM), Ray with {m['workers']} workers, {m['model']} to {m['format']}")
    rows = [[f"{run['n']:,}", f"{run['seconds']:.1f} s", f"{run['driver_peak_mib']:.1f} MiB",
             ", ".join(f"{w['peak_rss_mib']:.1f}" for w in run["workers"]) + " MiB"] for run in (small, large)]
    rows.append(["ratio", "", f"{m['driver_ratio']:.3f}x", f"{m['worker_ratio']:.3f}x (largest worker)"])
    print_table(rows, ["samples", "time", "driver peak", "worker peaks"])
    print(f"load average {m['load_average_before']} -> {m['load_average_after']}")


def print_listing(listing: dict[str, Any]) -> None:
    print(f"\n3. `medigan list` wall time, median of {listing['runs']} interleaved runs")
    rows = [[name.replace("list_", "+") + (" plugins" if name != "bare_start" else ""), f"{seconds * 1000:.1f} ms",
             f"{listing['ratio_vs_bare'][name]:.2f}x"] for name, seconds in listing["median_s"].items()]
    print_table(rows, ["what", "median", "vs bare start"])
    print(f"cost per extra plugin: {listing['per_extra_plugin_ms']:.2f} ms; load average "
          f"{listing['load_average_before']} -> {listing['load_average_after']}")


def environment() -> dict[str, Any]:
    import ray

    return {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "medigan_host": medigan_host.__version__,
            "ray": ray.__version__, "load_average_at_start": load_average()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to save the results (default {DEFAULT_JSON})")
    parser.add_argument("--skip", action="append", default=[], choices=["throughput", "memory", "listing"],
                        help="leave a part out (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    report: dict[str, Any] = {"environment": environment(), "settings": asdict(settings), "quick": args.quick}
    print(f"medigan scale benchmark ({'quick' if args.quick else 'full'}), load average {load_average()}", flush=True)
    parts = (("throughput", bench_throughput, print_throughput), ("memory", bench_memory, print_memory),
             ("listing", bench_listing, print_listing))
    for name, bench, _ in parts:
        if name not in args.skip:
            print(f"\n{name} …", flush=True)
            report[name] = bench(settings)
    for name, _, show in parts:
        if name in report:
            show(report[name])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nsaved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
