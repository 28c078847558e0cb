"""Reading real (or previously generated) images from disk, in medigan's channel-last layout.

:func:`read_image` returns 2-D images as ``(H, W, C)`` and volumes as ``(D, H, W, C)``, in the dtype the file
stores. Supported: PNG, JPEG, BMP (Pillow), TIFF (tifffile, else Pillow), NumPy ``.npy``, DICOM ``.dcm`` (pydicom)
and NIfTI ``.nii`` / ``.nii.gz`` (nibabel). Pillow, tifffile, pydicom and nibabel are imported only when a file
of their format is read; ``pip install 'medigan-host[formats]'`` installs them all.

Conventions:

- ``.npy``: (H, W) and (H, W, C) are images, (D, H, W, C) a volume, as ``medigan generate --format npy`` writes.
- DICOM: ``RescaleSlope``/``RescaleIntercept`` are applied when they are not 1 and 0 (the result is int32 when
  both are whole numbers, float64 otherwise), except in medigan's own files of cards whose ``value_encoding`` is
  "HU + N": those are read as stored, the model's values, as from its PNG (viewers apply the rescale);
  multi-frame files are volumes (frames along D); MONOCHROME1 images are returned as stored, not inverted.
- Provenance: :func:`read_provenance` returns the record medigan wrote into a file (PNG iTXt, TIFF
  ImageDescription, DICOM private block, NIfTI extension), or None.
- NIfTI: the voxel axes are reordered so that D runs inferior to superior, H anterior to posterior and W
  right to left of the patient (the order of a DICOM axial stack; what medigan's NIfTI writer stores), so an
  axial slice reads like the PNG of it. A volume with one slice is returned as a 2-D image; a 4th (or 5th)
  data axis becomes the channels. ``scl_slope``/``scl_inter`` are applied when set, except in medigan's own files
  of cards whose ``value_encoding`` is "HU + N", which are read as stored (the model's values), as from DICOM.
- TIFF: a multi-page TIFF (or one whose axes name Z, Q, I or T pages) is a volume.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MediganError, MediganUsageError
from .base import PNG_PROVENANCE_KEY, formats_extra

if TYPE_CHECKING:
    import numpy as np

#: File name endings read by :func:`read_image` (lower case; ``.nii.gz`` is one suffix).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy", ".dcm", ".nii", ".nii.gz")


def image_suffix(path: str | os.PathLike[str]) -> str | None:
    """The suffix of ``path`` among :data:`IMAGE_SUFFIXES` (``.nii.gz`` counts as one), or None."""
    name = Path(path).name.lower()
    return next((s for s in sorted(IMAGE_SUFFIXES, key=len, reverse=True) if name.endswith(s) and name != s), None)


#: Files that make a folder a run written by ``medigan generate`` (its images are listed by its manifest).
RUN_FILES = ("run.json", "manifest.jsonl")


def is_run_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a run written by ``medigan generate`` (``run.json`` or ``manifest.jsonl``)."""
    return any((Path(folder) / name).is_file() for name in RUN_FILES)


