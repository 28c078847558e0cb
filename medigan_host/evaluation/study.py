"""The FID variability study: models x extractors x normalisations, as a table, a CSV file and a plot.

It reproduces the kind of table of the medigan paper, which showed that FID depends on the feature extractor and
on the image normalisation. Each model's images are generated once and fed to every configuration.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from ..errors import MediganError, MediganUsageError
from . import DEFAULT_EXTRACTOR
from .extractors import Extractor, load_extractor
from .features import cached_extract, extract_many, folder_images, model_images
from .metrics import frechet_distance
from .records import EvaluationRecord

COLUMNS = ("model", "extractor", "normalization", "resize", "fid", "n_fake", "n_real", "extractor_weights_sha256")


@dataclass
class StudyResult:
    records: list[EvaluationRecord]
    rows: list[dict[str, object]]

    def table_rows(self) -> list[list[object]]:
        return [[row[c] if c != "fid" else f"{row['fid']:.4g}" for c in COLUMNS[:-1]] for row in self.rows]


def fid_study(models: Sequence[str], real: str | Path, *, n: int, extractors: Sequence[str] = (DEFAULT_EXTRACTOR,),
              normalizations: Sequence[str] | None = None, resize: str | None = None, seed: int = 0,
              batch_size: int = 50, device: str = "auto", weights_files: dict[str, str] | None = None,
              use_cache: bool = True, progress: Callable[[int], None] | None = None) -> StudyResult:
    """FID of ``n`` samples of each model against ``real``, for every extractor x normalisation.

    ``normalizations`` None uses each extractor's own; ``resize`` None each extractor's own.
    """
    if not models:
        raise MediganUsageError("give at least one model with --models")
    configs: list[Extractor] = []
    for name in extractors:
        for normalization in normalizations or (None,):
            configs.append(load_extractor(name, device=device, normalization=normalization, resize=resize,
                                          weights_file=(weights_files or {}).get(name)))
    fake_images = [model_images(model, n, seed=seed, batch_size=batch_size, device=device) for model in models]  # checked first
    real_images = folder_images(real, None, batch_size)
    real_sets = [cached_extract(real_images, config, use_cache=use_cache, progress=progress) for config in configs]
    records, rows = [], []
    for model, images in zip(models, fake_images, strict=True):
        fake_sets = extract_many(images, configs, keep=0, progress=progress)
        for config, fake, real_set in zip(configs, fake_sets, real_sets, strict=True):
            value = frechet_distance(fake.mean, fake.covariance, real_set.mean, real_set.covariance)
            about = config.describe()
            records.append(EvaluationRecord("fid", value, fake.describe(), real_set.describe(), about, {"model": model}))
            rows.append({"model": model, "extractor": about["extractor"], "normalization": about["normalization"],
                         "resize": about["resize"], "fid": value, "n_fake": fake.count, "n_real": real_set.count,
                         "extractor_weights_sha256": about["extractor_weights_sha256"]})
    return StudyResult(records, rows)


def write_outputs(result: StudyResult, folder: str | Path, *, plot: bool = True) -> list[Path]:
    """``study.csv``, ``study.json`` (the full records) and ``study.png`` in ``folder``; returns the paths written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    lines: list[str] = []

    class _Lines:
        def write(self, text: str) -> None:
            lines.append(text)

    writer = csv.DictWriter(_Lines(), fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    atomic.write_text(out / "study.csv", "".join(lines))
    written.append(out / "study.csv")
    atomic.write_text(out / "study.json", json.dumps([r.to_dict() for r in result.records], indent=2) + "\n")
    written.append(out / "study.json")
    if plot:
        written.append(plot_study(result, out / "study.png"))
    return written


def plot_study(result: StudyResult, path: Path) -> Path:
    """A grouped bar chart per extractor (FID scales differ between extractors): models x normalisations."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MediganError("the study plot needs matplotlib: run `pip install matplotlib` (or `pip install "
                           "'medigan-host[eval]'`), or pass --no-plot") from None
    extractors = list(dict.fromkeys(row["extractor"] for row in result.rows))
    models = list(dict.fromkeys(row["model"] for row in result.rows))
    fig, axes = plt.subplots(1, len(extractors), figsize=(4 + 3 * len(models), 4), squeeze=False)
    for ax, extractor in zip(axes[0], extractors, strict=True):
        rows = [row for row in result.rows if row["extractor"] == extractor]
        norms = list(dict.fromkeys(str(row["normalization"]) for row in rows))
        width = 0.8 / len(norms)
        for j, norm in enumerate(norms):
            values = [next((float(r["fid"]) for r in rows if r["model"] == m and r["normalization"] == norm), 0.0)
                      for m in models]
            ax.bar([i + j * width for i in range(len(models))], values, width, label=norm)
        ax.set_xticks([i + width * (len(norms) - 1) / 2 for i in range(len(models))], models, rotation=20, ha="right")
        ax.set_title(extractor)
        ax.set_ylabel("FID")
        ax.legend(title="normalisation", fontsize="small")
    fig.tight_layout()
    tmp = atomic.temporary_path(path)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path
