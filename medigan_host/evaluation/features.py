"""Image sets -> streamed feature statistics, with real-set statistics cached on disk.

An image set is a folder (read with :mod:`medigan_host.readers`) or ``n`` samples of an installed model. Its
features are streamed through :class:`RunningStats` (float64 mean and covariance, O(dim²) memory however many
images), and the first ``keep`` feature vectors are kept for KID and precision/recall.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..errors import MediganUsageError
from .extractors import Extractor
from .stats import RunningStats

#: Feature vectors kept per set for KID and precision/recall (FID always uses every image).
DEFAULT_KEEP = 5000
_STATS_FORMAT = 1


@dataclass
class FeatureSet:
    """One image set's features: streamed statistics, the kept vectors, and where the images came from."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int
    kept: np.ndarray
    source: str
    sha256: str
    cached: bool = False

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "n": self.count, "sha256": self.sha256}


@dataclass
class ImageSet:
    """Images to evaluate: ``batches()`` yields (N, H, W, C) arrays; ``key`` identifies the set cheaply (for the
    cache), ``sha256()`` hashes its content once it has been read."""

    source: str
    count: int
    key: str
    batches: Callable[[], Iterator[np.ndarray]]
    digest: Any  # hashlib object fed while batches are read


def folder_images(folder: str | Path, limit: int | None = None, batch_size: int = 50) -> ImageSet:
    """The images of a folder, sorted by name (PNG, JPEG, TIFF, NPY, DICOM, NIfTI); ``limit`` takes the first ones."""
    from ..readers import list_images, read_image

    files = list_images(folder)[:limit]
    listing = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha256(json.dumps([str(Path(folder).resolve()), listing]).encode()).hexdigest()
    digest = hashlib.sha256()

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, len(files), batch_size):
            images = []
            for path in files[start:start + batch_size]:
                digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
                image = read_image(path)
                if image.ndim != 3:
                    raise MediganUsageError(f"{path} is a volume of shape {image.shape}; evaluation works on 2-D images: "
                                            "save the slices to compare as 2-D image files")
                images.append(image)
            yield from _same_shape_runs(images)

    return ImageSet(str(folder), len(files), key, batches, digest)


def model_images(model: str, count: int, *, seed: int = 0, batch_size: int = 50, device: str = "auto",
                 condition: dict[str, Any] | None = None) -> ImageSet:
    """``count`` samples of an installed model, generated in memory with the run seed ``seed``."""
    from ..engine import generate
    from ..plugins import get_host

    entry = get_host().catalog.get(model)
    if entry.card.ndim != 2:
        raise MediganUsageError(f"model {entry.card.id!r} makes 3-D volumes; evaluation works on 2-D images")
    if entry.card.needs_inputs:
        raise MediganUsageError(f"model {entry.card.id!r} translates input images ({entry.card.input}), so there is no set of "
                                f"its samples without inputs: write them with `medigan generate {entry.card.id} --inputs DIR "
                                "-o OUT`, then `medigan evaluate --fake OUT/images --real REAL`")
    description = {"model": entry.card.id, "version": entry.card.version, "plugin_version": entry.plugin_version,
                   "seed": seed, "n": count, "condition": condition}
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
    digest = hashlib.sha256()

    def batches() -> Iterator[np.ndarray]:
        for samples in generate(entry.card.id, count, seed=seed, batch_size=batch_size, device=device, condition=condition):
            digest.update(np.ascontiguousarray(samples.images).tobytes())
            yield samples.images

    return ImageSet(f"{entry.card.id} {entry.card.version} (seed {seed})", count, key, batches, digest)


def _same_shape_runs(images: list[np.ndarray]) -> Iterator[np.ndarray]:
    """Consecutive images of one shape and dtype stacked into one batch (order kept)."""
    run: list[np.ndarray] = []
    for image in images:
        if run and (image.shape != run[0].shape or image.dtype != run[0].dtype):
            yield np.stack(run)
            run = []
        run.append(image)
    if run:
        yield np.stack(run)


def extract(images: ImageSet, extractor: Extractor, *, keep: int = DEFAULT_KEEP,
            progress: Callable[[int], None] | None = None) -> FeatureSet:
    """Stream every image through the extractor; keep the first ``keep`` feature vectors."""
    return extract_many(images, [extractor], keep=keep, progress=progress)[0]


def extract_many(images: ImageSet, extractors: Sequence[Extractor], *, keep: int = DEFAULT_KEEP,
                 progress: Callable[[int], None] | None = None) -> list[FeatureSet]:
    """One pass over the images (read or generated once) feeding every extractor; one FeatureSet per extractor."""
    stats = [RunningStats(e.spec.feature_dim) for e in extractors]
    kept: list[list[np.ndarray]] = [[] for _ in extractors]
    held = 0
    for batch in images.batches():
        take = max(min(keep - held, len(batch)), 0)
        for extractor, running, vectors in zip(extractors, stats, kept, strict=True):
            features = extractor.features(batch)
            running.update(features)
            if take:
                vectors.append(features[:take].astype(np.float32))
        held += take
        if progress is not None:
            progress(len(batch))
    count = stats[0].count if stats else 0
    if count < 2:
        raise MediganUsageError(f"{images.source} gave {count} image(s); FID needs at least 2 in each set")
    digest = images.digest.hexdigest()
    return [FeatureSet(running.mean, running.covariance, running.count,
                       np.concatenate(vectors) if vectors else np.zeros((0, e.spec.feature_dim), np.float32),
                       images.source, digest)
            for e, running, vectors in zip(extractors, stats, kept, strict=True)]


# -- the real-set statistics cache ----------------------------------------------------------------------------
def stats_folder() -> Path:
    """``<medigan cache>/stats``: cached statistics of real image sets."""
    from ..weights import cache_root

    return cache_root() / "stats"


def cache_key(images: ImageSet, extractor: Extractor, keep: int) -> str:
    """The extractor, its weights, the preprocessing, the kept count and the exact file list (names, sizes, times)."""
    parts = {**extractor.describe(), "keep": keep, "images": images.key, "format": _STATS_FORMAT}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cached_extract(images: ImageSet, extractor: Extractor, *, keep: int = DEFAULT_KEEP, use_cache: bool = True,
                   progress: Callable[[int], None] | None = None) -> FeatureSet:
    """:func:`extract`, read from / written to the statistics cache (written atomically; a damaged entry is recomputed)."""
    path = stats_folder() / f"{cache_key(images, extractor, keep)}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return FeatureSet(data["mean"], data["covariance"], int(meta["count"]), data["kept"], images.source,
                                  meta["sha256"], cached=True)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # damaged: computed again below
    features = extract(images, extractor, keep=keep, progress=progress)
    if use_cache:
        buffer = io.BytesIO()
        meta = json.dumps({"count": features.count, "sha256": features.sha256, "source": images.source})
        np.savez(buffer, mean=features.mean, covariance=features.covariance, kept=features.kept, meta=np.array(meta))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(path, buffer.getvalue())
        except OSError as exc:
            import warnings

            warnings.warn(f"could not cache the statistics of {images.source} in {path.parent}: {exc}", stacklevel=2)
    return features
