"""``evaluate``: FID, KID, precision/recall and memorisation of generated images against real ones, as records."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..errors import MediganUsageError
from . import DEFAULT_EXTRACTOR
from .extractors import Extractor, load_extractor
from .features import DEFAULT_KEEP, FeatureSet, ImageSet, cached_extract, extract, folder_images, model_images
from .metrics import fid_infinity, frechet_distance, kernel_distance, kid_jackknife, precision_recall
from .preprocess import Window, default_window, parse_window, to_unit
from .records import EvaluationRecord

#: The metrics computed when none are named.
METRICS = ("fid", "kid", "precision", "recall")
#: Every metric ``evaluate`` knows (``memorization`` only when asked for).
ALL_METRICS = (*METRICS, "memorization")
#: Other spellings accepted where users type a metric name.
METRIC_ALIASES = {"memorisation": "memorization"}
#: Below these sizes (the smaller of the two sets, images) a metric says too little to be reported without a warning
#: (docs/evaluation.md, "Small samples"). FID is also flagged as biased whenever n is below the feature dimension.
SMALL_N = {"fid": 50, "kid": 50, "precision": 100, "recall": 100, "memorization": 20}
#: Two sets whose longer image sides differ by more than this factor are of different size classes.
SIZE_CLASS_FACTOR = 2.0
#: Closest pairs shown in the memorisation grid.
GRID_PAIRS = 16


class EvaluationWarning(UserWarning):
    """A result that is computed but needs care (e.g. KID on fewer images than its subset size)."""


def evaluate(*, real: str | Path, model: str | None = None, fake: str | Path | None = None, n: int | None = None,
             extractor: str | Extractor = DEFAULT_EXTRACTOR, normalization: str | None = None, resize: str | None = None,
             metrics: tuple[str, ...] = METRICS, seed: int = 0, batch_size: int = 50, device: str = "auto",
             keep: int = DEFAULT_KEEP, kid_subsets: int = 100, kid_subset_size: int = 1000, k: int = 3,
             weights_file: str | Path | None = None, use_cache: bool = True, window: str | Window | None = None,
             holdout: str | Path | None = None, output_dir: str | Path | None = None,
             progress: Callable[[int], None] | None = None) -> list[EvaluationRecord]:
    """Compare ``n`` samples of ``model`` (default: as many as there are real images), or the first ``n`` images in
    ``fake`` (default: all), with the images in ``real``.

    ``extractor`` is a name (loaded with ``normalization``/``resize``, default: the extractor's own) or a loaded
    :class:`Extractor`. The statistics of image folders (real, fake, holdout) are cached on disk unless
    ``use_cache`` is False; samples generated from ``model`` are not cached. ``window``
    (``"LOW,HIGH"``, ``"minmax"`` or a :class:`Window`) maps both sets' intensities to [0, 1]; by default each set's
    own (a model card's ``display_range``, a DICOM/NIfTI window, or its dtype's range), see docs/evaluation.md.
    ``memorization`` compares each generated sample with the ``real`` (training) images; ``holdout`` names real
    images the model never saw, and ``output_dir`` receives the grid of closest pairs (``memorization.png``).
    """
    metrics = tuple(dict.fromkeys(METRIC_ALIASES.get(m, m) for m in metrics))
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown or not metrics:
        raise MediganUsageError(f"unknown metric {', '.join(unknown) or '(none given)'}; choose from {', '.join(ALL_METRICS)}")
    if (model is None) == (fake is None):
        raise MediganUsageError("give either a MODEL to generate images from, or --fake DIR with generated images, not both")
    if holdout is not None and "memorization" not in metrics:
        raise MediganUsageError("--holdout is used by the memorization metric only: add --metric memorization")
    if isinstance(window, str):
        window = parse_window(window)
    real_images = folder_images(real, None, batch_size, window)  # checked before an extractor is downloaded
    fake_images: ImageSet = (model_images(model, n or real_images.count, seed=seed, batch_size=batch_size, device=device,
                                          window=window)
                             if model is not None else folder_images(fake, n, batch_size, window))
    share_window(real_images, fake_images)
    holdout_images = folder_images(holdout, None, batch_size, window or real_images.window) if holdout else None
    if isinstance(extractor, str):
        extractor = load_extractor(extractor, device=device, normalization=normalization, resize=resize,
                                   weights_file=weights_file)
    wants_all = "memorization" in metrics
    real_keep = max(keep, real_images.count) if wants_all else keep
    real_set = cached_extract(real_images, extractor, keep=real_keep, use_cache=use_cache, progress=progress)
    fake_keep = max(keep, fake_images.count) if wants_all else keep
    # a folder's features are cached as a real folder's are (its file list is in the key); generated samples are not
    fake_set = (cached_extract(fake_images, extractor, keep=fake_keep, use_cache=use_cache, progress=progress)
                if fake is not None else extract(fake_images, extractor, keep=fake_keep, progress=progress))
    mismatch = set_mismatches(fake_set, real_set)
    for note in mismatch:
        warnings.warn(note, EvaluationWarning, stacklevel=2)
    records = records_for(fake_set, real_set, extractor, tuple(m for m in metrics if m != "memorization"),
                          kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k=k, seed=seed, warn_sets=False) \
        if any(m != "memorization" for m in metrics) else []
    if wants_all:
        held = (cached_extract(holdout_images, extractor, keep=max(keep, holdout_images.count), use_cache=use_cache,
                               progress=progress) if holdout_images else None)
        records.append(memorization_record(fake_set, real_set, extractor, fake_images, real_images, held, output_dir))
        if mismatch:
            records[-1].details["warnings"] = [*mismatch, *records[-1].details.get("warnings", [])]
    return records


def set_mismatches(fake: FeatureSet, real: FeatureSet) -> list[str]:
    """Warnings when the two sets differ in channels, size class (longer side by more than a factor 2) or modality:
    their distance then mostly measures that difference (CT against RGB histology gives an FID over 1000)."""
    notes = []
    if fake.channels and real.channels and fake.channels != real.channels:
        notes.append(f"the generated images have {fake.channels} channel(s) and the real ones {real.channels}: the "
                     "metrics then mostly measure that difference; compare images of the same kind")
    if fake.size and real.size:
        big, small = sorted((max(fake.size), max(real.size)), reverse=True)
        if small and big / small > SIZE_CLASS_FACTOR:
            notes.append(f"the generated images are {'x'.join(map(str, fake.size))} and the real ones "
                         f"{'x'.join(map(str, real.size))} (more than {SIZE_CLASS_FACTOR:g}x apart): both are resized to "
                         "the extractor's input, so the metrics compare different scales; compare images of one size class")
    if fake.modality and real.modality and fake.modality != real.modality:
        notes.append(f"the generated images are {fake.modality} and the real ones {real.modality}: the metrics then "
                     "measure the difference between modalities, not the model's quality")
    return notes


def small_sample_warnings(metric: str, n_fake: int, n_real: int, feature_dim: int | None = None) -> list[str]:
    """The warnings for ``metric`` computed on ``n_fake`` and ``n_real`` images (thresholds: :data:`SMALL_N`)."""
    n, notes = min(n_fake, n_real), []
    if n < SMALL_N[metric]:
        why = {"fid": "the Fréchet distance of so few images is dominated by its sampling error",
               "kid": "KID's estimate is unbiased but so noisy that it can come out far below zero",
               "precision": "the k-NN balls of so few images cover most of the feature space, so values near 1 say little",
               "recall": "the k-NN balls of so few images cover most of the feature space, so values near 1 say little",
               "memorization": "nearest-neighbour distances of so few images say little about copying"}[metric]
        notes.append(f"{metric} from {n} images (fewer than {SMALL_N[metric]}): {why}; use more images")
    if metric == "fid" and feature_dim and n < feature_dim:
        notes.append(f"FID from {n} images is biased upwards (fewer images than the {feature_dim} feature dimensions): "
                     "compare it only with FIDs at the same n, or compare fid_infinity (FID extrapolated to infinitely "
                     "many images)")
    return notes


def share_window(real: ImageSet, fake: ImageSet) -> None:
    """A set whose range is unknown takes the other set's declared window when both have the same dtype (e.g. real
    16-bit CT PNGs compared with a CT model whose card declares its display range); recorded and warned about."""
    for mine, other, what in ((real, fake, "real"), (fake, real, "generated")):
        if mine.window is not None or other.window is None or mine.dtype is None:
            continue
        if default_window(np.dtype(mine.dtype)) is None and (other.dtype in (None, mine.dtype)):
            mine.window = replace(other.window, source=f"{other.window.source}, taken for the {what} images, which "
                                                      "declare no range")
            warnings.warn(f"the {what} images ({mine.dtype}) declare no value range; using the other set's window "
                          f"{other.window.low:g}..{other.window.high:g} ({other.window.source}); pass --window to choose",
                          EvaluationWarning, stacklevel=3)


#: KID's jackknife standard error is computed on at most this many images of each set (kernel matrices n x n).
KID_JACKKNIFE_MAX = 2000


def records_for(fake: FeatureSet, real: FeatureSet, extractor: Extractor, metrics: tuple[str, ...] = METRICS, *,
                kid_subsets: int = 100, kid_subset_size: int = 1000, k: int = 3, seed: int = 0,
                warn_sets: bool = True) -> list[EvaluationRecord]:
    """The requested metrics between two feature sets, one record each.

    Every record lists its ``warnings`` (small samples, sets of different kinds), which are also issued as
    :class:`EvaluationWarning`; ``warn_sets`` False leaves the set comparison's warnings to the caller (once).
    """
    common = _common(fake, real, extractor)
    mismatch = set_mismatches(fake, real)
    if warn_sets:
        for note in mismatch:
            warnings.warn(note, EvaluationWarning, stacklevel=2)
    out = []

    def record(metric: str, value: float, details: dict[str, Any], notes: list[str]) -> None:
        for note in notes:
            warnings.warn(note, EvaluationWarning, stacklevel=3)
        if mismatch or notes:
            details["warnings"] = [*mismatch, *notes]
        out.append(EvaluationRecord(metric, value, **common, details=details))

    if "fid" in metrics:
        value = frechet_distance(fake.mean, fake.covariance, real.mean, real.covariance)
        details: dict[str, Any] = {}
        try:
            inf = fid_infinity(fake.kept, real.kept, seed=seed)
            details.update(fid_infinity=inf.value, fid_infinity_fit={
                "method": "Chong and Forsyth 2020: FID of random subsets at 15 sizes, least-squares line in 1/n, "
                          "value at 1/n = 0", "sizes": inf.sizes, "fids": inf.fids, "slope": inf.slope,
                "r_squared": inf.r_squared, "n_fake_used": len(fake.kept), "n_real_used": len(real.kept)})
        except MediganUsageError as exc:
            details["fid_infinity"] = None
            details["fid_infinity_fit"] = {"skipped": str(exc)}
        record("fid", value, details, small_sample_warnings("fid", fake.count, real.count, extractor.spec.feature_dim))
    if "kid" in metrics:
        kid = kernel_distance(fake.kept, real.kept, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        details = {
            "std": kid.std, "std_subsets": kid.std, "subsets": kid.subsets, "subset_size": kid.subset_size,
            "subset_size_requested": kid_subset_size, "kernel": "(x.y/d + 1)^3",
            "n_fake_used": len(fake.kept), "n_real_used": len(real.kept),
            "std_method": "standard deviation over the subsets (as torch-fidelity)"}
        notes = small_sample_warnings("kid", len(fake.kept), len(real.kept))
        smaller = min(len(fake.kept), len(real.kept))
        if kid.subset_size < kid_subset_size:
            notes.append(f"KID subset size lowered from {kid_subset_size} to {kid.subset_size} (the smaller set's size)")
        if 2 * kid.subset_size > smaller and smaller >= 3:
            jack = kid_jackknife(fake.kept[:KID_JACKKNIFE_MAX], real.kept[:KID_JACKKNIFE_MAX])
            details.update(std=jack.standard_error, kid_all_images=jack.value, std_method=(
                "jackknife standard error of the unbiased MMD² on all images (subsets holding more than half of the "
                "smaller set hardly differ, so their standard deviation, kept as std_subsets, says nothing about the "
                "estimate's spread)"), n_fake_jackknife=jack.n_fake, n_real_jackknife=jack.n_real)
        if notes:
            details["warning"] = "; ".join(notes)
        record("kid", kid.mean, details, notes)
    if "precision" in metrics or "recall" in metrics:
        pr = precision_recall(fake.kept, real.kept, k=k)
        for name, value in (("precision", pr.precision), ("recall", pr.recall)):
            if name in metrics:
                record(name, value, {"k": k, "n_fake_used": len(fake.kept), "n_real_used": len(real.kept)},
                       small_sample_warnings(name, len(fake.kept), len(real.kept)))
    return out


def _common(fake: FeatureSet, real: FeatureSet, extractor: Extractor) -> dict[str, Any]:
    return {"fake": {**fake.describe(), "stats_cached": fake.cached}, "real": {**real.describe(), "stats_cached": real.cached},
            "extractor": extractor.describe()}


def memorization_record(fake: FeatureSet, real: FeatureSet, extractor: Extractor, fake_images: ImageSet,
                        real_images: ImageSet, holdout: FeatureSet | None = None,
                        output_dir: str | Path | None = None, pairs: int = GRID_PAIRS) -> EvaluationRecord:
    """The ``memorization`` record: value = authenticity; per-sample nearest real images; the grid when asked."""
    from .memorization import LEVELS, memorization

    result = memorization(fake.kept, real.kept, None if holdout is None else holdout.kept)
    order = np.argsort(result.distance, kind="stable")
    nearest = [{"fake": fake_images.label(i), "real": real_images.label(int(result.nearest[i])),
                "distance": float(result.distance[i]), "real_nearest_real_distance": float(result.real_gap[i]),
                "copy": bool(result.copies[i])} for i in range(len(result.distance))]
    details: dict[str, Any] = {
        "authenticity": result.authenticity, "copies": int(result.copies.sum()), **result.verdict,
        "alpha_precision": result.alpha_precision, "beta_recall": result.beta_recall,
        "levels": LEVELS.round(6).tolist(), "alpha_precision_curve": result.alpha_curve.tolist(),
        "beta_recall_curve": result.beta_curve.tolist(),
        "embedding": "extractor features; alpha-support centred on the mean of the real features (no one-class network)",
        "definition": "Alaa et al. 2022: a generated sample is a copy when closer to its nearest real image than that "
                      "image is to its nearest other real image",
        "n_fake_used": len(fake.kept), "n_real_used": len(real.kept),
        "closest": [nearest[i] for i in order[:pairs]], "nearest": nearest}
    if holdout is not None:
        details.update(holdout_copies=result.holdout_copies, n_holdout=holdout.count, holdout=holdout.describe())
    notes = small_sample_warnings("memorization", len(fake.kept), min(len(real.kept), len(holdout.kept))
                                  if holdout is not None else len(real.kept))
    for note in notes:
        warnings.warn(note, EvaluationWarning, stacklevel=2)
    if notes:
        details["warnings"] = notes
    if output_dir is not None:
        details["grid"] = str(write_pairs_grid(Path(output_dir) / "memorization.png", [int(i) for i in order[:pairs]],
                                               result.nearest, fake_images, real_images))
    return EvaluationRecord("memorization", result.authenticity, **_common(fake, real, extractor), details=details)


def write_pairs_grid(path: Path, fake_indices: list[int], nearest: np.ndarray, fake_images: ImageSet,
                     real_images: ImageSet) -> Path:
    """A PNG of the closest pairs, closest first: each row a generated image (left) and its nearest real one."""
    from ..formats.writers import png_bytes
    from .memorization import pairs_grid

    if fake_images.pick is None or real_images.pick is None:
        raise MediganUsageError("these image sets cannot be read back for the grid of closest pairs")
    fakes = fake_images.pick(fake_indices)
    reals = real_images.pick([int(nearest[i]) for i in fake_indices])
    pairs = [(to_unit(f[None], fake_images.window)[0], to_unit(r[None], real_images.window)[0])
             for f, r in zip(fakes, reals, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, png_bytes(pairs_grid(pairs)))
    return path
