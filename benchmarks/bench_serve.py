"""`medigan serve` benchmark: requests per second under concurrent clients, and the server's overhead on a run
against `medigan generate` of the same run, measured side by side in one go.

    python benchmarks/bench_serve.py                 # 20 clients, 2000 requests, a 64-sample run of ct-head-phantom
    python benchmarks/bench_serve.py --quick         # 20 clients, 400 requests, a 16-sample run
    python benchmarks/bench_serve.py --model mammo-breast-phantom -n 128 --clients 10 --requests 1000

Needs medigan-host[serve], httpx and the phantoms plugin. Everything runs on 127.0.0.1; nothing is downloaded.
Prints a table of what was measured and the ratios; the images the server wrote are checked byte for byte against
those `medigan generate` wrote. Exits non-zero only if something failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def start_server(runs: Path, log: Path, *args: str) -> tuple[subprocess.Popen, str]:
    handle = open(log, "wb")
    process = subprocess.Popen([sys.executable, "-m", "medigan_host", "serve", "--port", "0", "--runs", str(runs), *args],
                               stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace"))
        if found:
            return process, f"http://127.0.0.1:{found.group(1)}"
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    sys.exit(f"medigan serve did not start:\n{log.read_text(errors='replace')[-2000:]}")


def load(url: str, clients: int, total: int, run_id: str) -> dict[str, float]:
    """``total`` GET requests spread over ``clients`` threads, each with its own connection: a mix of a search, a card,
    a run's state and its file list (what a page and a polling script ask for)."""
    paths = ["/api/models?q=head", "/api/models/ct-head-phantom", f"/api/runs/{run_id}", f"/api/runs/{run_id}/files"]
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    per_client = total // clients

    def client(number: int) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(per_client):
                start = time.perf_counter()
                response = http.get(paths[(number + i) % len(paths)])
                mine.append(time.perf_counter() - start)
                if response.status_code != 200:
                    with lock:
                        failures.append(f"{response.status_code} {response.text[:100]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        sys.exit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    latencies.sort()
    return {"requests": len(latencies), "seconds": wall, "per_second": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(latencies), "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))]}


def served_run(url: str, model: str, n: int, seed: int) -> tuple[float, dict]:
    """Seconds from POST /api/runs to the 'done' event, as a client sees it, and the finished run."""
    with httpx.Client(base_url=url, timeout=600) as http:
        began = time.perf_counter()
        run = http.post("/api/runs", json={"model": model, "num_samples": n, "seed": seed}).json()
        with http.stream("GET", f"/api/runs/{run['id']}/events") as events:
            for line in events.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["status"] not in ("queued", "running"):
                    break
        seconds = time.perf_counter() - began
        run = http.get(f"/api/runs/{run['id']}").json()
    if run["status"] != "done":
        sys.exit(f"the served run ended {run['status']}: {run['error']}")
    return seconds, run


def cli_run(model: str, n: int, seed: int, output: Path) -> tuple[float, dict]:
    """Wall seconds of `medigan generate --json` in a fresh process, and its summary (the engine's own seconds)."""
    medigan = shutil.which("medigan", path=str(Path(sys.executable).parent)) or shutil.which("medigan")
    command = [medigan] if medigan else [sys.executable, "-m", "medigan_host"]
    began = time.perf_counter()
    done = subprocess.run([*command, "generate", model, "-n", str(n), "--seed", str(seed), "-o", str(output), "--json"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"medigan generate failed: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("images", "masks") for p in sorted((folder / sub).glob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and a smaller run")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, help="total GET requests (default 2000, --quick 400)")
    parser.add_argument("--model", default="ct-head-phantom")
    parser.add_argument("-n", type=int, help="samples in the compared run (default 64, --quick 16)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; the median is compared")
    args = parser.parse_args()
    total = args.requests or (400 if args.quick else 2000)
    n = args.n or (16 if args.quick else 64)
    print(f"medigan serve benchmark: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; model {args.model}, {n} samples, "
          f"{args.clients} clients, {total} requests")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        process, url = start_server(root / "runs", root / "serve.log", "--max-runs", "1")
        try:
            served, engine_served, run = [], [], None
            for _ in range(args.repeat):
                seconds, run = served_run(url, args.model, n, seed=0)
                served.append(seconds)
                engine_served.append(run["result"]["seconds"])
            stats = load(url, args.clients, total, run["id"])
        finally:
            process.terminate()
            process.wait(30)
        cli, engine = [], []
        for i in range(args.repeat):
            seconds, summary = cli_run(args.model, n, 0, root / f"cli{i}")
            cli.append(seconds)
            engine.append(summary["seconds"])
        same = digests(Path(run["folder"])) == digests(root / "cli0")
    served_s, cli_s, engine_s = statistics.median(served), statistics.median(cli), statistics.median(engine)
    inside_s = statistics.median(engine_served)
    around_s = statistics.median(w - e for w, e in zip(served, engine_served, strict=True))
    rows = [
        ("requests per second (GET, 20 clients)" if args.clients == 20 else f"requests per second ({args.clients} clients)",
         f"{stats['per_second']:.0f}/s", f"{stats['requests']} in {stats['seconds']:.2f} s"),
        ("latency p50 / p95", f"{stats['p50_ms']:.1f} / {stats['p95_ms']:.1f} ms", ""),
        ("run via the API (POST to 'done' event)", f"{served_s:.3f} s", f"median of {args.repeat}"),
        ("  of which the engine, inside the server", f"{inside_s:.3f} s", "the run's own seconds"),
        ("  of which the server around it", f"{around_s:.3f} s", "HTTP, queue, state files, progress events"),
        ("`medigan generate` (fresh process)", f"{cli_s:.3f} s", f"median of {args.repeat}"),
        ("  of which the engine (--json seconds)", f"{engine_s:.3f} s", ""),
        ("served run / `medigan generate` process", f"{served_s / cli_s:.2f}x", "below 1: no process start per run"),
        ("served run / `medigan generate` engine", f"{served_s / engine_s:.2f}x", "the server's overhead on the run"),
        ("images identical to `medigan generate`", "yes" if same else "NO", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name.ljust(width)}  {value:>16}  {note}")
    if not same:
        sys.exit("the served run's files differ from medigan generate's")


if __name__ == "__main__":
    main()
