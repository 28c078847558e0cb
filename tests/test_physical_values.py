"""One sample, one set of physical values, whatever the format: a CT run written as NIfTI, DICOM, TIFF and NPY reads
the same Hounsfield units through nibabel, pydicom (with its rescale), MONAI's ``LoadImaged`` and tifffile; the
card's spacing and orientation put every format's voxels at the same place in the patient."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import card

import medigan_host
from medigan_host import CardError, hookimpl
from medigan_host.formats.readers import read_image

nibabel = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")
tifffile = pytest.importorskip("tifffile")

FORMATS = {"npy": "npy", "nifti": "nii", "nifti-gz": "nii.gz", "dicom": "dcm", "tiff": "tif"}


@pytest.fixture(scope="module")
def ct_runs(tmp_path_factory):
    """ct-head-phantom (HU + 1024 in uint16), two samples, written once in every format."""
    root = tmp_path_factory.mktemp("ct")
    for fmt in FORMATS:
        medigan_host.generate("ct-head-phantom", 2, root / fmt, seed=11, format=fmt)
    model = medigan_host.load_model("ct-head-phantom", device="cpu")
    seeds = [json.loads(line)["seed"] for line in (root / "npy/manifest.jsonl").read_text().splitlines()]
    stored = model.generate(seeds).images[..., 0].astype(np.int32)  # (N, H, W): HU + 1024
    return root, stored - 1024


def _file(root, fmt, index=0):
    return root / fmt / "images" / f"{index:06d}.{FORMATS[fmt]}"


def _tiff_hu(path):
    with tifffile.TiffFile(path) as tif:
        rescale = json.loads(tif.pages[0].description)["rescale"]
        return tif.asarray() * rescale["slope"] + rescale["intercept"], rescale["unit"]


def test_the_same_ct_sample_reads_the_same_hu_in_every_format(ct_runs):
    root, hu = ct_runs
    for index in range(2):
        # nibabel applies scl_slope / scl_inter; voxel (i, j) is (column, row) of the image
        image = nibabel.load(str(_file(root, "nifti", index)))
        assert float(image.dataobj.slope) == 1.0 and float(image.dataobj.inter) == -1024.0
        assert np.array_equal(image.get_fdata().T, hu[index])
        assert np.array_equal(nibabel.load(str(_file(root, "nifti-gz", index))).get_fdata().T, hu[index])
        # pydicom's modality LUT (RescaleSlope / RescaleIntercept)
        dataset = pydicom.dcmread(_file(root, "dicom", index))
        assert dataset.RescaleType == "HU" and dataset.Modality == "CT"
        assert np.array_equal(pydicom.pixels.apply_rescale(dataset.pixel_array, dataset), hu[index])
        # tifffile with the rescale the file's description states
        values, unit = _tiff_hu(_file(root, "tiff", index))
        assert unit == "HU" and np.array_equal(values, hu[index])
        # NPY holds the model's values, the card's value_encoding says how they map to HU
        assert np.array_equal(np.load(_file(root, "npy", index))[..., 0].astype(np.int32) - 1024, hu[index])
    card_ = medigan_host.get_card("ct-head-phantom")
    assert card_.extra["value_encoding"].startswith("HU + 1024")


def test_medigan_reads_its_own_ct_files_as_generated_in_every_format(ct_runs):
    """medigan's reader returns the model's values (what --inputs of an image-to-image model needs) from each format."""
    root, hu = ct_runs
    for fmt in FORMATS:
        mine = read_image(_file(root, fmt, 1))[..., 0].astype(np.int32)
        assert np.array_equal(mine, hu[1] + 1024), fmt


def test_monai_loadimaged_reads_the_same_hu_from_nifti_and_dicom(ct_runs):
    pytest.importorskip("torch")
    transforms = pytest.importorskip("monai.transforms")
    root, hu = ct_runs
    for fmt, reader in (("nifti", "NibabelReader"), ("nifti-gz", "NibabelReader"), ("dicom", "PydicomReader")):
        load = transforms.Compose([transforms.LoadImaged(keys="image", image_only=True, reader=reader),
                                   transforms.EnsureChannelFirstd(keys="image")])
        item = load({"image": str(_file(root, fmt, 0))})["image"]
        values = np.asarray(item)[0]  # MONAI's (i, j) = (column, row)
        assert values.shape == hu[0].T.shape, fmt
        assert np.array_equal(values.T, hu[0]), fmt
        spacing = np.abs(np.diag(np.asarray(item.meta["affine"]))[:2])
        assert np.allclose(spacing, [1.0, 1.0]), fmt  # the phantom card gives no spacing: 1 mm, as documented


def test_2d_ct_dicom_is_a_ct_image_with_geometry_and_its_seg_references_it(ct_runs):
    root, _ = ct_runs
    images = [pydicom.dcmread(_file(root, "dicom", i)) for i in range(2)]
    for ds in images:
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
        assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0]
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.ImagePositionPatient] == [0, 0, 0]
        assert ds.FrameOfReferenceUID == images[0].FrameOfReferenceUID
        assert ds.SyntheticData == "YES" and "ConversionType" not in ds
    pytest.importorskip("highdicom")
    seg = pydicom.dcmread(root / "dicom/masks/000001.dcm")
    assert seg.FrameOfReferenceUID == images[1].FrameOfReferenceUID
    assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == images[1].SOPInstanceUID


class _Oriented:
    """A sagittal volume and an image with spacing, orientation and a rescale on their cards."""

    CARDS = {
        "sagittal-3d": {"image_size": [4, 6, 5], "channels": 1, "modality": "mri", "spacing": [3.0, 0.8, 0.6],
                        "orientation": [0, 1, 0, 0, 0, -1]},
        "scaled-2d": {"image_size": [6, 5], "channels": 1, "modality": "mri", "spacing": [0.7, 0.4],
                      "rescale": {"slope": 0.5, "intercept": -10, "unit": "MU"}},
    }

    @hookimpl
    def medigan_register_models(self, register):
        for model_id, fields in self.CARDS.items():
            register(card(model_id, **fields), self.load)

    def load(self, model_card, device):
        return self

    def generate(self, seeds, *, condition=None, inputs=None):
        return {"images": np.stack([np.random.default_rng(s).integers(0, 4000, (*self.size, 1), dtype=np.uint16)
                                    for s in seeds])}


@pytest.fixture
def oriented():
    plugin = _Oriented()
    medigan_host.register_plugin(plugin, name="oriented")
    return plugin


def test_orientation_and_spacing_place_nifti_and_dicom_voxels_at_the_same_point(oriented, tmp_path):
    oriented.size = (4, 6, 5)
    medigan_host.generate("sagittal-3d", 1, tmp_path / "nii", seed=1, format="nifti")
    medigan_host.generate("sagittal-3d", 1, tmp_path / "dcm", seed=1, format="dicom")
    affine = nibabel.load(str(tmp_path / "nii/images/000000.nii")).affine
    ds = pydicom.dcmread(tmp_path / "dcm/images/000000.dcm")
    shared = ds.SharedFunctionalGroupsSequence[0]
    cosines = np.array([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
    assert cosines.tolist() == [0, 1, 0, 0, 0, -1]
    row_mm, col_mm = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)  # between rows, columns
    assert (row_mm, col_mm) == (0.8, 0.6)
    positions = [np.array([float(v) for v in g.PlanePositionSequence[0].ImagePositionPatient])
                 for g in ds.PerFrameFunctionalGroupsSequence]
    for d, h, w in [(0, 0, 0), (3, 5, 4), (1, 2, 3), (2, 0, 4)]:
        lps = positions[d] + w * col_mm * cosines[:3] + h * row_mm * cosines[3:]
        ras = affine @ np.array([w, h, d, 1.0])  # NIfTI voxel (i, j, k) = (column, row, slice)
        assert np.allclose(ras[:3], lps * [-1, -1, 1]), (d, h, w)
    assert np.allclose(positions[1] - positions[0], [-3.0, 0, 0])  # row x column = (-1, 0, 0): slices to the right
    assert nibabel.aff2axcodes(affine) == ("P", "I", "R")  # rows towards posterior, columns downwards


def test_a_card_rescale_is_applied_by_every_reader(oriented, tmp_path):
    oriented.size = (6, 5)
    for fmt in ("nifti", "dicom", "tiff"):
        medigan_host.generate("scaled-2d", 1, tmp_path / fmt, seed=2, format=fmt)
    model = medigan_host.load_model("scaled-2d", device="cpu")
    seed = json.loads((tmp_path / "nifti/manifest.jsonl").read_text().splitlines()[0])["seed"]
    physical = model.generate([seed]).images[0, ..., 0] * 0.5 - 10
    assert np.array_equal(nibabel.load(str(tmp_path / "nifti/images/000000.nii")).get_fdata().T, physical)
    ds = pydicom.dcmread(tmp_path / "dicom/images/000000.dcm")
    assert ds.Modality == "MR" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.4]
    values, unit = _tiff_hu(tmp_path / "tiff/images/000000.tif")
    assert unit == "MU" and np.array_equal(values, physical)
    # NIfTI and DICOM: medigan's reader applies a card's rescale too (only value_encoding files read as generated)
    assert np.array_equal(read_image(tmp_path / "nifti/images/000000.nii")[..., 0], physical)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("spacing", [1.0, 0.0], "'spacing': must list 2 positive sizes in mm"),
    ("spacing", [1.0, 1.0, 1.0], "'spacing': must list 2 positive sizes in mm"),
    ("orientation", [1, 0, 0, 0, 1], "'orientation': must be 6 numbers"),
    ("orientation", [1, 0, 0, 1, 0, 0], "the two at right angles"),
    ("orientation", [2, 0, 0, 0, 1, 0], "the unit direction"),
    ("rescale", {"slope": 0, "intercept": 0}, "'rescale': must be {'slope': non-zero number"),
    ("rescale", {"slope": 1, "intercept": "x"}, "'rescale': must be"),
    ("rescale", {"slope": 1, "intercept": 0, "units": "HU"}, "'rescale': must be"),
])
def test_bad_physical_card_fields_are_refused_when_the_card_is_made(field, value, message):
    with pytest.raises(CardError, match=message.replace("[", r"\[").replace("(", r"\(").replace("{", r"\{")):
        medigan_host.ModelCard.from_dict(card("x", **{field: value}))
    medigan_host.ModelCard.from_dict(card("x", spacing=[0.5, 0.5], orientation=[1, 0, 0, 0, 0, -1],
                                          rescale={"slope": 1, "intercept": -1024, "unit": "HU"}))


def test_png_and_tiff_carry_the_card_spacing(oriented, tmp_path):
    from PIL import Image

    oriented.size = (6, 5)
    for fmt in ("png16", "tiff"):
        medigan_host.generate("scaled-2d", 1, tmp_path / fmt, seed=2, format=fmt)
    with Image.open(tmp_path / "png16/images/000000.png") as image:  # pHYs: pixels per metre, 0.4 mm columns, 0.7 rows
        assert image.info["dpi"] == pytest.approx((25.4 / 0.4, 25.4 / 0.7), rel=1e-3)
    with tifffile.TiffFile(tmp_path / "tiff/images/000000.tif") as tif:
        assert json.loads(tif.pages[0].description)["spacing"] == [0.7, 0.4]
        tags = tif.pages[0].tags
        assert tags["XResolution"].value == (25, 1) and tags["YResolution"].value[0] / tags["YResolution"].value[1] \
            == pytest.approx(10 / 0.7, rel=1e-6)  # pixels per cm
