"""Image sets -> streamed feature statistics, with real-set statistics cached on disk.

An image set is a folder (read with :mod:`medigan_host.formats.readers`) or ``n`` samples of an installed model. Its
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
from .preprocess import Window, default_window
from .stats import RunningStats

#: Feature vectors kept per set for KID and precision/recall (FID always uses every image).
DEFAULT_KEEP = 5000
_STATS_FORMAT = 2


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
    #: The intensity window the images were mapped to [0, 1] with (``Window.to_dict``).
    window: dict[str, Any] | None = None
    #: The first image's (height, width) and channels, and the modality its model card declares (None: unknown).
    size: tuple[int, int] | None = None
    channels: int | None = None
    modality: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "n": self.count, "sha256": self.sha256, "window": self.window,
                "image_size": list(self.size) if self.size else None, "channels": self.channels,
                "modality": self.modality}


@dataclass
class ImageSet:
    """Images to evaluate: ``batches()`` yields (N, H, W, C) arrays; ``key`` identifies the set cheaply (for the
    cache), ``sha256()`` hashes its content once it has been read."""

    source: str
    count: int
    key: str
    batches: Callable[[], Iterator[np.ndarray]]
    digest: Any  # hashlib object fed while batches are read
    #: The intensity window declared for the set (by --window, a model card or the files); None: the dtype's own.
    window: Window | None = None
    #: The dtype of the set's first image when known before extraction (folders), else None.
    dtype: str | None = None
    #: Names of the images by position (file paths, or "sample i") and a reader of the images at given positions.
    label: Callable[[int], str] = str
    pick: Callable[[Sequence[int]], list[np.ndarray]] | None = None
    #: The modality of the model that made the images (its card's), when known.
    modality: str | None = None


def folder_images(folder: str | Path, limit: int | None = None, batch_size: int = 50,
                  window: Window | None = None) -> ImageSet:
    """The images of a folder (PNG, JPEG, TIFF, NPY, DICOM, NIfTI); ``limit`` takes the first ones.

    A folder medigan wrote (holding ``run.json`` or ``manifest.jsonl``) is read as its images in manifest order; any
    other folder as the images directly in it, sorted by name. ``window`` (else the model card's ``display_range`` of
    a run, else a DICOM window or NIfTI ``cal_min``/``cal_max`` of the first file) maps intensities to [0, 1].
    """
    from ..formats.readers import read_image

    files, declared = image_files(folder)
    files = files[:limit]
    window = window or declared or _file_window(files[0])
    listing = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
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

    return ImageSet(str(folder), len(files), key, batches, digest, window, str(read_image(files[0]).dtype),
                    label=lambda i: str(files[i]), pick=lambda indices: [read_image(files[i]) for i in indices],
                    modality=folder_modality(folder))


def folder_modality(folder: str | Path) -> str | None:
    """The modality of the model that wrote a run folder (or its images/ folder), from its card; None otherwise."""
    folder = Path(folder)
    run = folder if (folder / "run.json").is_file() else folder.parent if (folder.parent / "run.json").is_file() else None
    if run is None:
        return None
    try:
        from ..api import installed_catalog

        model = json.loads((run / "run.json").read_text(encoding="utf-8")).get("model")
        return installed_catalog().get(model).card.modality if isinstance(model, str) else None
    except Exception:  # noqa: BLE001 - the run's model is not installed here, or run.json is unreadable: unknown
        return None


RUN_FILES = ("run.json", "manifest.jsonl")


def image_files(folder: str | Path) -> tuple[list[Path], Window | None]:
    """The image files of ``folder`` and the window its run declares (see :func:`folder_images`).

    A folder without images says where images were found below it.
    """
    from ..errors import MediganError
    from ..formats.readers import list_images, run_images

    folder = Path(folder)
    run = folder if any((folder / name).is_file() for name in RUN_FILES) else None
    if run is None and folder.name == "images" and any((folder.parent / name).is_file() for name in RUN_FILES):
        run = folder.parent  # a run's images/ folder: the run says how to read them
    if run is not None:
        _refuse_incomplete(run)
    if run is not None and run == folder:
        files = run_images(run)  # manifest order (by sample index); images/ by name without a manifest
    else:
        try:
            files = list_images(folder)
        except MediganUsageError as exc:
            if not folder.is_dir():
                raise
            raise MediganUsageError(f"{exc}{_images_below(folder)}") from None
    try:
        declared = _run_window(run) if run is not None else None
    except (MediganError, ValueError, OSError):
        declared = None  # the run's model is not installed here (or run.json is unreadable): the files say the range
    return files, declared


def _refuse_incomplete(run: Path) -> None:
    """A run whose ``run.json`` says ``"complete": false`` stopped before its last sample (killed, or ended by its
    plugin): evaluating it would measure a part of it."""
    try:
        settings = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(settings, dict) and settings.get("complete") is False:
        from ..errors import OutputError

        raise OutputError(f"the run in {str(run)!r} is incomplete: it stopped before its last sample of "
                          f"{settings.get('n')}. Complete it with `medigan generate {settings.get('model')} -n "
                          f"{settings.get('n')} -o {run} --resume` (same settings), then evaluate it")


def _run_window(run: Path) -> Window | None:
    """The window of a run's files: its model card's ``display_range`` (stored values; DICOM files carry their own),
    else the full 16-bit range for ``png16`` runs; None where the dtype says the range."""
    from ..api import installed_catalog

    settings = json.loads((run / "run.json").read_text(encoding="utf-8")) if (run / "run.json").is_file() else {}
    if settings.get("format") in ("dicom",) or "model" not in settings:
        return None
    card = installed_catalog().get(settings["model"]).card
    declared = card_window(card)
    if declared is not None:
        return declared
    if settings.get("format") == "png16":
        return Window(0.0, 65535.0, f"png16 run of {card.id}: full 16-bit range")
    return None


def card_window(card: Any) -> Window | None:
    """A model card's ``display_range`` as a window, or None."""
    declared = card.extra.get("display_range")
    if (isinstance(declared, Sequence) and len(declared) == 2 and all(isinstance(v, (int, float)) for v in declared)
            and float(declared[1]) > float(declared[0])):
        return Window(float(declared[0]), float(declared[1]), f"display_range of {card.id} (model card)")
    return None


