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
from .metrics import frechet_distance, kernel_distance, precision_recall
from .preprocess import Window, default_window, parse_window, to_unit
from .records import EvaluationRecord

#: The metrics computed when none are named.
METRICS = ("fid", "kid", "precision", "recall")
#: Every metric ``evaluate`` knows (``memorization`` only when asked for).
ALL_METRICS = (*METRICS, "memorization")
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
    :class:`Extractor`. Real-set statistics are cached on disk unless ``use_cache`` is False. ``window``
    (``"LOW,HIGH"``, ``"minmax"`` or a :class:`Window`) maps both sets' intensities to [0, 1]; by default each set's
    own (a model card's ``display_range``, a DICOM/NIfTI window, or its dtype's range), see docs/evaluation.md.
    ``memorization`` compares each generated sample with the ``real`` (training) images; ``holdout`` names real
    images the model never saw, and ``output_dir`` receives the grid of closest pairs (``memorization.png``).
    """
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
    fake_set = extract(fake_images, extractor, keep=max(keep, fake_images.count) if wants_all else keep, progress=progress)
    records = records_for(fake_set, real_set, extractor, tuple(m for m in metrics if m != "memorization"),
                          kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k=k, seed=seed) \
        if any(m != "memorization" for m in metrics) else []
    if wants_all:
        held = extract(holdout_images, extractor, keep=holdout_images.count, progress=progress) if holdout_images else None
        records.append(memorization_record(fake_set, real_set, extractor, fake_images, real_images, held, output_dir))
    return records


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


def records_for(fake: FeatureSet, real: FeatureSet, extractor: Extractor, metrics: tuple[str, ...] = METRICS, *,
                kid_subsets: int = 100, kid_subset_size: int = 1000, k: int = 3, seed: int = 0) -> list[EvaluationRecord]:
    """The requested metrics between two feature sets, one record each."""
    common = _common(fake, real, extractor)
    out = []
    if "fid" in metrics:
        value = frechet_distance(fake.mean, fake.covariance, real.mean, real.covariance)
        out.append(EvaluationRecord("fid", value, **common))
    if "kid" in metrics:
        kid = kernel_distance(fake.kept, real.kept, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        details: dict[str, Any] = {
            "std": kid.std, "subsets": kid.subsets, "subset_size": kid.subset_size,
            "subset_size_requested": kid_subset_size, "kernel": "(x.y/d + 1)^3",
            "n_fake_used": len(fake.kept), "n_real_used": len(real.kept)}
        if kid.subset_size < kid_subset_size:
            whole = kid.subset_size == min(len(fake.kept), len(real.kept))
            note = (f"KID subset size lowered from {kid_subset_size} to {kid.subset_size} (the smaller set's size)"
                    + ("; each subset then holds (nearly) the whole smaller set, so the subsets hardly differ and the "
                       "std does not measure the estimate's spread: use more images than the subset size" if whole else ""))
            details["warning"] = note
            warnings.warn(note, EvaluationWarning, stacklevel=2)
        out.append(EvaluationRecord("kid", kid.mean, **common, details=details))
    if "precision" in metrics or "recall" in metrics:
        pr = precision_recall(fake.kept, real.kept, k=k)
        details = {"k": k, "n_fake_used": len(fake.kept), "n_real_used": len(real.kept)}
        for name, value in (("precision", pr.precision), ("recall", pr.recall)):
            if name in metrics:
                out.append(EvaluationRecord(name, value, **common, details=details))
    return out


def _common(fake: FeatureSet, real: FeatureSet, extractor: Extractor) -> dict[str, Any]:
    return {"fake": fake.describe(), "real": {**real.describe(), "stats_cached": real.cached},
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
        "authenticity": result.authenticity, "copies": int(result.copies.sum()),
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
