"""Reading real images: every supported format in medigan's channel-last layout, folders, and clear errors."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from conftest import run_cli

import medigan_host
from medigan_host import MediganError, MediganUsageError
from medigan_host.formats.readers import IMAGE_SUFFIXES, image_suffix, list_images, read_image
from medigan_host.formats.writers import formats_extra, png_bytes
from medigan_host.generation.inputs import read_inputs


def test_suffixes_and_listing(tmp_path):
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".dcm", ".nii", ".nii.gz"} <= set(IMAGE_SUFFIXES)
    assert image_suffix("a/B.NII.GZ") == ".nii.gz" and image_suffix("x.gz") is None and image_suffix("x.nii") == ".nii"
    for name in ("b.png", "a.nii.gz", "c.dcm", ".hidden.png", "notes.txt", "d.TIF"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.nii.gz", "b.png", "c.dcm", "d.TIF"]
    assert [p.name for p in list_images(tmp_path, (".png",))] == ["b.png"]


def test_listing_errors(tmp_path):
    with pytest.raises(MediganUsageError, match="does not exist"):
        list_images(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(MediganUsageError, match="is not a folder"):
        list_images(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(MediganUsageError, match="holds no images"):
        list_images(tmp_path / "empty")


def test_png_and_npy_layouts(tmp_path):
    grey16 = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10, 1) * 500
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    (tmp_path / "grey16.png").write_bytes(png_bytes(grey16))
    (tmp_path / "rgb.png").write_bytes(png_bytes(rgb))
    small16 = np.full((4, 4, 1), 7, np.uint16)  # 16-bit file with small values stays uint16
    (tmp_path / "small16.png").write_bytes(png_bytes(small16))
    for name, expected in (("grey16.png", grey16), ("rgb.png", rgb), ("small16.png", small16)):
        got = read_image(tmp_path / name)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), name
    np.save(tmp_path / "flat.npy", np.ones((3, 4), np.float32))
    np.save(tmp_path / "volume.npy", np.ones((2, 3, 4, 1), np.uint8))
    np.save(tmp_path / "five.npy", np.ones((1, 2, 3, 4, 1), np.uint8))
    assert read_image(tmp_path / "flat.npy").shape == (3, 4, 1)
    assert read_image(tmp_path / "volume.npy").shape == (2, 3, 4, 1)
    with pytest.raises(MediganUsageError, match=r"expected \(H, W\), \(H, W, C\) or \(D, H, W, C\)"):
        read_image(tmp_path / "five.npy")


def test_unreadable_files_name_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(MediganError, match="broken.png"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(MediganUsageError, match="unknown image type"):
        read_image(tmp_path / "scan.mha")
    with pytest.raises(MediganUsageError, match="does not exist"):
        read_image(tmp_path / "gone.dcm")


def test_missing_reader_library_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "scan.nii").write_bytes(b"\0" * 400)
    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(MediganError, match=r"needs nibabel: run " + re.escape(f"`{formats_extra()}`")) as info:
        read_image(tmp_path / "scan.nii")
    assert "scan.nii" in str(info.value)


def test_dicom_rescale_frames_and_no_pixels(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def save(name, pixels, **attributes):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        if pixels is not None:
            ds.Rows, ds.Columns = pixels.shape[-2:]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            if pixels.ndim == 3:
                ds.NumberOfFrames = pixels.shape[0]
            ds.PixelData = pixels.astype("<u2").tobytes()
        for key, value in attributes.items():
            setattr(ds, key, value)
        pydicom.dcmwrite(tmp_path / name, ds, enforce_file_format=True)

    stored = np.random.default_rng(1).integers(0, 4096, (6, 7), dtype=np.uint16)
    save("ct.dcm", stored, RescaleSlope="1", RescaleIntercept="-1024")
    save("half.dcm", stored, RescaleSlope="0.5", RescaleIntercept="0")
    save("raw.dcm", stored)
    save("stack.dcm", np.stack([stored, stored + 1]))
    save("report.dcm", None)
    hu = read_image(tmp_path / "ct.dcm")
    assert hu.shape == (6, 7, 1) and hu.dtype == np.int32 and np.array_equal(hu[..., 0], stored.astype(np.int32) - 1024)
    half = read_image(tmp_path / "half.dcm")
    assert half.dtype == np.float64 and np.allclose(half[..., 0], stored * 0.5)
    raw = read_image(tmp_path / "raw.dcm")
    assert raw.dtype == np.uint16 and np.array_equal(raw[..., 0], stored)
    stack = read_image(tmp_path / "stack.dcm")
    assert stack.shape == (2, 6, 7, 1) and np.array_equal(stack[1, ..., 0], stored + 1)
    with pytest.raises(MediganUsageError, match="without pixel data"):
        read_image(tmp_path / "report.dcm")


def test_nifti_is_reoriented_to_the_display_order(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    volume = np.random.default_rng(2).random((4, 5, 6, 1)).astype(np.float32)  # (D, H, W, C) as medigan holds it
    in_lps = np.transpose(volume[..., 0], (2, 1, 0))  # (i, j, k) running left, posterior, superior
    nibabel.save(nibabel.Nifti1Image(in_lps, np.diag([-1.0, -1.0, 1.0, 1.0])), tmp_path / "lps.nii")
    in_ras = in_lps[::-1, ::-1, :]  # the same anatomy stored running right, anterior, superior
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(in_ras), np.eye(4)), tmp_path / "ras.nii.gz")
    for name in ("lps.nii", "ras.nii.gz"):
        got = read_image(tmp_path / name)
        assert got.dtype == np.float32 and np.array_equal(got, volume), name
    flat = np.arange(20, dtype=np.int16).reshape(5, 4, 1)  # a 2-D NIfTI with one slice reads as an image
    nibabel.save(nibabel.Nifti1Image(np.transpose(flat, (1, 0, 2)), np.diag([-1.0, -1.0, 1.0, 1.0])), tmp_path / "flat.nii")
    assert np.array_equal(read_image(tmp_path / "flat.nii"), flat)


def test_tiff_pages_are_a_volume(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    volume = np.random.default_rng(3).integers(0, 65535, (3, 5, 6), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", volume, photometric="minisblack")
    tifffile.imwrite(tmp_path / "one.tiff", volume[0], photometric="minisblack")
    assert np.array_equal(read_image(tmp_path / "stack.tif"), volume[..., None])
    assert np.array_equal(read_image(tmp_path / "one.tiff"), volume[0][..., None])


def test_inputs_folder_of_dicom_feeds_an_image_to_image_model(tmp_path):
    pytest.importorskip("pydicom")
    slices = next(iter(medigan_host.generate("ct-head-phantom", 3, seed=1, batch_size=3))).images
    medigan_host.generate("ct-head-phantom", 3, tmp_path / "real", seed=1, format="dicom")
    inputs = read_inputs(tmp_path / "real" / "images")
    assert inputs.shape == (3, 256, 256, 1) and np.array_equal(inputs, slices)
    result = run_cli("generate", "ct-lowdose-sim", "--inputs", str(tmp_path / "real" / "images"), "-o", str(tmp_path / "ld"),
                     "--condition", "dose=half", "--seed", "2")
    assert result.returncode == 0, result.stderr
    expected = medigan_host.generate("ct-lowdose-sim", None, seed=2, inputs=slices, condition={"dose": "half"})
    assert np.array_equal(read_image(tmp_path / "ld/images/000002.png"), next(iter(expected)).images[2])


def test_inputs_errors(tmp_path):
    with pytest.raises(MediganUsageError, match="do not exist"):
        read_inputs(tmp_path / "nothing")
    (tmp_path / "a.png").write_bytes(png_bytes(np.zeros((4, 4, 1), np.uint8)))
    (tmp_path / "b.png").write_bytes(png_bytes(np.zeros((5, 4, 1), np.uint8)))
    with pytest.raises(MediganUsageError, match="differ in shape"):
        read_inputs(tmp_path)
    with pytest.raises(MediganUsageError, match="must be a .npy array"):
        read_inputs(tmp_path / "a.png")


def test_tiff_stack_without_tifffile_names_the_extra(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 4, 5), np.uint8), photometric="minisblack")
    tifffile.imwrite(tmp_path / "page.tif", np.full((4, 5), 9, np.uint16), photometric="minisblack")
    monkeypatch.setitem(sys.modules, "tifffile", None)
    with pytest.raises(MediganError, match=r"3 pages; reading a stack needs tifffile: run " + re.escape(f"`{formats_extra()}`")):
        read_image(tmp_path / "stack.tif")
    page = read_image(tmp_path / "page.tif")  # one page: Pillow reads it
    assert page.dtype == np.uint16 and page.shape == (4, 5, 1) and page.max() == 9