def _file_window(path: Path) -> Window | None:
    """The window a DICOM (Window Center/Width) or NIfTI (cal_min/cal_max) file declares, or None."""
    from ..formats.readers import image_suffix

    suffix = image_suffix(path)
    try:
        if suffix == ".dcm":
            import pydicom

            dataset = pydicom.dcmread(path, stop_before_pixels=True)
            centre, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
            if centre is None or width is None:
                return None
            centre = float(centre[0] if isinstance(centre, Sequence) else centre)
            width = float(width[0] if isinstance(width, Sequence) else width)
            if width > 0:
                return Window(centre - width / 2, centre + width / 2, f"DICOM Window Center/Width of {path.name}")
        elif suffix in (".nii", ".nii.gz"):
            import nibabel

            header = nibabel.load(str(path)).header
            low, high = float(header["cal_min"]), float(header["cal_max"])
            if high > low:
                return Window(low, high, f"NIfTI cal_min/cal_max of {path.name}")
    except ImportError:
        return None  # reading the images names the package to install
    except Exception:  # noqa: BLE001 - a damaged header: the reader reports the file when it reads the pixels
        return None
    return None


def _images_below(folder: Path, shown: int = 5, depth: int = 3, budget: int = 20000) -> str:
    """'; images were found below it in …' naming folders below ``folder`` that hold images, or medigan runs
    (reported as one folder, not their images/ and masks/), up to ``depth`` levels down; '' when there are none."""
    import os

    from ..formats.readers import image_suffix

    found: dict[str, str] = {}
    seen = 0
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        level = len(here.relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if level < depth else []
        seen += len(names) + len(dirs)
        if here != folder and any(n in names for n in RUN_FILES):
            found[str(here)] = "a medigan run"
            dirs[:] = []
        elif here != folder:
            count = sum(1 for n in names if not n.startswith(".") and image_suffix(n) is not None)
            if count:
                found[str(here)] = f"{count} image files"
        if seen > budget or len(found) > shown:
            break
    if not found:
        return ""
    names = [f"{path} ({what})" for path, what in list(found.items())[:shown]]
    more = " and more" if len(found) > shown else ""
    return f"; images were found below it in {', '.join(names)}{more}: give one of those folders"


def model_images(model: str, count: int, *, seed: int = 0, batch_size: int = 50, device: str = "auto",
                 condition: dict[str, Any] | None = None, window: Window | None = None) -> ImageSet:
    """``count`` samples of an installed model, generated in memory with the run seed ``seed``; ``window`` defaults to
    the card's ``display_range``."""
    from ..api import installed_catalog
    from ..generation.engine import generate

    entry = installed_catalog().get(model)
    if entry.card.ndim != 2:
        raise MediganUsageError(f"model {entry.card.id!r} makes 3-D volumes; evaluation works on 2-D images")
    if entry.card.needs_inputs:
        raise MediganUsageError(f"model {entry.card.id!r} translates input images ({entry.card.input}), so there is no set of "
                                f"its samples without inputs: write them with `medigan generate {entry.card.id} --inputs DIR "
                                "-o OUT`, then `medigan evaluate --fake OUT/images --real REAL`")
    window = window or card_window(entry.card)
    description = {"model": entry.card.id, "version": entry.card.version, "plugin_version": entry.plugin_version,
                   "seed": seed, "n": count, "condition": condition, "window": window.to_dict() if window else None}
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
    digest = hashlib.sha256()

    def batches() -> Iterator[np.ndarray]:
        for samples in generate(entry.card.id, count, seed=seed, batch_size=batch_size, device=device, condition=condition):
            digest.update(np.ascontiguousarray(samples.images).tobytes())
            yield samples.images

    def pick(indices: Sequence[int]) -> list[np.ndarray]:
        wanted = set(indices)
        found: dict[int, np.ndarray] = {}
        for samples in generate(entry.card.id, max(wanted) + 1, seed=seed, batch_size=batch_size, device=device,
                                condition=condition):
            found.update((i, image) for i, image in zip(samples.indices, samples.images, strict=True) if i in wanted)
        return [found[i] for i in indices]

    return ImageSet(f"{entry.card.id} {entry.card.version} (seed {seed})", count, key, batches, digest, window,
                    label=lambda i: f"{entry.card.id} sample {i} (seed {seed})", pick=pick, modality=entry.card.modality)


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
    window = images.window
    shape = None
    for batch in images.batches():
        window = window or default_window(batch.dtype)
        shape = shape or batch.shape[1:]
        take = max(min(keep - held, len(batch)), 0)
        for extractor, running, vectors in zip(extractors, stats, kept, strict=True):
            try:
                features = extractor.features(batch, images.window)
            except MediganUsageError as exc:
                raise MediganUsageError(f"{images.source}: {exc}") from None
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
                       images.source, digest, window=window.to_dict() if window else None,
                       size=(int(shape[0]), int(shape[1])) if shape else None,
                       channels=int(shape[2]) if shape else None, modality=images.modality)
            for e, running, vectors in zip(extractors, stats, kept, strict=True)]


