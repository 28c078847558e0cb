#!/usr/bin/env python
"""Environment figures of the original models: build time and disk of each `medigan env create`, and the matrix.

Run from the repository root, with medigan_host and medigan-plugin-original installed::

    python benchmarks/bench_envs.py                          # the 23 original models, in catalogue order
    python benchmarks/bench_envs.py --models 00017,00018,00001   # a few (the first one fills the shared cache)
    python benchmarks/bench_envs.py --write-docs docs/original-models.md   # also write the matrix there
    python benchmarks/bench_envs.py --models 00005,00006,00017 --generate    # then generate with each, end to end

Every environment is built with the default installer (uv, one shared uv cache, hard links) into a fresh cache
folder (``--cache``, default: a temporary folder removed at the end, so the first build starts from an empty uv
cache). Package sources are the installers' own settings: on a machine whose CPU torch is a local wheel, run with
``UV_FIND_LINKS=<folder of wheels>`` (or ``PIP_FIND_LINKS``).

For each model it prints the build time (venv, install, import check), the disk it added (``du`` over the whole
cache folder, uv cache included, counting hard-linked files once), and whether every module its card lists imports.
Then the targets: environments after the first that share torch build in at most 30 s and add at most 100 MB each;
the whole catalogue builds in at most 15 minutes and 6 GB. The exit status is 0 whatever the targets say, 1 when an
environment failed to build.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START, END = "<!-- env-matrix:start -->", "<!-- env-matrix:end -->"
SECOND_TIME, SECOND_DISK = 30.0, 100 * 2**20
TOTAL_TIME, TOTAL_DISK = 15 * 60.0, 6 * 2**30


def disk(folder: Path) -> int:
    """Bytes under ``folder``, hard-linked files counted once (GNU du's default within one invocation)."""
    if not folder.exists():
        return 0
    out = subprocess.run(["du", "-s", "-B1", str(folder)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def build(models: list[str], cache: Path) -> list[dict]:
    os.environ["MEDIGAN_CACHE_DIR"] = str(cache)
    from medigan_host.environments import EnvironmentBrokenError, create_env, env_card
    from medigan_host.errors import MediganError

    rows, before = [], disk(cache)
    for model in models:
        card = env_card(model)
        started = time.monotonic()
        status, errors = "ok", {}
        try:
            create_env(card, force=True)
        except EnvironmentBrokenError as exc:
            status, errors = "broken", {"error": str(exc)}
        except MediganError as exc:
            status, errors = "failed", {"error": str(exc)}
        seconds = time.monotonic() - started
        after = disk(cache)
        spec = card.extra["environment"]
        from medigan_host.environments import _marker, env_dir

        check = _marker(env_dir(card)).get("check", {})
        imported = len(spec.get("imports", [])) - len(check.get("errors", {})) if check else 0
        torch = any(r.startswith("torch==") for r in spec["requirements"])
        row = {"model": card.upstream_id or card.id, "card": card.id, "python": spec.get("python", "-"),
               "seconds": seconds, "added": after - before, "imports": f"{imported}/{len(spec.get('imports', []))}",
               "status": status, "torch": torch, "errors": errors or check.get("errors", {})}
        before = after
        rows.append(row)
        print(f"{row['model']:<40} {seconds:7.1f} s {mib(row['added']):>10}  imports {row['imports']:<6} {status}",
              flush=True)
        if status != "ok":
            print(f"    {errors or check.get('errors')}", flush=True)
    return rows


def generate_each(rows: list[dict], cache: Path) -> None:
    """``medigan generate`` of each built model, its record served on 127.0.0.1 by a Zenodo-compatible server with a
    stand-in package in the original layout (the original template's code for 00005/00006, whose twins are native)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "medigan-plugin-original" / "tests"))
    from fakes import package_zip, record_of, template_zip

    from medigan_host import get_card
    from medigan_host.devkit.weights_server import RecordServer

    cards = [get_card(r["card"]) for r in rows if r["status"] == "ok"]
    records = {}
    for card in cards:
        record, name = record_of(card)
        template = card.upstream_id in ("00005_DCGAN_MMG_MASS_ROI", "00006_WGANGP_MMG_MASS_ROI")
        records[record] = {name: template_zip(card) if template else package_zip(card)}
    with RecordServer(records) as server:
        env = {**os.environ, "MEDIGAN_ZENODO_URL": server.base_url, "MEDIGAN_CACHE_DIR": str(cache)}
        for row, card in zip([r for r in rows if r["status"] == "ok"], cards, strict=True):
            out = cache / "runs" / card.id
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "medigan_host", "generate", card.id, "-n", "2", "-o", str(out),
                                   "--trust-remote-code"], capture_output=True, text=True, env=env, check=False)
            images = len(list((out / "images").glob("*"))) if (out / "images").is_dir() else 0
            row["generated"] = images
            print(f"medigan generate {card.id} -n 2: exit {done.returncode}, {images} images written "
                  f"({time.monotonic() - started:.1f} s)" + ("" if done.returncode == 0 else f"\n{done.stderr[-800:]}"),
                  flush=True)


def summary(rows: list[dict], cache: Path) -> list[tuple[str, str, str, str]]:
    later = [r for r in rows[1:] if r["torch"]]
    total_time = sum(r["seconds"] for r in rows)
    total_disk = disk(cache)
    uv_cache = disk(cache / "envs" / ".uv-cache")
    lines = [("first environment (empty cache)", f"{rows[0]['seconds']:.1f} s, {mib(rows[0]['added'])}", "-", "info")]
    if later:
        worst_t = max(r["seconds"] for r in later)
        worst_d = max(r["added"] for r in later)
        lines.append((f"later environments sharing torch ({len(later)}), slowest", f"{worst_t:.1f} s",
                      f"<= {SECOND_TIME:.0f} s", "PASS" if worst_t <= SECOND_TIME else "FAIL"))
        lines.append((f"later environments sharing torch ({len(later)}), largest", mib(worst_d), f"<= {mib(SECOND_DISK)}",
                      "PASS" if worst_d <= SECOND_DISK else "FAIL"))
        lines.append(("later environments, median time",
                      f"{sorted(r['seconds'] for r in later)[len(later) // 2]:.1f} s", "-", "info"))
    lines.append((f"all {len(rows)} environments, time", f"{total_time / 60:.1f} min", f"<= {TOTAL_TIME / 60:.0f} min",
                  "PASS" if total_time <= TOTAL_TIME else "FAIL"))
    lines.append((f"all {len(rows)} environments, disk (uv cache included)", mib(total_disk), f"<= {mib(TOTAL_DISK)}",
                  "PASS" if total_disk <= TOTAL_DISK else "FAIL"))
    lines.append(("of which the shared uv cache", mib(uv_cache), "-", "info"))
    ok = sum(r["status"] == "ok" for r in rows)
    lines.append(("environments whose every listed module imports", f"{ok} of {len(rows)}", f"{len(rows)} of {len(rows)}",
                  "PASS" if ok == len(rows) else "FAIL"))
    return lines


def matrix(rows: list[dict], lines: list[tuple[str, str, str, str]]) -> str:
    py = ".".join(map(str, sys.version_info[:3]))
    out = [START, "",
           f"Built by `python benchmarks/bench_envs.py --write-docs docs/original-models.md` on Python {py} "
           f"({platform.machine()}, {os.cpu_count()} CPU cores; the load average is the last row), installer uv "
           f"(shared cache, hard links), starting from an empty cache; torch 2.13.0 CPU from a local wheel folder "
           f"(`UV_FIND_LINKS`), everything else from PyPI. Disk is what each build added to the cache folder "
           f"(`du`, hard-linked files counted once).", "",
           "| model | card's Python | built on | build time | disk added | imports ok |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| `{r['model']}` | {r['python']} | {py} | {r['seconds']:.1f} s | {mib(r['added'])} | "
                   f"{r['imports']}{'' if r['status'] == 'ok' else ' (' + r['status'] + ')'} |")
    out += ["", "| figure | measured | target | |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in lines]
    out += ["", END]
    return "\n".join(out)


def write_docs(path: Path, text: str) -> None:
    page = path.read_text(encoding="utf-8")
    if START in page and END in page:
        page = page[:page.index(START)] + text + page[page.index(END) + len(END):]
    else:
        page = page.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(page, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated model ids (default: the 23 original models)")
    parser.add_argument("--cache", type=Path, help="cache folder to build in (kept); default: a temporary one")
    parser.add_argument("--write-docs", type=Path, help="write the matrix between the env-matrix markers of this page")
    parser.add_argument("--generate", action="store_true",
                        help="then run `medigan generate` of each model against stand-in packages served on 127.0.0.1")
    args = parser.parse_args()
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    else:
        from medigan_plugin_original.catalog import UPSTREAM

        models = [m["upstream_id"] for m in UPSTREAM]
    cache = args.cache or Path(tempfile.mkdtemp(prefix="medigan-bench-envs-"))
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        rows = build(models, cache)
        lines = summary(rows, cache)
        if args.generate:
            generate_each(rows, cache)
        if load_before is not None:  # a loaded machine stretches every wall time: say how loaded it was
            lines.append(("load average (1 min) at start / end", f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
                          f"{os.cpu_count()} cores", "info"))
    finally:
        if args.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    print()
    width = max(len(a) for a, *_ in lines)
    for a, b, c, d in lines:
        print(f"{a:<{width}}  {b:>14}  {c:>12}  {d}")
    if args.write_docs:
        write_docs(args.write_docs, matrix(rows, lines))
        print(f"wrote the matrix into {args.write_docs}")
    ok = all(r["status"] == "ok" for r in rows) and all(r.get("generated", 2) == 2 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
