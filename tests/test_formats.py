"""Medical output formats: NIfTI, DICOM and 16-bit TIFF files hold the generated arrays, record where they came
from, are byte-identical on reruns, and (DICOM) pass a DICOM validator when one is installed."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import card, run_cli

import medigan_host
from medigan_host import CardError, FrameworkMissingError, MediganUsageError, hookimpl
from medigan_host.formats.readers import read_image, read_provenance
from medigan_host.formats.writers import formats_extra, get_writer, to_uint

nibabel = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")
tifffile = pytest.importorskip("tifffile")

FORMATS = {"nifti": "nii", "nifti-gz": "nii.gz", "dicom": "dcm", "tiff": "tif"}


class _Shapes:
    """Small fast models: grey and colour images and volumes, with spacing and a CT-like rescale on the card."""

    CARDS = {
        "grey-2d": {"image_size": [12, 16], "channels": 1, "outputs": "image+mask", "anatomy": "breast",
                    "modality": "mammography", "spacing": [0.5, 0.25], "conditions": {"lesion": ["absent", "present"]}},
        "rgb-2d": {"image_size": [10, 14], "channels": 3, "modality": "histology"},
        "grey-3d": {"image_size": [5, 12, 16], "channels": 1, "outputs": "image+mask", "spacing": [2.0, 0.5, 0.5]},
        "rgb-3d": {"image_size": [3, 8, 8], "channels": 3},
        "hu-2d": {"image_size": [8, 8], "channels": 1, "rescale": {"slope": 1, "intercept": -1024, "unit": "HU"}},
        "two-channels": {"image_size": [8, 8], "channels": 2},
        "mr-2d": {"image_size": [8, 6], "channels": 1, "modality": "mri", "spacing": [0.7, 0.4],
                  "orientation": [1, 0, 0, 0, 0, -1]},
    }

    @hookimpl
    def medigan_register_models(self, register):
        for model_id, fields in self.CARDS.items():
            register(card(model_id, **fields), self.load)

    def load(self, model_card, device):
        return _ShapesGenerator(model_card)


class _ShapesGenerator:
    def __init__(self, model_card) -> None:
        self.card = model_card

    def generate(self, seeds, *, condition=None, inputs=None):
        shape = (*self.card.image_size, self.card.channels)
        images = np.stack([np.random.default_rng(s).integers(0, 4096, shape, dtype=np.uint16) for s in seeds])
        if self.card.channels != 1:
            images = (images >> 4).astype(np.uint8)
        out = {"images": images}
        if self.card.has_masks:
            out["masks"] = np.stack([np.random.default_rng(s + 1).integers(0, 3, (*self.card.image_size, 1), dtype=np.uint8)
                                     for s in seeds])
        return out


@pytest.fixture
def shapes():
    medigan_host.register_plugin(_Shapes(), name="shapes")


def _batch(model: str, n: int, seed: int, **options):
    return next(iter(medigan_host.generate(model, n, seed=seed, batch_size=n, **options)))


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.parent != folder}


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_hold_the_generated_images_and_masks(fmt, tmp_path):
    medigan_host.generate("ct-head-phantom", 2, tmp_path / "run", seed=4, format=fmt)
    batch = _batch("ct-head-phantom", 2, 4)
    for index in range(2):
        image = read_image(tmp_path / "run" / "images" / f"{index:06d}.{FORMATS[fmt]}")
        mask = read_image(tmp_path / "run" / "masks" / f"{index:06d}.{FORMATS[fmt]}")
        assert image.dtype == np.uint16 and np.array_equal(image, batch.images[index])
        assert np.array_equal(mask, batch.masks[index])


@pytest.mark.parametrize("fmt", FORMATS)
def test_volumes_and_colour(fmt, shapes, tmp_path):
    for model in ("grey-3d", "rgb-2d", "rgb-3d"):
        medigan_host.generate(model, 1, tmp_path / model, seed=2, format=fmt)
        batch = _batch(model, 1, 2)
        got = read_image(tmp_path / model / "images" / f"000000.{FORMATS[fmt]}")
        expected = to_uint(batch.images[0], 16) if fmt == "tiff" else batch.images[0]
        assert got.shape == batch.images[0].shape and np.array_equal(got, expected), (model, fmt)
    mask = read_image(tmp_path / "grey-3d" / "masks" / f"000000.{FORMATS[fmt]}")
    assert np.array_equal(mask, _batch("grey-3d", 1, 2).masks[0])


def test_float_images_round_trip_through_dicom_within_the_stated_error(tmp_path):
    medigan_host.generate("mri-brain-phantom-3d", 1, tmp_path / "dcm", seed=1, format="dicom")
    medigan_host.generate("mri-brain-phantom-3d", 1, tmp_path / "nii", seed=1, format="nifti")
    volume = _batch("mri-brain-phantom-3d", 1, 1).images[0].astype(np.float64)
    path = tmp_path / "dcm/images/000000.dcm"
    dataset = pydicom.dcmread(path)
    slope, intercept = float(dataset.RescaleSlope), float(dataset.RescaleIntercept)
    # 16-bit levels over the sample's own range: slope = (max - min) / 65535, the error at most half a level
    assert slope == pytest.approx((volume.max() - volume.min()) / 65535, rel=1e-6)
    assert intercept == pytest.approx(volume.min(), abs=1e-9)
    stated = read_provenance(path)["rescale_max_error"]
    assert stated == pytest.approx(slope / 2, rel=1e-5) and stated < 1e-5
    theirs = pydicom.pixels.apply_rescale(dataset.pixel_array, dataset)  # pydicom's own modality LUT
    assert np.abs(theirs[..., None] - volume).max() <= stated * 1.001
    mine = read_image(path)
    assert mine.dtype == np.float64 and np.abs(mine - volume).max() <= stated * 1.001
    nifti = read_image(tmp_path / "nii/images/000000.nii")
    assert nifti.dtype == np.float32 and np.array_equal(nifti, volume.astype(np.float32))


@pytest.mark.parametrize("fmt", FORMATS)
def test_reruns_are_byte_identical_and_resume(fmt, tmp_path):
    medigan_host.generate("ct-head-phantom", 3, tmp_path / "a", seed=7, format=fmt, batch_size=1)
    medigan_host.generate("ct-head-phantom", 3, tmp_path / "b", seed=7, format=fmt, batch_size=3)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    (tmp_path / "b" / "images" / f"000001.{FORMATS[fmt]}").unlink()
    result = medigan_host.generate("ct-head-phantom", 3, tmp_path / "b", seed=7, format=fmt, resume=True)
    assert result.generated == 1 and _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    records = [json.loads(line) for line in (tmp_path / "b" / "manifest.jsonl").read_text().splitlines()]
    for record in records:
        for kind, rel in record["files"].items():
            assert hashlib.sha256((tmp_path / "b" / rel).read_bytes()).hexdigest() == record["sha256"][kind]


def test_dicom_marks_the_image_synthetic_and_records_provenance(shapes, tmp_path):
    medigan_host.generate("grey-2d", 2, tmp_path / "run", seed=5, format="dicom", condition={"lesion": "present"})
    batch = _batch("grey-2d", 2, 5, condition={"lesion": "present"})
    image = pydicom.dcmread(tmp_path / "run/images/000001.dcm")
    assert image.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" == image.file_meta.MediaStorageSOPClassUID
    assert image.ConversionType == "SYN" and list(image.ImageType) == ["DERIVED", "SECONDARY"]
    assert image.BurnedInAnnotation == "NO" and str(image.PatientName) == "SYNTHETIC^MEDIGAN"
    assert image.Modality == "MG" and image.InstanceNumber == 2
    assert [float(v) for v in image.PixelSpacing] == [0.5, 0.25]
    assert "StudyDate" in image and not image.StudyDate, "no date: reruns must give the same bytes"
    comments = image.ImageComments
    assert "grey-2d 1.0.0" in comments and f"seed {batch.seeds[1]}" in comments and medigan_host.__version__ in comments
    assert "lesion=present" in comments
    record = json.loads(image.private_block(0x0011, "MEDIGAN")[0x01].value)
    assert record["model"] == "grey-2d" and record["seed"] == batch.seeds[1] and record["run_seed"] == 5
    assert record["index"] == 1 and record["condition"] == {"lesion": "present"} and record["synthetic"] is True
    assert record["host_version"] == medigan_host.__version__ and record["kind"] == "image"

    first = pydicom.dcmread(tmp_path / "run/images/000000.dcm")
    mask = pydicom.dcmread(tmp_path / "run/masks/000001.dcm")
    uids = [d.SOPInstanceUID for d in (first, image, mask)]
    assert len(set(uids)) == 3 and all(pydicom.uid.UID(u).is_valid for u in uids)
    assert first.StudyInstanceUID == image.StudyInstanceUID == mask.StudyInstanceUID
    assert first.SeriesInstanceUID == image.SeriesInstanceUID != mask.SeriesInstanceUID
    assert "segmentation labels" in mask.SeriesDescription
    medigan_host.generate("grey-2d", 1, tmp_path / "other", seed=6, format="dicom")
    assert pydicom.dcmread(tmp_path / "other/images/000000.dcm").StudyInstanceUID != first.StudyInstanceUID


def test_dicom_volumes_are_multiframe_secondary_capture(shapes, tmp_path):
    medigan_host.generate("grey-3d", 1, tmp_path / "grey", seed=1, format="dicom")
    medigan_host.generate("rgb-3d", 1, tmp_path / "rgb", seed=1, format="dicom")
    grey = pydicom.dcmread(tmp_path / "grey/images/000000.dcm")
    assert grey.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.3" and grey.NumberOfFrames == 5 and grey.BitsStored == 16
    assert [float(v) for v in grey.SliceLocationVector] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert pydicom.dcmread(tmp_path / "grey/masks/000000.dcm").SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.2"
    rgb = pydicom.dcmread(tmp_path / "rgb/images/000000.dcm")
    assert rgb.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.4" and rgb.PhotometricInterpretation == "RGB"


def test_card_rescale_gives_physical_values(shapes, tmp_path):
    for fmt in ("dicom", "nifti"):
        medigan_host.generate("hu-2d", 1, tmp_path / fmt, seed=3, format=fmt)
    stored = _batch("hu-2d", 1, 3).images[0]
    hu = read_image(tmp_path / "dicom/images/000000.dcm")
    assert hu.dtype == np.int32 and np.array_equal(hu, stored.astype(np.int32) - 1024)
    assert pydicom.dcmread(tmp_path / "dicom/images/000000.dcm").RescaleType == "HU"
    assert np.array_equal(read_image(tmp_path / "nifti/images/000000.nii"), stored - 1024.0)


def test_nifti_affine_orientation_and_provenance(shapes, tmp_path):
    medigan_host.generate("grey-3d", 1, tmp_path / "run", seed=8, format="nifti")
    image = nibabel.load(str(tmp_path / "run/images/000000.nii"))
    assert nibabel.aff2axcodes(image.affine) == ("L", "P", "S")
    assert image.header.get_zooms() == (0.5, 0.5, 2.0) and image.shape == (16, 12, 5)
    assert image.header.get_xyzt_units()[0] == "mm"
    assert b"grey-3d" in image.header["descrip"].item()
    [extension] = image.header.extensions
    record = json.loads(extension.get_content())
    assert record["model"] == "grey-3d" and record["run_seed"] == 8 and record["kind"] == "image"
    mask = nibabel.load(str(tmp_path / "run/masks/000000.nii"))
    assert mask.header.get_intent()[0] == "label" and np.allclose(mask.affine, image.affine)
    medigan_host.generate("grey-2d", 1, tmp_path / "flat", seed=8, format="nifti")
    flat = nibabel.load(str(tmp_path / "flat/images/000000.nii"))
    assert flat.shape == (16, 12) and flat.header.get_zooms() == (0.25, 0.5)


def test_tiff_is_16_bit_without_timestamps(shapes, tmp_path):
    medigan_host.generate("mammo-breast-phantom", 1, tmp_path / "run", seed=1, format="tiff")
    with tifffile.TiffFile(tmp_path / "run/images/000000.tif") as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and "DateTime" not in page.tags
        assert json.loads(page.description)["model"] == "mammo-breast-phantom"
    with tifffile.TiffFile(tmp_path / "run/masks/000000.tif") as tif:
        assert tif.pages[0].dtype == np.uint8


def test_unsupported_outputs_are_usage_errors(shapes, tmp_path):
    for fmt in ("dicom", "tiff"):
        with pytest.raises(MediganUsageError, match="use --format nifti or npy"):
            medigan_host.generate("two-channels", 1, tmp_path / fmt, format=fmt)
    medigan_host.generate("two-channels", 1, tmp_path / "nii", format="nifti")
    assert read_image(tmp_path / "nii/images/000000.nii").shape == (8, 8, 2)
    with pytest.raises(CardError, match="'spacing': must list 2 positive sizes in mm"):
        medigan_host.ModelCard.from_dict(card("x", spacing=[1.0]))


def test_missing_library_names_the_extra_before_anything_is_written(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(FrameworkMissingError, match=r"dicom format needs pydicom: run " + re.escape(f"`{formats_extra()}`")):
        medigan_host.generate("ct-head-phantom", 1, tmp_path / "run", format="dicom")
    assert not (tmp_path / "run").exists()
    with pytest.raises(FrameworkMissingError, match="needs pydicom"):
        get_writer("dicom").encode(np.zeros((4, 4, 1), np.uint8), "image", {})


def test_cli_writes_dicom(tmp_path):
    result = run_cli("generate", "ct-head-phantom", "-n", "1", "-o", str(tmp_path / "run"), "--format", "dicom")
    assert result.returncode == 0, result.stderr
    assert pydicom.dcmread(tmp_path / "run/images/000000.dcm").Modality == "CT"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy is not installed")
def test_dicom_files_pass_the_dciodvfy_validator(shapes, tmp_path):
    for model in ("grey-2d", "rgb-2d", "grey-3d", "rgb-3d", "hu-2d", "mr-2d"):
        medigan_host.generate(model, 1, tmp_path / model, seed=1, format="dicom")
    for model in ("ct-head-phantom", "mammo-breast-phantom", "mri-brain-phantom-3d"):  # CT Image, SC, float volume
        medigan_host.generate(model, 1, tmp_path / model, seed=1, format="dicom")
    files = sorted(tmp_path.rglob("*.dcm"))
    assert len(files) == 13  # nine images, four masks
    classes = {pydicom.dcmread(path, stop_before_pixels=True).SOPClassUID for path in files}
    assert {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.7.3"} <= classes
    for path in files:
        report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        # Synthetic Data (0008,001C) is a standard attribute (pydicom's dictionary names it SyntheticData) that
        # dicom3tools builds from before its addition to the standard (Debian 12's, 2022-06) do not know yet
        errors = [line for line in (report.stdout + report.stderr).splitlines()
                  if line.startswith("Error") and "(0x0008,0x001c)" not in line]
        assert not errors, f"{path.relative_to(tmp_path)}: {errors}"