# -- the real-set statistics cache ----------------------------------------------------------------------------
def stats_folder() -> Path:
    """``<medigan cache>/stats``: cached statistics of real image sets."""
    from ..weights import cache_root

    return cache_root() / "stats"


def cache_key(images: ImageSet, extractor: Extractor, keep: int) -> str:
    """The extractor, its weights, the preprocessing and window, the kept count and the exact file list (names,
    sizes, times)."""
    parts = {**extractor.describe(), "keep": keep, "images": images.key, "format": _STATS_FORMAT,
             "window": images.window.to_dict() if images.window else None}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cached_extract(images: ImageSet, extractor: Extractor, *, keep: int = DEFAULT_KEEP, use_cache: bool = True,
                   progress: Callable[[int], None] | None = None) -> FeatureSet:
    """:func:`extract`, read from / written to the statistics cache (written atomically; a damaged entry is recomputed)."""
    path = stats_folder() / f"{cache_key(images, extractor, keep)}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                size = meta.get("image_size")
                return FeatureSet(data["mean"], data["covariance"], int(meta["count"]), data["kept"], images.source,
                                  meta["sha256"], cached=True, window=meta.get("window"),
                                  size=tuple(size) if size else None, channels=meta.get("channels"),
                                  modality=images.modality)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # damaged: computed again below
    features = extract(images, extractor, keep=keep, progress=progress)
    if use_cache:
        buffer = io.BytesIO()
        meta = json.dumps({"count": features.count, "sha256": features.sha256, "source": images.source,
                           "window": features.window, "image_size": list(features.size) if features.size else None,
                           "channels": features.channels})
        np.savez(buffer, mean=features.mean, covariance=features.covariance, kept=features.kept, meta=np.array(meta))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(path, buffer.getvalue())
        except OSError as exc:
            import warnings

            warnings.warn(f"could not cache the statistics of {images.source} in {path.parent}: {exc}", stacklevel=2)
    return features
