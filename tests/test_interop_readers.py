"""A run folder read by other ecosystems' own loaders, for real: Hugging Face ``datasets`` (imagefolder, through the
``metadata.jsonl`` beside the manifest) and MONAI's ``LoadImaged`` (PNG and NIfTI, orientation and channel layout)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import medigan_host
from medigan_host.formats.readers import read_image


@pytest.fixture
def png_run(tmp_path):
    result = medigan_host.generate("ct-head-phantom", 3, tmp_path / "run", seed=4)
    return result, tmp_path / "run"


def test_metadata_jsonl_lists_every_image_with_file_name(png_run):
    _, run = png_run
    rows = [json.loads(line) for line in (run / "metadata.jsonl").read_text().splitlines()]
    assert [r["file_name"] for r in rows] == [f"images/{i:06d}.png" for i in range(3)]
    assert [r["index"] for r in rows] == [0, 1, 2] and all(r["model"] == "ct-head-phantom" for r in rows)


def _rows(run):
    return [json.loads(line) for line in (run / "metadata.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["png", "npy", "nifti", "dicom", "tiff"])
def test_metadata_jsonl_in_every_format_with_json_null_and_provenance(fmt, tmp_path):
    if fmt != "png" and fmt != "npy":
        pytest.importorskip({"nifti": "nibabel", "dicom": "pydicom", "tiff": "tifffile"}[fmt])
    import hashlib

    medigan_host.generate("ct-head-phantom", 2, tmp_path / "run", seed=4, format=fmt)
    manifest = [json.loads(line) for line in (tmp_path / "run/manifest.jsonl").read_text().splitlines()]
    rows = _rows(tmp_path / "run")
    assert len(rows) == 2
    for row, record in zip(rows, manifest, strict=True):
        assert row["condition"] is None  # JSON null, as in the manifest (was the text "null")
        assert row["plugin"] == record["plugin"] == "phantoms" and row["plugin_version"] == record["plugin_version"]
        assert row["host_version"] == medigan_host.__version__ and row["model_version"] == "0.1.0"
        assert row["file_name"] == record["files"]["image"] and row["mask_file_name"] == record["files"]["mask"]
        for key, column in (("image", "sha256"), ("mask", "mask_sha256")):
            assert row[column] == record["sha256"][key]
            assert hashlib.sha256((tmp_path / "run" / record["files"][key]).read_bytes()).hexdigest() == row[column]
    medigan_host.generate("ct-head-phantom", 1, tmp_path / "cond", seed=4, format=fmt, condition={"lesion": "present"})
    assert _rows(tmp_path / "cond")[0]["condition"] == {"lesion": "present"}


def test_imagefolder_loads_the_run_as_it_is(png_run, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    _, run = png_run
    data = datasets.load_dataset("imagefolder", data_dir=str(run), split="train", cache_dir=str(tmp_path / "hf-datasets"))
    assert len(data) == 3
    assert {"image", "seed", "index", "condition", "model"} <= set(data.column_names)
    by_index = {row["index"]: row for row in data}
    for index, row in by_index.items():
        mine = read_image(run / "images" / f"{index:06d}.png")
        theirs = np.asarray(row["image"])
        assert theirs.reshape(mine.shape).tolist() == mine.tolist()


def test_overwrite_rewrites_metadata_for_the_new_run(png_run):
    pytest.importorskip("nibabel")
    _, run = png_run
    medigan_host.generate("ct-head-phantom", 2, run, seed=4, format="nifti", overwrite=True)
    assert [r["file_name"] for r in _rows(run)] == ["images/000000.nii", "images/000001.nii"]


def test_niftifolder_and_json_load_nifti_and_dicom_runs(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("nibabel")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cache = str(tmp_path / "hf-datasets")
    medigan_host.generate("ct-head-phantom", 2, tmp_path / "dcm", seed=4, format="dicom")
    table = datasets.load_dataset("json", data_files=str(tmp_path / "dcm/metadata.jsonl"), split="train", cache_dir=cache)
    assert table["file_name"] == ["images/000000.dcm", "images/000001.dcm"] and table["condition"] == [None, None]
    if "niftifolder" not in datasets.packaged_modules._PACKAGED_DATASETS_MODULES:
        pytest.skip(f"datasets {datasets.__version__} has no niftifolder")
    medigan_host.generate("mri-brain-phantom-3d", 2, tmp_path / "nii", seed=4, format="nifti")
    data = datasets.load_dataset("niftifolder", data_dir=str(tmp_path / "nii"), split="train", cache_dir=cache)
    assert len(data) == 2 and {"seed", "index", "plugin", "sha256"} <= set(data.column_names)
    for row in data:
        volume = np.asarray(row["nifti"].get_fdata() if hasattr(row["nifti"], "get_fdata") else row["nifti"])
        mine = read_image(tmp_path / "nii" / "images" / f"{row['index']:06d}.nii")[..., 0]
        assert np.allclose(np.transpose(volume, (2, 1, 0)), mine)


def test_monai_loadimaged_reads_png_and_nifti_runs(png_run, tmp_path):
    pytest.importorskip("torch")
    transforms = pytest.importorskip("monai.transforms")
    pytest.importorskip("nibabel")
    _, run = png_run
    load = transforms.Compose([transforms.LoadImaged(keys="image", image_only=True),
                               transforms.EnsureChannelFirstd(keys="image")])
    item = load({"image": str(run / "images" / "000001.png")})["image"]
    mine = read_image(run / "images" / "000001.png")  # (H, W, C)
    # MONAI's PIL reader puts width first ("spatial_dims" x, y); transposed back it is the image medigan wrote
    assert np.asarray(item)[0].T.tolist() == mine[..., 0].tolist()
    card = medigan_host.get_card("mri-brain-phantom-3d")
    medigan_host.generate(card.id, 1, tmp_path / "nii", seed=2, format="nifti")
    path = next((tmp_path / "nii").rglob("*.nii*"))
    volume = load({"image": str(path)})["image"]
    mine = read_image(path)  # (D, H, W, 1), as the model returned it
    # channel first, then MONAI's (i, j, k) = (width, height, depth) voxel axes of the RAS+ affine
    assert tuple(volume.shape) == (1, *reversed(card.image_size))
    np.testing.assert_array_equal(np.asarray(volume)[0], np.transpose(mine[..., 0], (2, 1, 0)))
    affine = np.asarray(volume.meta["affine"])
    assert np.allclose(np.abs(np.diag(affine)[:3]), [1.0, 1.0, 1.0])  # the phantom card's 1 mm (no spacing given)
    assert affine[0, 0] < 0 and affine[1, 1] < 0 and affine[2, 2] > 0  # i to the left, j posterior, k superior


def test_dicom_masks_are_segmentations_referencing_their_images(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    medigan_host.generate("ct-head-phantom", 2, tmp_path / "a", seed=1, format="dicom")
    medigan_host.generate("ct-head-phantom", 2, tmp_path / "b", seed=1, format="dicom")
    image = pydicom.dcmread(tmp_path / "a/images/000001.dcm")
    seg = pydicom.dcmread(tmp_path / "a/masks/000001.dcm")
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.SegmentationType == "BINARY"
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == image.SeriesInstanceUID
    assert referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert seg.StudyInstanceUID == image.StudyInstanceUID and "segmentation labels" in seg.SeriesDescription
    card = medigan_host.get_card("ct-head-phantom")
    named = [v for k, v in card.extra["mask_labels"].items() if k != "0"]
    assert [s.SegmentLabel for s in seg.SegmentSequence] == named
    labels = read_image(tmp_path / "a/masks/000001.dcm")  # read back as the model's labels
    record = json.loads((tmp_path / "a/manifest.jsonl").read_text().splitlines()[1])
    expected = medigan_host.load_model("ct-head-phantom", device="cpu").generate([record["seed"]]).masks[0]
    assert labels.shape == expected.shape and (labels == expected).all()
    assert (tmp_path / "a/masks/000001.dcm").read_bytes() == (tmp_path / "b/masks/000001.dcm").read_bytes()


def test_dicom_volumes_carry_their_geometry(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    card = medigan_host.get_card("mri-brain-phantom-3d")
    medigan_host.generate(card.id, 1, tmp_path / "dcm", seed=3, format="dicom")
    volume = pydicom.dcmread(tmp_path / "dcm/images/000000.dcm")
    depth = card.image_size[0]
    assert volume.NumberOfFrames == depth and volume.FrameOfReferenceUID
    shared = volume.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [1.0, 1.0]
    assert float(shared.PixelMeasuresSequence[0].SliceThickness) == 1.0
    positions = [[float(v) for v in g.PlanePositionSequence[0].ImagePositionPatient]
                 for g in volume.PerFrameFunctionalGroupsSequence]
    assert positions == [[0.0, 0.0, float(k)] for k in range(depth)]  # inferior to superior, 1 mm apart
    mine = read_image(tmp_path / "dcm/images/000000.dcm")
    assert mine.shape == (*card.image_size, 1)
