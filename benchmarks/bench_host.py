#!/usr/bin/env python
"""Benchmarks of the medigan host: listing latency, generation overhead, peak memory.

Run from the repository root, in an environment where ``medigan_host`` and the phantoms plugin are
installed::

    python benchmarks/bench_host.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_host.py --quick    # smaller, for a smoke test
    python benchmarks/bench_host.py --json out.json

It measures, in one run:

1. ``medigan list`` wall time with the installed plugins + 1 dummy plugin and + 50 dummy plugins,
   against a bare ``python -c "import importlib.metadata"`` (target: 50 plugins <= 2.0x bare start).
2. The host's overhead when generating in memory, against calling the plugin's generator directly
   on the same batches and seeds (target: <= 5 %), plus PNG-writing throughput (information only).
3. The peak RSS of generating N vs 10 N samples to PNG, each in its own fresh child process
   (target: 10 N within 10 % of N).

Only the standard library, numpy and medigan_host are used. The exit status is 0 whatever the
targets say; it is non-zero only when something crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import medigan_host
from medigan_host.seeding import sample_seeds

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "bench_host.json"
LIST_TARGET_RATIO = 2.0  # medigan list with 50 extra plugins vs a bare interpreter start
OVERHEAD_TARGET_PCT = 5.0  # host generate() vs the generator called directly
MEMORY_TARGET_RATIO = 1.10  # peak RSS of 10 N samples vs N samples
OVERHEAD_MODELS = ("ct-head-phantom", "mammo-breast-phantom")
MEMORY_MODEL = "ct-head-phantom"
BATCH_SIZE = 16


@dataclass
class Settings:
    """How much work each benchmark does (``--quick`` shrinks everything)."""

    list_runs: int
    list_warmup: int
    gen_samples: int
    gen_repeats: int
    png_samples: int
    png_repeats: int
    memory_counts: tuple[int, int]


FULL = Settings(list_runs=21, list_warmup=2, gen_samples=256, gen_repeats=9, png_samples=256, png_repeats=3,
                memory_counts=(1_000, 10_000))
QUICK = Settings(list_runs=7, list_warmup=1, gen_samples=64, gen_repeats=3, png_samples=64, png_repeats=2,
                 memory_counts=(200, 2_000))


@dataclass
class Check:
    """One row of the summary table."""

    metric: str
    measured: str
    target: str
    ratio: float | None
    passed: bool | None  # None: information only

    @property
    def verdict(self) -> str:
        return "info" if self.passed is None else ("PASS" if self.passed else "FAIL")


@dataclass
class Report:
    """Everything measured, as saved to JSON."""

    environment: dict[str, Any]
    settings: dict[str, Any]
    listing: dict[str, Any] = field(default_factory=dict)
    overhead: dict[str, Any] = field(default_factory=dict)
    png: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    summary: list[dict[str, Any]] = field(default_factory=list)


# -- helpers ------------------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """Print an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def child_env(extra_path: Path | None = None, pycache: Path | None = None) -> dict[str, str]:
    """The environment for child processes: all plugins enabled, ``extra_path`` first on PYTHONPATH.

    With ``pycache``, bytecode is cached under that folder (``PYTHONPYCACHEPREFIX``) even where the caller
    sets ``PYTHONDONTWRITEBYTECODE``: start-up is then timed as in a normal installation, where pip has
    compiled every module, and nothing is written into the source tree.
    """
    env = dict(os.environ)
    for name in ("MEDIGAN_PLUGINS", "PYTHONPROFILEIMPORTTIME", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"):
        env.pop(name, None)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH", "")) if p)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def environment() -> dict[str, Any]:
    """Where the numbers come from."""
    return {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "numpy": np.__version__,
        "medigan_host": medigan_host.__version__,
        "load_average_at_start": load_average(),
    }


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine makes every figure noisier."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# -- 1. listing latency -------------------------------------------------------------------------------
DUMMY_MODULE = '''\
"""Benchmark dummy plugin {k}: registers one model card; its loader is never called by the benchmark."""

import medigan_host

CARD = {{
    "id": "bench-dummy-{k}",
    "name": "Benchmark dummy {k}",
    "version": "0.1.0",
    "description": "A dummy model registered by the medigan host benchmark.",
    "framework": "numpy",
    "modality": "ct",
    "image_size": [64, 64],
    "channels": 1,
    "license": "MIT",
}}


@medigan_host.hookimpl
def medigan_register_models(register):
    register(CARD, "medigan_bench_dummy_{k}:load")


class _Zeros:
    def generate(self, seeds, condition=None, inputs=None):
        import numpy as np

        return {{"images": np.zeros((len(seeds), 64, 64, 1), np.uint8)}}


def load(card, device):
    return _Zeros()
'''


def make_dummy_plugins(root: Path, count: int) -> Path:
    """Create ``count`` installed-looking plugins (module + dist-info with an entry point) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        name = f"medigan_bench_dummy_{k}"
        (root / f"{name}.py").write_text(DUMMY_MODULE.format(k=k), encoding="utf-8")
        info = root / f"{name}-0.1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(f"[medigan.plugins]\ndummy_{k} = {name}\n", encoding="utf-8")
    return root


def medigan_command() -> list[str]:
    """The installed ``medigan`` console script next to this interpreter, else ``python -m medigan_host.cli``."""
    bindir = Path(sys.executable).parent
    for name in ("medigan", "medigan.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [sys.executable, "-m", "medigan_host.cli"]


def run_once(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run of ``command``; raise if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited with {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def check_listing(command: list[str], env: dict[str, str], expected: int) -> int:
    """Run ``medigan list --json`` once; check the dummies are all there and nothing warned. Return model count."""
    done = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, check=True)
    ids = {m["id"] for m in json.loads(done.stdout)}
    missing = [k for k in range(expected) if f"bench-dummy-{k}" not in ids]
    if missing or done.stderr.strip():
        raise RuntimeError(f"dummy plugins not listed as expected: missing {missing[:5]}, stderr {done.stderr[-500:]!r}")
    return len(ids)


def bench_listing(settings: Settings) -> dict[str, Any]:
    """Median wall times of bare start, ``medigan list`` + 1 dummy and + 50 dummies, interleaved."""
    with tempfile.TemporaryDirectory(prefix="medigan-bench-plugins-") as tmp:
        one = make_dummy_plugins(Path(tmp) / "one", 1)
        fifty = make_dummy_plugins(Path(tmp) / "fifty", 50)
        pycache = Path(tmp) / "pycache"
        medigan = medigan_command()
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "bare_start": ([sys.executable, "-c", "import importlib.metadata"], child_env(pycache=pycache)),
            "list_1_dummy": ([*medigan, "list"], child_env(one, pycache)),
            "list_50_dummies": ([*medigan, "list"], child_env(fifty, pycache)),
        }
        models = {"list_1_dummy": check_listing(commands["list_1_dummy"][0], commands["list_1_dummy"][1], 1),
                  "list_50_dummies": check_listing(commands["list_50_dummies"][0], commands["list_50_dummies"][1], 50)}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(settings.list_warmup + settings.list_runs):
            order = list(commands) if i % 2 == 0 else list(reversed(commands))
            for name in order:
                elapsed = run_once(*commands[name])
                if i >= settings.list_warmup:
                    times[name].append(elapsed)
    medians = {name: median(values) for name, values in times.items()}
    return {
        "command": medigan,
        "bytecode": "cached under a temporary PYTHONPYCACHEPREFIX (warm-up runs fill it)",
        "runs": settings.list_runs,
        "warmup_runs": settings.list_warmup,
        "models_listed": models,
        "median_s": medians,
        "min_s": {name: min(values) for name, values in times.items()},
        "times_s": times,
        "ratio_1_vs_bare": medians["list_1_dummy"] / medians["bare_start"],
        "ratio_50_vs_bare": medians["list_50_dummies"] / medians["bare_start"],
        "per_extra_plugin_ms": (medians["list_50_dummies"] - medians["list_1_dummy"]) / 49 * 1000,
    }


# -- 2. host overhead of generation -------------------------------------------------------------------
def host_in_memory(model: str, n: int) -> Callable[[], int]:
    """Generate ``n`` samples through ``medigan_host.generate`` without an output folder."""
    def run() -> int:
        count = 0
        for samples in medigan_host.generate(model, n, None, seed=0, batch_size=BATCH_SIZE, device="cpu"):
            count += len(samples)
        return count
    return run


def direct(model: str, n: int) -> Callable[[], int]:
    """Call the plugin's generator on the same batches and per-sample seeds as the host."""
    generator = medigan_host.load_model(model, "cpu").generator
    chunks = [list(range(start, min(start + BATCH_SIZE, n))) for start in range(0, n, BATCH_SIZE)]

    def run() -> int:
        count = 0
        for chunk in chunks:
            out = generator.generate(sample_seeds(0, chunk), condition=None, inputs=None)
            count += len(out["images"] if isinstance(out, dict) else out.images)
        return count
    return run


def check_same_output(model: str) -> None:
    """The host and the direct call must produce identical first batches (same work is timed)."""
    host_batch = next(iter(medigan_host.generate(model, BATCH_SIZE, None, seed=0, batch_size=BATCH_SIZE, device="cpu")))
    raw = medigan_host.load_model(model, "cpu").generator.generate(sample_seeds(0, range(BATCH_SIZE)), condition=None,
                                                                   inputs=None)
    images = raw["images"] if isinstance(raw, dict) else raw.images
    if not np.array_equal(host_batch.images, images):
        raise RuntimeError(f"{model}: host and direct generation differ; the comparison would be meaningless")


def spread_pct(values: Sequence[float]) -> float:
    """Run-to-run spread, (max - min) / median, in %: an overhead smaller than this is within the noise."""
    return (max(values) - min(values)) / median(values) * 100


def timed(run: Callable[[], int], expected: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call of ``run``."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if count != expected:
        raise RuntimeError(f"generated {count} samples, expected {expected}")
    return wall, cpu


def bench_overhead(model: str, settings: Settings) -> dict[str, Any]:
    """Alternate host and direct generation of the same samples; compare median wall (and CPU) times."""
    n = settings.gen_samples
    check_same_output(model)
    runs = {"host": host_in_memory(model, n), "direct": direct(model, n)}
    for run in runs.values():  # warm-up: imports, caches, allocator
        timed(run, n)
    times: dict[str, list[float]] = {"host": [], "direct": []}
    cpu: dict[str, list[float]] = {"host": [], "direct": []}
    for i in range(settings.gen_repeats):
        for name in (("host", "direct") if i % 2 == 0 else ("direct", "host")):
            wall, used = timed(runs[name], n)
            times[name].append(wall)
            cpu[name].append(used)
    host, plain = median(times["host"]), median(times["direct"])
    paired = [h / d - 1 for h, d in zip(times["host"], times["direct"], strict=True)]
    return {
        "samples": n,
        "batch_size": BATCH_SIZE,
        "repeats": settings.gen_repeats,
        "median_s": {"host": host, "direct": plain},
        "times_s": times,
        "cpu_times_s": cpu,
        "overhead_pct": (host / plain - 1) * 100,
        "paired_median_overhead_pct": median(paired) * 100,
        "cpu_overhead_pct": (median(cpu["host"]) / median(cpu["direct"]) - 1) * 100,
        "min_overhead_pct": (min(times["host"]) / min(times["direct"]) - 1) * 100,
        "direct_spread_pct": spread_pct(times["direct"]),
        "host_cost": bench_host_cost(model, settings, plain),
        "host_samples_per_s": n / host,
        "direct_samples_per_s": n / plain,
    }


class _Replay:
    """A generator that returns a batch generated beforehand: timing the host with it leaves only the host's cost."""

    def __init__(self, images: np.ndarray, masks: np.ndarray | None) -> None:
        self.images, self.masks = images, masks

    def generate(self, seeds: Sequence[int], condition: Any = None, inputs: Any = None) -> dict[str, Any]:
        n = len(seeds)
        return {"images": self.images[:n], **({"masks": self.masks[:n]} if self.masks is not None else {})}


class _ReplayPlugin:
    """Registers a copy of ``model``'s card whose loader returns a :class:`_Replay` of one real batch."""

    def __init__(self, model: str) -> None:
        self.card = {**medigan_host.get_card(model).to_dict(), "id": f"bench-replay-{model}"}
        samples = next(iter(medigan_host.generate(model, BATCH_SIZE, None, seed=0, batch_size=BATCH_SIZE, device="cpu")))
        self.generator = _Replay(samples.images, samples.masks)

    @medigan_host.hookimpl
    def medigan_register_models(self, register: Callable[[Any, Any], None]) -> None:
        register(self.card, lambda card, device: self.generator)


def bench_host_cost(model: str, settings: Settings, direct_s: float) -> dict[str, Any]:
    """The host's own cost for one ``generate`` call of ``gen_samples`` samples, measured without generation work.

    Host and direct calls are timed with a generator that replays one real batch of ``model`` (so the
    host checks real arrays); their difference, plus loading the real model (which the host does on every
    ``generate`` call), is the host's cost. Far less noisy than comparing two multi-second runs.
    """
    n, repeats = settings.gen_samples, settings.gen_repeats * 5
    plugin = _ReplayPlugin(model)
    name = medigan_host.register_plugin(plugin, name=f"bench-replay-{model}")
    try:
        runs = {"host": host_in_memory(plugin.card["id"], n), "direct": direct(plugin.card["id"], n)}
        for run in runs.values():
            timed(run, n)
        times: dict[str, list[float]] = {"host": [], "direct": []}
        for i in range(repeats):
            for key in (("host", "direct") if i % 2 == 0 else ("direct", "host")):
                times[key].append(timed(runs[key], n)[0])
    finally:
        medigan_host.unregister_plugin(name)
    loads = []
    for _ in range(repeats):
        started = time.perf_counter()
        medigan_host.load_model(model, "cpu")
        loads.append(time.perf_counter() - started)
    batches = -(-n // BATCH_SIZE)
    per_call = median(times["host"]) - median(times["direct"]) + median(loads)
    return {"repeats": repeats, "replay_median_s": {k: median(v) for k, v in times.items()},
            "load_model_median_s": median(loads), "host_cost_s": per_call, "host_cost_per_batch_s": per_call / batches,
            "estimated_overhead_pct": per_call / direct_s * 100}


def bench_png(model: str, settings: Settings) -> dict[str, Any]:
    """Throughput of ``generate`` writing PNG images and masks plus the manifest (information only), with the
    fsyncs that make a run survive a power cut (the default) and without them (``MEDIGAN_FSYNC=0``), interleaved."""
    from medigan_host.atomic import FSYNC_ENV

    n = settings.png_samples
    times: dict[str, list[float]] = {"fsync": [], "no_fsync": []}
    previous = os.environ.get(FSYNC_ENV)
    with tempfile.TemporaryDirectory(prefix="medigan-bench-png-") as tmp:
        try:
            for i in range(settings.png_repeats):
                for mode in (("fsync", "no_fsync") if i % 2 == 0 else ("no_fsync", "fsync")):
                    os.environ[FSYNC_ENV] = "1" if mode == "fsync" else "0"
                    folder = Path(tmp) / f"run{i}-{mode}"
                    result = medigan_host.generate(model, n, folder, seed=0, batch_size=BATCH_SIZE, format="png", device="cpu")
                    if result.generated != n:
                        raise RuntimeError(f"{model}: wrote {result.generated} samples, expected {n}")
                    times[mode].append(result.seconds)
                    files = sum(1 for _ in folder.rglob("*.png"))
        finally:
            if previous is None:
                os.environ.pop(FSYNC_ENV, None)
            else:
                os.environ[FSYNC_ENV] = previous
    seconds = median(times["fsync"])
    unsynced = median(times["no_fsync"])
    return {"samples": n, "repeats": settings.png_repeats, "median_s": seconds, "times_s": times["fsync"],
            "png_files_per_run": files, "samples_per_s": n / seconds, "files_per_s": files / seconds,
            "no_fsync_median_s": unsynced, "no_fsync_times_s": times["no_fsync"], "fsync_cost_ratio": seconds / unsynced}


# -- 3. peak memory -----------------------------------------------------------------------------------
MEMORY_CHILD = textwrap.dedent('''
    import json, resource, sys, time
    import medigan_host

    def status(field):
        """A size from /proc/self/status in bytes (Linux only; None elsewhere)."""
        try:
            with open("/proc/self/status") as handle:
                line = next(l for l in handle if l.startswith(field + ":"))
            return int(line.split()[1]) * 1024
        except (OSError, StopIteration, ValueError):
            return None

    def snapshot():
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
        return {"ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
                "vm_hwm": status("VmHWM"), "vm_rss": status("VmRSS")}

    model, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    medigan_host.load_model(model, "cpu")  # import the plugin and build the generator once
    before = snapshot()
    started = time.perf_counter()
    result = medigan_host.generate(model, n, out, seed=0, batch_size=16, format="png", device="cpu")
    seconds = time.perf_counter() - started
    print(json.dumps({"n": n, "generated": result.generated, "seconds": seconds, "after_load": before,
                      "after_run": snapshot()}))
''')


def peak_rss(model: str, n: int, out: Path) -> dict[str, Any]:
    """Memory figures of a fresh child generating ``n`` samples to PNG; the child spawns nothing.

    The peak is the child's ``VmHWM`` (Linux), falling back to its ``ru_maxrss``. On Linux a child's
    ``RUSAGE_SELF.ru_maxrss`` starts at the *parent's* peak RSS, because the kernel carries the high-water
    mark of the address space replaced by ``execve`` over (with ``vfork`` that is the parent's), so it
    would report this benchmark process's peak, not the child's. ``VmHWM`` belongs to the new address
    space only. Both are saved.
    """
    done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, model, str(n), str(out)], env=child_env(),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"memory child for n={n} failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["generated"] != n:
        raise RuntimeError(f"memory child wrote {result['generated']} samples, expected {n}")
    source = "vm_hwm" if result["after_run"]["vm_hwm"] is not None else "ru_maxrss"
    result["peak_source"] = source
    result["peak_bytes"] = result["after_run"][source]
    return result


def bench_memory(settings: Settings) -> dict[str, Any]:
    """Peak RSS for the small and the large count, each in its own child and output folder."""
    small, large = settings.memory_counts
    runs = {}
    for n in (small, large):
        with tempfile.TemporaryDirectory(prefix="medigan-bench-mem-") as tmp:
            runs[str(n)] = peak_rss(MEMORY_MODEL, n, Path(tmp) / "out")
    peak_small, peak_large = runs[str(small)]["peak_bytes"], runs[str(large)]["peak_bytes"]
    return {"model": MEMORY_MODEL, "batch_size": BATCH_SIZE, "format": "png", "counts": [small, large], "runs": runs,
            "peak_source": runs[str(large)]["peak_source"],
            "ratio_large_vs_small": peak_large / peak_small, "growth_bytes": peak_large - peak_small,
            "parent_ru_maxrss_bytes": own_ru_maxrss()}


def own_ru_maxrss() -> int:
    """This process's ``ru_maxrss`` in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


# -- reporting ----------------------------------------------------------------------------------------
def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def print_listing(listing: dict[str, Any]) -> None:
    print(f"\n1. Listing latency (median of {listing['runs']} interleaved runs; command: {' '.join(listing['command'])} list)")
    med, low = listing["median_s"], listing["min_s"]
    bare = med["bare_start"]
    rows = [(name, f"{med[name] * 1000:.1f}", f"{low[name] * 1000:.1f}", f"{med[name] / bare:.2f}x",
             listing["models_listed"].get(name, "-")) for name in med]
    print_table(rows, ["command", "median ms", "min ms", "vs bare", "models listed"])
    print(f"cost per extra plugin: {listing['per_extra_plugin_ms']:.2f} ms")


def print_overhead(overhead: dict[str, Any], png: dict[str, Any]) -> None:
    first = next(iter(overhead.values()))
    print(f"\n2. Host overhead, {first['samples']} samples at batch size {first['batch_size']} "
          f"(median of {first['repeats']} alternating repeats)")
    rows = [(model, f"{r['median_s']['host']:.3f}", f"{r['median_s']['direct']:.3f}", f"{r['overhead_pct']:+.2f} %",
             f"{r['paired_median_overhead_pct']:+.2f} %", f"{r['min_overhead_pct']:+.2f} %", f"{r['cpu_overhead_pct']:+.2f} %",
             f"{r['direct_spread_pct']:.1f} %", f"{r['host_samples_per_s']:.0f}") for model, r in overhead.items()]
    print_table(rows, ["model", "host s", "direct s", "overhead", "paired", "of minima", "of CPU time", "direct spread",
                       "host samples/s"])
    print("   overhead = median host / median direct - 1 (the target); paired = median of per-repeat ratios;\n"
          "   of minima = fastest host / fastest direct; of CPU time = medians of this process's CPU time;\n"
          "   direct spread = (slowest - fastest) / median of the direct runs: differences below it are noise")
    print("\n   Host's own cost, timed with a generator that replays one real batch (no generation work)")
    rows = [(model, f"{r['host_cost']['host_cost_s'] * 1000:.2f}", f"{r['host_cost']['host_cost_per_batch_s'] * 1e6:.0f}",
             f"{r['host_cost']['load_model_median_s'] * 1000:.2f}", f"{r['host_cost']['estimated_overhead_pct']:.3f} %")
            for model, r in overhead.items()]
    print_table(rows, ["model", "host ms per call", "us per batch", "of which load ms", "of generation time"])
    print("\n   Writing PNG (image + mask + manifest) through the host, information only; fsync = the default "
          "(each file, each folder once per batch), no fsync = MEDIGAN_FSYNC=0")
    rows = [(model, r["samples"], f"{r['median_s']:.3f}", f"{r['no_fsync_median_s']:.3f}", f"{r['fsync_cost_ratio']:.2f}x",
             f"{r['samples_per_s']:.0f}", f"{r['files_per_s']:.0f}") for model, r in png.items()]
    print_table(rows, ["model", "samples", "fsync s", "no fsync s", "fsync / no fsync", "samples/s", "PNG files/s"])


def print_memory(memory: dict[str, Any]) -> None:
    print(f"\n3. Memory generating {memory['model']} to PNG (batch size {memory['batch_size']}), one fresh child each")
    rows = []
    for n, r in memory["runs"].items():
        load, run = r["after_load"], r["after_run"]
        rows.append((n, mib(r["peak_bytes"]), opt_mib(load["vm_hwm"]), opt_mib(load["vm_rss"]), opt_mib(run["vm_rss"]),
                     mib(run["ru_maxrss"]), f"{r['seconds']:.1f}"))
    print_table(rows, ["samples", f"peak ({memory['peak_source']})", "peak after load", "RSS after load",
                       "RSS after run", "child ru_maxrss*", "seconds"])
    print(f"* inherits the parent's peak on Linux (this process: {mib(memory['parent_ru_maxrss_bytes'])}); not used")


def opt_mib(n_bytes: int | None) -> str:
    return "n/a" if n_bytes is None else mib(n_bytes)


def summarise(report: Report) -> list[Check]:
    """The target checks and information rows of the summary table."""
    listing, memory = report.listing, report.memory
    checks = [
        Check("medigan list, +1 plugin vs bare start", f"{listing['median_s']['list_1_dummy'] * 1000:.0f} ms vs "
              f"{listing['median_s']['bare_start'] * 1000:.0f} ms", "-", listing["ratio_1_vs_bare"], None),
        Check("medigan list, +50 plugins vs bare start", f"{listing['median_s']['list_50_dummies'] * 1000:.0f} ms vs "
              f"{listing['median_s']['bare_start'] * 1000:.0f} ms", f"<= {LIST_TARGET_RATIO:.1f}x",
              listing["ratio_50_vs_bare"], listing["ratio_50_vs_bare"] <= LIST_TARGET_RATIO),
    ]
    for model, r in report.overhead.items():
        checks.append(Check(f"host overhead, {model}",
                            f"{r['overhead_pct']:+.2f} % (spread {r['direct_spread_pct']:.0f} %)", f"<= {OVERHEAD_TARGET_PCT:.0f} %",
                            r["median_s"]["host"] / r["median_s"]["direct"], r["overhead_pct"] <= OVERHEAD_TARGET_PCT))
    for model, r in report.overhead.items():
        cost = r["host_cost"]
        checks.append(Check(f"host own cost, {model} (replay)", f"{cost['host_cost_s'] * 1000:.1f} ms per "
                            f"{r['samples']} samples = {cost['estimated_overhead_pct']:.2f} %", "-", None, None))
    for model, r in report.png.items():
        checks.append(Check(f"PNG throughput, {model}", f"{r['samples_per_s']:.0f} samples/s", "-", None, None))
        checks.append(Check(f"fsync cost, {model}", f"{r['median_s']:.3f} s vs {r['no_fsync_median_s']:.3f} s without",
                            "-", r["fsync_cost_ratio"], None))
    small, large = memory["counts"]
    runs = memory["runs"]
    checks.append(Check(f"peak RSS, {large} vs {small} samples",
                        f"{mib(runs[str(large)]['peak_bytes'])} vs {mib(runs[str(small)]['peak_bytes'])}",
                        f"<= {MEMORY_TARGET_RATIO:.2f}x", memory["ratio_large_vs_small"],
                        memory["ratio_large_vs_small"] <= MEMORY_TARGET_RATIO))
    end_small, end_large = runs[str(small)]["after_run"]["vm_rss"], runs[str(large)]["after_run"]["vm_rss"]
    if end_small and end_large:
        checks.append(Check(f"RSS at end, {large} vs {small} samples", f"{mib(end_large)} vs {mib(end_small)}", "-",
                            end_large / end_small, None))
    return checks


def print_summary(checks: Sequence[Check]) -> None:
    print("\nSummary")
    rows = [(c.metric, c.measured, c.target, "-" if c.ratio is None else f"{c.ratio:.3f}", c.verdict) for c in checks]
    print_table(rows, ["metric", "measured", "target", "ratio", "result"])


# -- main ---------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and samples (a smoke test, noisier)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to save the results (default {DEFAULT_JSON})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    os.environ.pop("MEDIGAN_PLUGINS", None)  # this process lists the installed plugins too
    medigan_host.reset_host()
    report = Report(environment=environment(), settings={"quick": args.quick, **asdict(settings)})
    env = report.environment
    print(f"medigan host benchmark ({'quick' if args.quick else 'full'}), {env['date_utc']}, {env['platform']}, "
          f"{env['cpu_count']} CPUs, Python {env['python']}, numpy {env['numpy']}, load average {env['load_average_at_start']}")

    report.listing = bench_listing(settings)
    print_listing(report.listing)
    report.overhead = {model: bench_overhead(model, settings) for model in OVERHEAD_MODELS}
    report.png = {model: bench_png(model, settings) for model in OVERHEAD_MODELS}
    print_overhead(report.overhead, report.png)
    report.memory = bench_memory(settings)
    print_memory(report.memory)

    report.environment["load_average_at_end"] = load_average()
    checks = summarise(report)
    report.summary = [{**asdict(c), "result": c.verdict} for c in checks]
    print_summary(checks)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    print(f"\nload average at start {env['load_average_at_start']}, at end {env['load_average_at_end']} "
          f"({env['cpu_count']} CPUs); results saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