def list_images(folder: str | os.PathLike[str], suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; hidden files are skipped.

    A run folder that ``medigan generate`` wrote (holding ``run.json`` or ``manifest.jsonl``) gives its images in
    manifest order (by sample index), as the command line reads it; its masks are not images of the set.
    Raises MediganUsageError when the folder is missing, not a folder, or holds no image."""
    folder = Path(folder)
    if not folder.exists():
        raise MediganUsageError(f"image folder {str(folder)!r} does not exist; give a folder of images")
    if not folder.is_dir():
        raise MediganUsageError(f"{str(folder)!r} is not a folder; give a folder of images")
    wanted = {s.lower() for s in suffixes}
    if is_run_folder(folder):
        files = [p for p in run_images(folder) if image_suffix(p) in wanted]
    else:
        files = sorted(p for p in folder.iterdir()
                       if not p.name.startswith(".") and p.is_file() and image_suffix(p) in wanted)
    if not files:
        raise MediganUsageError(f"folder {str(folder)!r} holds no images ({', '.join(sorted(wanted))})")
    return files


def run_images(run: str | os.PathLike[str]) -> list[Path]:
    """A run's image files in manifest order (by sample index); its images/ by name when it has no manifest."""
    import json

    run = Path(run)
    manifest = run / "manifest.jsonl"
    if not manifest.is_file():
        images = run / "images"
        return list_images(images) if images.is_dir() else sorted(
            p for p in run.iterdir() if not p.name.startswith(".") and p.is_file() and image_suffix(p) is not None)
    by_index: dict[int, str] = {}
    with manifest.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                by_index[int(record["index"])] = record["files"]["image"]
            except (ValueError, KeyError, TypeError):
                raise MediganUsageError(f"line {number} of {manifest} is not a medigan manifest record; give the "
                                        "images folder instead") from None
    files = [run / by_index[i] for i in sorted(by_index)]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise MediganUsageError(f"{len(missing)} image(s) listed in {manifest} are missing, e.g. {missing[0]}; complete "
                                "the run with `medigan generate … --resume`, or give the images folder")
    if not files:
        raise MediganUsageError(f"the run in {str(run)!r} holds no images yet ({manifest} is empty)")
    return files


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """One image as (H, W, C) or volume as (D, H, W, C), in the dtype the file stores (see the module notes)."""
    path = Path(path)
    suffix = image_suffix(path)
    if suffix is None:
        raise MediganUsageError(f"cannot read {str(path)!r}: unknown image type; medigan reads {', '.join(IMAGE_SUFFIXES)}")
    if not path.is_file():
        raise MediganUsageError(f"image file {str(path)!r} does not exist")
    reader = _READERS[suffix]
    try:
        array = reader(path)
    except MediganError:
        raise
    except Exception as exc:  # each library raises its own errors for damaged files
        raise MediganError(f"cannot read {str(path)!r} as {suffix[1:].upper()}: {type(exc).__name__}: {exc}") from exc
    return _channel_last(array, path)


def _channel_last(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 2:
        return array[..., None]
    if array.ndim in (3, 4):
        return array
    raise MediganUsageError(f"{str(path)!r} holds an array of shape {array.shape}; expected (H, W), (H, W, C) "
                            "or (D, H, W, C)")


def _need(module: str, path: Path, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MediganError(f"reading {str(path)!r} needs {what}: run `{formats_extra()}`") from None


# -- readers by format ---------------------------------------------------------------------------------
def _read_npy(path: Path) -> np.ndarray:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _read_pillow(path: Path) -> np.ndarray:
    import numpy as np

    image_module = _need("PIL.Image", path, "Pillow")
    with image_module.open(path) as image:
        if getattr(image, "n_frames", 1) > 1:
            raise MediganError(f"{str(path)!r} holds {image.n_frames} pages; reading a stack needs tifffile: "
                               f"run `{formats_extra()}`")
        image.load()
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode == "1":
            image = image.convert("L")
        elif image.mode == "I" and image.format == "PNG":  # 16-bit PNG opened as 32-bit by some Pillow versions
            return np.asarray(image).astype(np.uint16)
        elif image.mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(image).astype(np.uint16)
        return np.asarray(image)


def _read_tiff(path: Path) -> np.ndarray:
    import numpy as np

    try:
        import tifffile
    except ImportError:
        return _read_pillow(path)  # single-page TIFFs only
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        array = series.asarray()
        axes = series.axes
    pages = [i for i, axis in enumerate(axes) if axis in "ZQIT"]
    if len(pages) > 1:
        raise MediganUsageError(f"{str(path)!r} holds a TIFF series with axes {axes!r}; medigan reads one image or "
                                "one stack of pages")
    if not pages and array.ndim == 3 and "S" not in axes:
        raise MediganUsageError(f"{str(path)!r} holds a TIFF series with axes {axes!r}; expected YX, YXS or a stack of pages")
    if pages:
        array = np.moveaxis(array, pages[0], 0)  # pages first: (D, H, W) or (D, H, W, S)
        if array.shape[0] == 1:
            return array[0]
        if array.ndim == 3:
            array = array[..., None]  # a stack of grey pages: (D, H, W) -> (D, H, W, 1)
    return array


def _read_dicom(path: Path) -> np.ndarray:
    import numpy as np

    pydicom = _need("pydicom", path, "pydicom")
    dataset = pydicom.dcmread(path)
    if "PixelData" not in dataset:
        raise MediganUsageError(f"{str(path)!r} is a DICOM file without pixel data (e.g. a report or a structured "
                                "document); give image files")
    if str(dataset.get("SOPClassUID", "")) == "1.2.840.10008.5.1.4.1.1.66.4":  # a Segmentation: its label map
        from .dicom import segmentation_labels

        return segmentation_labels(dataset)[..., None]
    try:
        pixels = dataset.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise MediganError(f"cannot decode the pixels of {str(path)!r} (transfer syntax {name}): {exc}; compressed "
                           "DICOM needs a decoder plugin, e.g. `pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg`"
                           ) from exc
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    colour = int(dataset.get("SamplesPerPixel", 1) or 1) > 1
    if frames > 1:
        pixels = pixels if colour else pixels[..., None]  # (D, H, W, C)
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    from .dicom import AS_GENERATED

    if (slope, intercept) != (1.0, 0.0) and not (_dicom_provenance(dataset) or {}).get(AS_GENERATED):
        if slope.is_integer() and intercept.is_integer():
            pixels = pixels.astype(np.int32) * int(slope) + int(intercept)
        else:
            pixels = pixels.astype(np.float64) * slope + intercept
    return pixels


def _read_nifti(path: Path) -> np.ndarray:
    import numpy as np

    nibabel = _need("nibabel", path, "nibabel")
    image = nibabel.load(str(path))
    from .nifti import AS_GENERATED

    as_generated = (_nifti_provenance(image) or {}).get(AS_GENERATED)
    data = image.dataobj.get_unscaled() if as_generated and hasattr(image.dataobj, "get_unscaled") \
        else np.asanyarray(image.dataobj)
    if data.ndim < 2 or data.ndim > 5:
        raise MediganUsageError(f"{str(path)!r} holds NIfTI data of shape {data.shape}; expected 2 to 5 axes")
    while data.ndim < 3:
        data = data[..., None]
    spatial = data.reshape(*data.shape[:3], -1)  # (x, y, z, C): time or vector components become channels
    orientations = nibabel.orientations
    current = orientations.io_orientation(image.affine)
    wanted = orientations.axcodes2ornt(("L", "P", "S"))
    spatial = orientations.apply_orientation(spatial, orientations.ornt_transform(current, wanted))
    volume = np.ascontiguousarray(np.transpose(spatial, (2, 1, 0, 3)))  # (z, y, x, C) = (D, H, W, C)
    return volume[0] if volume.shape[0] == 1 else volume


def read_provenance(path: str | os.PathLike[str]) -> dict | None:
    """What made a file medigan wrote (model, model_version, seed, ``synthetic``: true …), read from the file itself.

    From a PNG's iTXt chunk ``medigan``, a TIFF's ImageDescription, a DICOM file's private block MEDIGAN, or a NIfTI
    header extension; None for a file without it (another program's, or ``.npy``). A PNG needs no library.
    """
    import json

    path = Path(path)
    suffix = image_suffix(path)
    try:
        if suffix == ".png":
            text = _png_texts(path).get(PNG_PROVENANCE_KEY)
        elif suffix in (".tif", ".tiff"):
            text = _tiff_description(path)
        elif suffix == ".dcm":
            pydicom = _need("pydicom", path, "pydicom")
            return _dicom_provenance(pydicom.dcmread(path, stop_before_pixels=True))
        elif suffix in (".nii", ".nii.gz"):
            nibabel = _need("nibabel", path, "nibabel")
            return _nifti_provenance(nibabel.load(str(path)))
        else:
            return None
        record = json.loads(text) if text else None
    except (OSError, ValueError) as exc:
        raise MediganUsageError(f"cannot read the provenance of {str(path)!r}: {exc}") from None
    return record if isinstance(record, dict) and record.get("generator") == "medigan" else None


def _png_texts(path: Path) -> dict[str, str]:
    """The iTXt and tEXt chunks of a PNG before its image data, keyword -> text."""
    import struct
    import zlib

    texts: dict[str, str] = {}
    with open(path, "rb") as file:
        if file.read(8) != b"\x89PNG\r\n\x1a\n":
            raise ValueError("not a PNG file")
        while True:
            head = file.read(8)
            if len(head) < 8:
                return texts
            length, kind = struct.unpack(">I4s", head)
            if kind in (b"IDAT", b"IEND"):
                return texts
            data = file.read(length)
            file.read(4)  # CRC
            if kind == b"tEXt":
                key, _, value = data.partition(b"\0")
                texts[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == b"iTXt":
                key, _, rest = data.partition(b"\0")
                compressed, method, rest = rest[0], rest[1], rest[2:]
                _language, _, rest = rest.partition(b"\0")
                _translated, _, value = rest.partition(b"\0")
                if compressed and method == 0:
                    value = zlib.decompress(value)
                texts[key.decode("latin-1")] = value.decode("utf-8", "replace")


def _tiff_description(path: Path) -> str | None:
    try:
        import tifffile
    except ImportError:
        image_module = _need("PIL.Image", path, "tifffile or Pillow")
        with image_module.open(path) as image:
            return image.tag_v2.get(270)
    with tifffile.TiffFile(path) as tif:
        return tif.pages[0].description or None


def _nifti_provenance(image: Any) -> dict | None:
    """The JSON of the comment extension that medigan's NIfTI writer adds, or None."""
    import json

    text = next((e.get_content().decode("utf-8", "replace") for e in image.header.extensions
                 if e.get_code() == 6), None)  # 6: comment
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("generator") == "medigan" else None


def _dicom_provenance(dataset: Any) -> dict | None:
    """The JSON of the private block MEDIGAN that medigan's DICOM writer adds, or None."""
    import json

    from .dicom import PRIVATE_CREATOR, PRIVATE_GROUP

    try:
        block = dataset.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        record = json.loads(block[0x01].value)
    except (KeyError, ValueError, TypeError):
        return None
    return record if isinstance(record, dict) and record.get("generator") == "medigan" else None


_READERS = {
    ".png": _read_pillow, ".jpg": _read_pillow, ".jpeg": _read_pillow, ".bmp": _read_pillow,
    ".tif": _read_tiff, ".tiff": _read_tiff, ".npy": _read_npy, ".dcm": _read_dicom, ".nii": _read_nifti, ".nii.gz": _read_nifti,
}
