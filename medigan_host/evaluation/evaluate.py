"""``evaluate``: FID, KID and precision/recall of generated images against real ones, as records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MediganUsageError
from . import DEFAULT_EXTRACTOR
from .extractors import Extractor, load_extractor
from .features import DEFAULT_KEEP, FeatureSet, ImageSet, cached_extract, extract, folder_images, model_images
from .metrics import frechet_distance, kernel_distance, precision_recall
from .records import EvaluationRecord

METRICS = ("fid", "kid", "precision", "recall")


def evaluate(*, real: str | Path, model: str | None = None, fake: str | Path | None = None, n: int | None = None,
             extractor: str | Extractor = DEFAULT_EXTRACTOR, normalization: str | None = None, resize: str | None = None,
             metrics: tuple[str, ...] = METRICS, seed: int = 0, batch_size: int = 50, device: str = "auto",
             keep: int = DEFAULT_KEEP, kid_subsets: int = 100, kid_subset_size: int = 1000, k: int = 3,
             weights_file: str | Path | None = None, use_cache: bool = True,
             progress: Callable[[int], None] | None = None) -> list[EvaluationRecord]:
    """Compare ``n`` samples of ``model`` (default: as many as there are real images), or the first ``n`` images in
    ``fake`` (default: all), with the images in ``real``.

    ``extractor`` is a name (loaded with ``normalization``/``resize``, default: the extractor's own) or a loaded
    :class:`Extractor`. Real-set statistics are cached on disk unless ``use_cache`` is False.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise MediganUsageError(f"unknown metric {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)}")
    if (model is None) == (fake is None):
        raise MediganUsageError("give either a MODEL to generate images from, or --fake DIR with generated images, not both")
    if isinstance(extractor, str):
        extractor = load_extractor(extractor, device=device, normalization=normalization, resize=resize,
                                   weights_file=weights_file)
    real_images = folder_images(real, None, batch_size)
    fake_images: ImageSet = (model_images(model, n or real_images.count, seed=seed, batch_size=batch_size, device=device)
                             if model is not None else folder_images(fake, n, batch_size))
    real_set = cached_extract(real_images, extractor, keep=keep, use_cache=use_cache, progress=progress)
    fake_set = extract(fake_images, extractor, keep=keep, progress=progress)
    return records_for(fake_set, real_set, extractor, metrics, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                       k=k, seed=seed)


def records_for(fake: FeatureSet, real: FeatureSet, extractor: Extractor, metrics: tuple[str, ...] = METRICS, *,
                kid_subsets: int = 100, kid_subset_size: int = 1000, k: int = 3, seed: int = 0) -> list[EvaluationRecord]:
    """The requested metrics between two feature sets, one record each."""
    about = extractor.describe()
    common: dict[str, Any] = {"fake": fake.describe(), "real": {**real.describe(), "stats_cached": real.cached},
                              "extractor": about}
    out = []
    if "fid" in metrics:
        value = frechet_distance(fake.mean, fake.covariance, real.mean, real.covariance)
        out.append(EvaluationRecord("fid", value, **common))
    if "kid" in metrics:
        kid = kernel_distance(fake.kept, real.kept, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        out.append(EvaluationRecord("kid", kid.mean, **common, details={
            "std": kid.std, "subsets": kid.subsets, "subset_size": kid.subset_size, "kernel": "(x.y/d + 1)^3",
            "n_fake_used": len(fake.kept), "n_real_used": len(real.kept)}))
    if "precision" in metrics or "recall" in metrics:
        pr = precision_recall(fake.kept, real.kept, k=k)
        details = {"k": k, "n_fake_used": len(fake.kept), "n_real_used": len(real.kept)}
        for name, value in (("precision", pr.precision), ("recall", pr.recall)):
            if name in metrics:
                out.append(EvaluationRecord(name, value, **common, details=details))
    return out
