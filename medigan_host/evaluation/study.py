"""The FID variability study: models x extractors x normalisations, as a table, a CSV file and a plot.

It reproduces the kind of table of the medigan paper, which showed that FID depends on the feature extractor and
on the image normalisation. Each model's images are generated once and fed to every configuration.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import atomic
from ..errors import MediganError, MediganUsageError
from . import DEFAULT_EXTRACTOR
from .evaluate import share_window
from .extractors import Extractor, check_combination, extractor_catalog, load_extractor
from .features import cached_extract, extract_many, folder_images, model_images
from .metrics import frechet_distance
from .preprocess import Window, parse_window
from .records import EvaluationRecord

COLUMNS = ("model", "extractor", "normalization", "resize", "fid", "n_fake", "n_real", "note", "extractor_weights_sha256")
#: Feature vectors per set compared to find cells whose features are another cell's rescaled.
PROBE_VECTORS = 32
#: Relative residual below which one cell's features count as an affine rescaling of another's (PCANet's ``unit``
#: and ``symmetric`` cells differ by 3.9 %: padding at the image borders; elsewhere the features are exactly 2x).
RESCALED_TOLERANCE = 0.05


@dataclass
class StudyResult:
    """The records of the computed cells; ``rows`` holds every cell, a skipped one with ``fid`` None and its note."""

    records: list[EvaluationRecord]
    rows: list[dict[str, object]]
    notes: list[str] = field(default_factory=list)

    def table_rows(self) -> list[list[object]]:
        shown = [c for c in COLUMNS if c != "extractor_weights_sha256"]
        def cell(row: dict[str, object], column: str) -> object:
            if column == "fid":
                return "skipped" if row["fid"] is None else f"{row['fid']:.4g}"
            return "(reason below)" if column == "note" and row["fid"] is None else row[column]

        return [[cell(row, c) for c in shown] for row in self.rows]


def fid_study(models: Sequence[str], real: str | Path, *, n: int, extractors: Sequence[str] = (DEFAULT_EXTRACTOR,),
              normalizations: Sequence[str] | None = None, resize: str | None = None, seed: int = 0,
              batch_size: int = 50, device: str = "auto", weights_files: dict[str, str] | None = None,
              use_cache: bool = True, window: str | Window | None = None,
              progress: Callable[[int], None] | None = None) -> StudyResult:
    """FID of ``n`` samples of each model against ``real``, for every extractor x normalisation.

    ``normalizations`` None uses each extractor's own; ``resize`` None each extractor's own. A normalisation an
    extractor cannot take (an ImageNet one on a grey extractor) is skipped: its cells are rows with ``fid`` None and
    a note, listed in ``notes``. ``weights_files`` maps extractor names to weights files (e.g. RadImageNet's).
    """
    if not models:
        raise MediganUsageError("give at least one model with --models")
    if isinstance(window, str):
        window = parse_window(window)
    unknown = set(weights_files or {}) - set(extractors)
    if unknown:
        raise MediganUsageError(f"extractor weights given for {', '.join(sorted(unknown))}, which is not studied")
    cells: list[tuple[str, str | None, str | None]] = []  # (extractor, normalisation, why skipped)
    for name in extractors:
        spec = extractor_catalog().get(name).spec
        for normalization in normalizations or (None,):
            try:
                check_combination(spec, normalization or spec.normalization)
                cells.append((name, normalization, None))
            except MediganUsageError as exc:
                cells.append((name, normalization, str(exc)))
    fake_images = [model_images(model, n, seed=seed, batch_size=batch_size, device=device, window=window)
                   for model in models]  # checked first
    real_images = folder_images(real, None, batch_size, window)
    for images in fake_images:
        share_window(real_images, images)
    loaded = {name: load_extractor(name, device=device, resize=resize, weights_file=(weights_files or {}).get(name))
              for name, _, skipped in cells if skipped is None}  # one network per extractor, shared by its cells
    configs: list[Extractor] = [loaded[name].with_options(normalization, resize)
                                for name, normalization, skipped in cells if skipped is None]
    if not configs:
        raise MediganUsageError("no extractor x normalisation combination can be computed: "
                                + "; ".join(why for _, _, why in cells if why))
    real_sets = [cached_extract(real_images, config, use_cache=use_cache, progress=progress) for config in configs]
    notes = [f"{name} x {normalization}: {why}" for name, normalization, why in cells if why]
    records, rows = [], []
    for model, images in zip(models, fake_images, strict=True):
        fake_sets = iter(extract_many(images, configs, keep=PROBE_VECTORS, progress=progress))
        computed = iter(zip(configs, real_sets, strict=True))
        probes: list[tuple[str, str, np.ndarray, float]] = []  # (extractor, normalisation, features, fid) of this model
        for name, normalization, skipped in cells:
            if skipped:
                rows.append({"model": model, "extractor": name, "normalization": normalization, "resize": resize or "-",
                             "fid": None, "n_fake": 0, "n_real": 0, "note": f"skipped: {skipped}",
                             "extractor_weights_sha256": ""})
                continue
            fake = next(fake_sets)
            config, real_set = next(computed)
            value = frechet_distance(fake.mean, fake.covariance, real_set.mean, real_set.covariance)
            about = config.describe()
            probe = np.concatenate([fake.kept[:PROBE_VECTORS], real_set.kept[:PROBE_VECTORS]]).astype(np.float64)
            same = next(((norm, fit, base_fid) for ext, norm, other, base_fid in probes if ext == about["extractor"]
                         for fit in [rescaling(other, probe)] if fit is not None), None)
            probes.append((about["extractor"], about["normalization"], probe, value))
            details: dict[str, object] = {"model": model}
            reasons = []
            if same is not None:
                norm, (factor, residual), base_fid = same
                ratio = value / base_fid if base_fid else float("nan")
                details["no_information"] = {"same_as_normalization": norm, "feature_factor": factor,
                                             "relative_residual": residual, "fid_ratio": ratio}
                reasons.append(f"no information: its features are {factor:.4g} x those of the {norm} cell plus a constant "
                               f"(to {residual:.1%}), so its FID is that cell's x {ratio:.4g}")
            if not about["comparable_with_published_fid"]:
                reasons.append(f"not comparable with published FIDs: {about['not_comparable_because']}")
            records.append(EvaluationRecord("fid", value, fake.describe(), real_set.describe(), about, details))
            rows.append({"model": model, "extractor": about["extractor"], "normalization": about["normalization"],
                         "resize": about["resize"], "fid": value, "n_fake": fake.count, "n_real": real_set.count,
                         "note": "; ".join(reasons), "extractor_weights_sha256": about["extractor_weights_sha256"]})
    return StudyResult(records, rows, notes)


def rescaling(base: np.ndarray, other: np.ndarray) -> tuple[float, float] | None:
    """``(c, relative residual)`` when ``other ≈ c * base + t`` (one constant offset vector ``t``) for the same images'
    feature vectors, within :data:`RESCALED_TOLERANCE`; else None. Such a cell's FID is ``c²`` times the base cell's: it
    carries no information of its own (e.g. ``unit`` against ``symmetric`` for an extractor whose filters sum to
    zero and whose non-linearities are positively homogeneous, as PCANet's)."""
    if base.shape != other.shape or len(base) < 3:
        return None
    a, b = base - base.mean(0), other - other.mean(0)
    energy = float((a * a).sum())
    if energy <= 0.0:
        return None
    factor = float((a * b).sum()) / energy
    if factor <= 0.0:
        return None
    residual = float(np.sqrt(((b - factor * a) ** 2).sum() / max(float((b * b).sum()), 1e-300)))
    return (factor, residual) if residual < RESCALED_TOLERANCE else None


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
    atomic.write_text(out / "study.json", json.dumps([r.to_dict() for r in result.records]
                                                     + [{"skipped": note} for note in result.notes], indent=2) + "\n")
    written.append(out / "study.json")
    if plot:
        written.append(plot_study(result, out / "study.png"))
    return written


def plot_study(result: StudyResult, path: Path) -> Path:
    """A grouped bar chart per extractor (FID scales differ between extractors): models x normalisations, on a log
    scale (FIDs of different modalities differ by orders of magnitude); cells without information are hatched."""
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
        positive = [float(r["fid"]) for r in rows if r["fid"] is not None and float(r["fid"]) > 0]
        log = bool(positive)  # log scale: FIDs of different modalities differ by orders of magnitude
        floor = min(positive) / 10 if log else 0.0
        for j, norm in enumerate(norms):
            cells = [next((r for r in rows if r["model"] == m and str(r["normalization"]) == norm), None) for m in models]
            skipped = all(c is None or c["fid"] is None for c in cells)
            values = [float(c["fid"]) if c is not None and c["fid"] is not None and float(c["fid"]) > 0 else floor
                      for c in cells]
            xs = [i + j * width for i in range(len(models))]
            bars = ax.bar(xs, values, width, label=f"{norm} (skipped)" if skipped else norm)
            for x, cell, bar in zip(xs, cells, bars, strict=True):
                if cell is not None and cell["fid"] is None:
                    ax.text(x, floor, "skipped", rotation=90, ha="center", va="bottom", fontsize="small")
                elif cell is not None and str(cell.get("note", "")).startswith("no information"):
                    bar.set_hatch("//")
                    bar.set_alpha(0.5)
                    ax.text(x, bar.get_height(), "no info", rotation=90, ha="center", va="bottom", fontsize="x-small")
        if log:
            ax.set_yscale("log")
            ax.set_ylim(top=max(positive) * 4)  # room for the labels above the bars
        ax.set_xticks([i + width * (len(norms) - 1) / 2 for i in range(len(models))], models, rotation=20, ha="right")
        ax.set_title(extractor)
        ax.set_ylabel("FID (log scale)" if log else "FID")
        ax.legend(title="normalisation", fontsize="small")
    if result.notes:
        fig.text(0.01, 0.01, "\n".join(f"skipped: {note}" for note in result.notes), fontsize="x-small", va="bottom")
        fig.tight_layout(rect=(0, 0.06 * len(result.notes), 1, 1))
    else:
        fig.tight_layout()
    tmp = atomic.temporary_path(path)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path
