"""The ``dicom`` writer: DICOM files (pydicom) that say they are synthetic, with the geometry and physical values of
the card.

- SOP class: CT Image Storage for 2-D grey images of CT models, MR Image Storage for 2-D integer grey images of MR
  models (both with Frame of Reference and Image Plane: Pixel Spacing, Image Orientation / Position (Patient), Slice
  Thickness); Secondary Capture otherwise: 2-D images of other modalities (the mammography and DX IODs need
  acquisition attributes, detector, exposure and view codes, that a generative model does not have), float MR images
  (the MR Image IOD has no rescale) and colour; Multi-frame Grayscale Byte / Word or True Color Secondary Capture for
  volumes (the enhanced CT and MR IODs need per-frame acquisition groups), which carry their geometry in functional
  groups. Grey images keep 8 or 16 bits (16 for the CT and MR IODs); colour (3 channels) is 8-bit RGB.
- Values: a float grey image is stored as 16-bit levels spanning its own range, with ``RescaleSlope`` =
  (max - min) / 65535 and ``RescaleIntercept`` = min, so a reader that applies the rescale gets the model's values
  back within slope / 2 (recorded as ``rescale_max_error`` in the private provenance). The card's physical scale (its
  ``rescale``, or "HU + N" in ``value_encoding``) is composed on top: CT files read in HU, as the NIfTI and TIFF of
  the same sample.
- Synthetic, and who made it: ``SyntheticData`` YES, ``ImageType`` DERIVED\\SECONDARY (\\AXIAL for CT, \\OTHER for
  MR), ``BurnedInAnnotation`` NO, ``PatientName`` SYNTHETIC^MEDIGAN, ``ImageComments`` with model, version, seed and
  host version, ``Manufacturer`` medigan with the model id and versions (and, in Secondary Capture files,
  ``ConversionType`` SYN and ``SecondaryCaptureDevice*``), and the full provenance as JSON in private tag
  (0011,xx01) of the private block "MEDIGAN".
- UIDs are derived from the run (model, version, run seed, condition), the kind and the sample index: a
  rerun writes byte-identical files, one study per run with one series for images and one for masks, one frame of
  reference per run. No dates or times are written.
- Masks go into their own series ("... segmentation labels"). A 2-D mask is a DICOM Segmentation (highdicom, when
  installed): one segment per label the card names in ``mask_labels`` (else per label present), referencing its
  image by SOP Instance UID (and sharing its frame of reference), so viewers show it as a segmentation of that image.
  Without highdicom, and for volumes, masks are grey Secondary Capture images of labels. A Segmentation's required
  ContentDate/ContentTime are the fixed 19700101 000000 (synthetic data has no acquisition time, and reruns stay
  byte-identical).
- Geometry follows the NIfTI writer's affine: the card's ``orientation`` (DICOM ImageOrientationPatient; axial by
  default), its ``spacing`` (1 mm without one), the first pixel at the origin and slice k at k x slice spacing along
  row x column direction.
- The card's ``display_range`` becomes the default ``WindowCenter`` / ``WindowWidth``, in the rescaled units.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from ..errors import MediganUsageError
from .base import (
    card_orientation,
    card_spacing,
    float_rescale,
    mask_to_uint,
    physical_rescale,
    provenance,
    provenance_text,
    require,
    slice_normal,
    to_uint,
)

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MULTIFRAME_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"
MULTIFRAME_WORD = "1.2.840.10008.5.1.4.1.1.7.3"
MULTIFRAME_COLOUR = "1.2.840.10008.5.1.4.1.1.7.4"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
#: The modality image IODs medigan writes (2-D grey CT and MR images), with their image plane and frame of reference
MODALITY_IODS = (CT_IMAGE, MR_IMAGE)
PRIVATE_CREATOR = "MEDIGAN"
PRIVATE_GROUP = 0x0011
#: Set in the private provenance when the rescale comes from the card's value_encoding ("HU + 1024"): the stored
#: values are the model's own, and medigan's reader returns them as stored.
AS_GENERATED = "read_as_stored"

#: card modality -> DICOM Modality (0008,0060); anything else is OT (other)
MODALITIES = {"ct": "CT", "mri": "MR", "mammography": "MG", "xray": "DX", "ultrasound": "US", "endoscopy": "ES",
              "histology": "SM", "fundus": "OP", "pet": "PT", "dermoscopy": "XC"}

#: card anatomy (lower case) -> DICOM BodyPartExamined (0018,0015), a defined term of PS3.16 CID 4031; anatomy not
#: listed (or "any") leaves the attribute out, so free text from a card never lands in a code string
BODY_PARTS = {
    "abdomen": "ABDOMEN", "adrenal": "ADRENAL", "ankle": "ANKLE", "arm": "ARM", "bladder": "BLADDER",
    "brain": "BRAIN", "breast": "BREAST", "chest": "CHEST", "thorax": "CHEST", "clavicle": "CLAVICLE",
    "colon": "COLON", "elbow": "ELBOW", "esophagus": "ESOPHAGUS", "oesophagus": "ESOPHAGUS", "eye": "EYE",
    "retina": "EYE", "femur": "FEMUR", "foot": "FOOT", "hand": "HAND", "head": "HEAD", "head and neck": "HEADNECK",
    "heart": "HEART", "hip": "HIP", "humerus": "HUMERUS", "kidney": "KIDNEY", "knee": "KNEE", "leg": "LEG",
    "liver": "LIVER", "lung": "LUNG", "lungs": "LUNG", "neck": "NECK", "pancreas": "PANCREAS", "pelvis": "PELVIS",
    "prostate": "PROSTATE", "rectum": "RECTUM", "shoulder": "SHOULDER", "skin": "SKIN", "skull": "SKULL",
    "spine": "SPINE", "stomach": "STOMACH", "wrist": "WRIST", "ovary": "OVARY", "testis": "TESTIS",
}

#: BodyPartExamined values of paired organs, for which DICOM wants a (possibly empty) Laterality
PAIRED_BODY_PARTS = {"BREAST", "EYE", "KIDNEY", "LUNG", "EAR", "HAND", "FOOT", "KNEE", "HIP", "SHOULDER", "ELBOW",
                     "WRIST", "ANKLE", "ARM", "LEG", "OVARY", "TESTIS", "ADRENAL", "CLAVICLE", "FEMUR", "HUMERUS"}


def encode(array: np.ndarray, kind: str, context: dict[str, Any]) -> bytes:
    """DICOM Part 10 bytes of one (H, W, C) image or (D, H, W, C) volume, or of its label mask."""
    pydicom = require("pydicom", "dicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    card = context.get("card")
    pixels, colour, stored_rescale = _pixels(array, kind)
    volume = pixels.ndim == (4 if colour else 3)
    if kind == "mask" and not volume:
        seg = _segmentation(pixels, context)
        if seg is not None:
            return seg
    physical = physical_rescale(card) if kind == "image" and not colour else None
    rescale = _combine(stored_rescale, physical)
    sop_class = _sop_class(volume, colour, pixels.dtype, kind, card, stored_rescale is not None)
    if sop_class in MODALITY_IODS:
        pixels = pixels.astype(np.uint16)  # the CT and MR Image IODs allocate 16 bits
    modality_iod = sop_class in MODALITY_IODS
    uids = _uids(context, kind, pydicom.uid.generate_uid)

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uids["instance"]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
    _patient_and_study(ds, context)
    _series_and_equipment(ds, context, kind, secondary_capture=not modality_iod)
    ds.InstanceNumber = int(context.get("index", 0)) + 1
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"] if sop_class == CT_IMAGE else \
        ["DERIVED", "SECONDARY", "OTHER"] if sop_class == MR_IMAGE else ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"
    ds.SyntheticData = "YES"  # (0008,001C): every file medigan writes, images and masks
    ds.RecognizableVisualFeatures = "NO"
    ds.ImageComments = provenance_text(context)[:10240]
    ds.DerivationDescription = "synthetic, generated by a generative model; no patient was imaged"
    if not modality_iod:
        ds.PatientOrientation = ""
    _pixel_module(ds, pixels, colour, volume, context)
    if modality_iod:
        ds.PatientPosition = ""  # type 2C for CT and MR: no patient, no position
    if sop_class == CT_IMAGE:
        ds.KVP = ""  # type 2: no tube, no voltage
        ds.AcquisitionNumber = ""
    elif sop_class == MR_IMAGE:
        ds.ScanningSequence, ds.SequenceVariant = "RM", "NONE"  # research mode: no pulse sequence was run
        ds.ScanOptions, ds.MRAcquisitionType = "", "2D"
        ds.RepetitionTime = ds.EchoTime = ds.EchoTrainLength = ""
        ds.AcquisitionNumber = ""
    if sop_class != MR_IMAGE and not colour and (volume or rescale is not None or modality_iod):
        slope, intercept, unit = rescale or (1.0, 0.0, "")  # the multi-frame grey and CT IODs require a rescale
        ds.RescaleIntercept, ds.RescaleSlope = _ds(intercept), _ds(slope)
        ds.RescaleType = unit.upper()[:16] or "US"
    window = _window(card, physical) if kind == "image" and not colour else None
    if window is not None:  # the card's display range, in rescaled units (HU for CT), as the viewer's default window
        ds.WindowCenter, ds.WindowWidth = _ds(window[0]), _ds(window[1])
        ds.WindowCenterWidthExplanation = "display_range of the model card"
    if volume and not colour:
        ds.PresentationLUTShape = "IDENTITY"
    if volume:
        _geometry(ds, pixels.shape[0], context, uids, pydicom.uid.generate_uid)
    elif modality_iod:
        _plane(ds, context, uids, pydicom.uid.generate_uid)
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    record = {**provenance(context), "kind": kind}
    if rescale is not None:
        record["rescale"] = {"slope": rescale[0], "intercept": rescale[1], "unit": rescale[2]}
    if stored_rescale is not None:  # a float image: 16-bit levels over its own range
        record["rescale_max_error"] = float(f"{stored_rescale[0] / 2:.6g}")
    if physical is not None and physical[3] and stored_rescale is None:  # from value_encoding: see readers
        record[AS_GENERATED] = True
    block.add_new(0x01, "UT", json.dumps(record, sort_keys=True))

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = sop_class, uids["instance"]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _combine(stored: tuple[float, float] | None, physical: tuple[float, float, str, bool] | None
             ) -> tuple[float, float, str] | None:
    """One rescale from the stored levels to physical values: a float image's own (levels -> the model's values),
    then the card's (the model's values -> physical ones)."""
    if stored is None:
        return physical[:3] if physical is not None else None
    if physical is None:
        return stored[0], stored[1], ""
    return stored[0] * physical[0], stored[1] * physical[0] + physical[1], physical[2]


def _rescale(card: Any) -> tuple[float, float, str] | None:
    """The card's physical scale (its ``rescale``, or "HU + 1024" in ``value_encoding``): slope, intercept, unit."""
    rescale = physical_rescale(card)
    return rescale[:3] if rescale is not None else None


def _window(card: Any, rescale: tuple[float, ...] | None) -> tuple[float, float] | None:
    """(center, width) of the card's display_range after the rescale, or None when the card has no display_range."""
    from ..display import card_display_range

    declared = card_display_range(card) if card is not None else None
    if declared is None:
        return None
    slope, intercept = rescale[:2] if rescale is not None else (1.0, 0.0)
    low, high = sorted(v * slope + intercept for v in declared)
    return (low + high) / 2, high - low


def _pixels(array: np.ndarray, kind: str) -> tuple[np.ndarray, bool, tuple[float, float] | None]:
    """The stored pixels: (H, W) / (D, H, W) grey or (H, W, 3) / (D, H, W, 3) RGB, uint8 or uint16; whether they are
    colour; and for float grey images the (slope, intercept) that gives their values back (16-bit levels spanning the
    sample's own range, :func:`medigan_host.formats.base.float_rescale`)."""
    channels = array.shape[-1]
    if kind == "mask":
        if channels != 1:
            raise MediganUsageError(f"DICOM stores one label mask per sample, this model returns {channels} mask "
                                    "channels; use --format nifti or npy")
        return mask_to_uint(array)[..., 0], False, None
    if channels == 1 and array.dtype.kind == "f":
        stored, slope, intercept = float_rescale(array[..., 0])
        return stored, False, (slope, intercept)
    if channels == 1:
        bits = 8 if array.dtype == np.uint8 else 16
        return to_uint(array, bits)[..., 0], False, None
    if channels == 3:
        return to_uint(array, 8), True, None
    raise MediganUsageError(f"DICOM stores grey (1 channel) or RGB (3 channels) images, this model returns {channels} "
                            "channels; use --format nifti or npy")


def _sop_class(volume: bool, colour: bool, dtype: np.dtype, kind: str, card: Any, float_image: bool) -> str:
    """CT or MR Image Storage for 2-D grey images of CT and MR models (MR not for float images: the MR Image IOD has
    no rescale); Secondary Capture otherwise (see docs/formats.md for why)."""
    modality = getattr(card, "modality", "")
    if not volume and not colour and kind == "image" and modality == "ct":
        return CT_IMAGE
    if not volume and not colour and kind == "image" and modality == "mri" and not float_image:
        return MR_IMAGE
    if not volume:
        return SECONDARY_CAPTURE
    if colour:
        return MULTIFRAME_COLOUR
    return MULTIFRAME_BYTE if dtype == np.uint8 else MULTIFRAME_WORD


def _uids(context: dict[str, Any], kind: str, generate_uid: Any) -> dict[str, str]:
    """Deterministic UIDs: one study per run, one series per kind, one instance per sample and kind."""
    condition = json.dumps(context.get("condition"), sort_keys=True)
    run = [str(context.get(k)) for k in ("model", "model_version", "plugin_version", "run_seed")] + [condition]
    if context.get("run_seed") is None:  # without the run's seed, each sample is its own study
        run.append(str(context.get("seed")))
    study = generate_uid(entropy_srcs=["medigan-study", *run])
    series = generate_uid(entropy_srcs=["medigan-series", study, kind])
    instance = generate_uid(entropy_srcs=["medigan-instance", series, str(context.get("index")), str(context.get("seed"))])
    return {"study": study, "series": series, "instance": instance}


def _patient_and_study(ds: Any, context: dict[str, Any]) -> None:
    ds.PatientName = "SYNTHETIC^MEDIGAN"
    ds.PatientID = "SYNTHETIC"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic image: no patient data"
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.StudyDescription = f"medigan synthetic data: {context.get('model')}"[:64]


def _series_and_equipment(ds: Any, context: dict[str, Any], kind: str, secondary_capture: bool = True) -> None:
    card = context.get("card")
    model = str(context.get("model"))
    ds.Modality = MODALITIES.get(getattr(card, "modality", ""), "OT")
    ds.SeriesNumber = 1 if kind == "image" else 2
    ds.SeriesDescription = (f"synthetic {model}" + (" segmentation labels" if kind == "mask" else ""))[:64]
    if secondary_capture:
        ds.ConversionType = "SYN"
    versions = [f"{model} {context.get('model_version')}", f"medigan-host {context.get('host_version')}"]
    if context.get("plugin"):
        versions.append(f"{context.get('plugin')} {context.get('plugin_version')}")
    versions = [v[:64] for v in versions]
    ds.Manufacturer = "medigan"
    ds.ManufacturerModelName = model[:64]
    ds.SoftwareVersions = versions
    if secondary_capture:
        ds.SecondaryCaptureDeviceManufacturer = "medigan"
        ds.SecondaryCaptureDeviceManufacturerModelName = model[:64]
        ds.SecondaryCaptureDeviceSoftwareVersions = versions
    body_part = BODY_PARTS.get(str(card.anatomy).strip().lower()) if card is not None and card.anatomy else None
    if body_part:
        ds.BodyPartExamined = body_part
    if ds.get("BodyPartExamined", "") in PAIRED_BODY_PARTS | {""}:
        ds.Laterality = ""  # type 2C for paired (or unnamed) body parts: present, unknown


def _pixel_module(ds: Any, pixels: np.ndarray, colour: bool, volume: bool, context: dict[str, Any]) -> None:
    card = context.get("card")
    spacing = card_spacing(card)
    if (card is not None and "spacing" in card.extra) or ds.SOPClassUID in MODALITY_IODS:  # type 1 in Image Plane
        ds.PixelSpacing = [_ds(spacing[-2]), _ds(spacing[-1])]
    bits = 8 if pixels.dtype == np.uint8 else 16
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if volume:
        ds.NumberOfFrames = pixels.shape[0]
        ds.FrameIncrementPointer = 0x00182005  # Slice Location Vector
        ds.SliceLocationVector = [_ds(i * spacing[0]) for i in range(pixels.shape[0])] if len(spacing) == 3 \
            else [_ds(float(i)) for i in range(pixels.shape[0])]
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u1" if bits == 8 else "<u2").tobytes()


def _geometry(ds: Any, frames: int, context: dict[str, Any], uids: dict[str, str], generate_uid: Any) -> None:
    """Where each slice of a volume lies, for viewers that rebuild the volume: by default an axial stack in the
    patient coordinates (LPS) of the NIfTI writer's RAS+ affine (columns towards the patient's left, rows towards
    posterior, frames from inferior to superior), turned by the card's ``orientation``; the card's spacing; one frame
    of reference per run."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    depth, height, width = card_spacing(context.get("card"))[-3:] if len(card_spacing(context.get("card"))) == 3 \
        else (1.0, 1.0, 1.0)
    ds.ContentDate, ds.ContentTime = SEG_CONTENT_DATE, SEG_CONTENT_TIME  # required with functional groups; fixed
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=["medigan-frame-of-reference", uids["study"]])
    ds.PositionReferenceIndicator = ""
    measures, orientation = Dataset(), Dataset()
    measures.PixelSpacing = [_ds(height), _ds(width)]
    measures.SliceThickness = _ds(depth)
    measures.SpacingBetweenSlices = _ds(depth)
    cosines = card_orientation(context.get("card"))
    orientation.ImageOrientationPatient = [_ds(v) for v in cosines]
    normal = slice_normal(cosines)
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for k in range(frames):
        position, group = Dataset(), Dataset()
        position.ImagePositionPatient = [_ds(k * depth * n + 0.0) for n in normal]
        group.PlanePositionSequence = Sequence([position])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)


def _plane(ds: Any, context: dict[str, Any], uids: dict[str, str], generate_uid: Any) -> None:
    """The frame of reference and image plane of a 2-D CT or MR image: the card's orientation (axial by default),
    its first pixel at the origin, the pixel spacing of the card (1 mm without one, as in the NIfTI affine)."""
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=["medigan-frame-of-reference", uids["study"]])
    ds.PositionReferenceIndicator = ""
    ds.ImageOrientationPatient = [_ds(v) for v in card_orientation(context.get("card"))]
    ds.ImagePositionPatient = ["0", "0", "0"]
    ds.SliceThickness = "1"  # a 2-D card gives no thickness: 1 mm, the k spacing of the NIfTI affine
    ds.ContentDate, ds.ContentTime = SEG_CONTENT_DATE, SEG_CONTENT_TIME  # fixed, as for volumes


def _ds(value: float) -> str:
    """A number as a DICOM decimal string (at most 16 characters)."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.6e}"


SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
#: ContentDate/Time of Segmentations and of volumes with functional groups (type 1 there): fixed, so that reruns
#: write identical bytes.
SEG_CONTENT_DATE, SEG_CONTENT_TIME = "19700101", "000000"
_warned_no_highdicom = False


def _segmentation(labels: np.ndarray, context: dict[str, Any]) -> bytes | None:
    """A DICOM Segmentation of the 2-D label mask ``labels`` (H, W) referencing its image; None without highdicom."""
    global _warned_no_highdicom
    try:
        import highdicom as hd
    except ImportError:
        if not _warned_no_highdicom:
            import warnings

            warnings.warn("highdicom is not installed: DICOM masks are written as Secondary Capture label images; "
                          "`pip install highdicom` writes them as DICOM Segmentations", stacklevel=3)
            _warned_no_highdicom = True
        return None
    import pydicom
    from pydicom.filebase import DicomBytesIO

    card = context.get("card")
    source = pydicom.dcmread(DicomBytesIO(encode(np.zeros((*labels.shape, 1), np.uint8), "image", context)))
    named = {int(k): str(v) for k, v in ((card.extra.get("mask_labels") or {}) if card is not None else {}).items()
             if str(k).isdigit() and int(k) > 0}
    present = sorted(int(v) for v in np.unique(labels) if v > 0)
    numbers = sorted(set(named) | set(present)) or [1]
    if numbers != list(range(1, len(numbers) + 1)):  # segment numbers must run 1..K: map labels onto them
        mapping = {label: i + 1 for i, label in enumerate(numbers)}
        labels = np.vectorize(lambda v: mapping.get(int(v), 0), otypes=[np.uint16])(labels)
    else:
        mapping = {label: label for label in numbers}
    category = hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure")
    algorithm = hd.AlgorithmIdentificationSequence(name="medigan", version=str(context.get("host_version"))[:64],
                                                   family=hd.sr.CodedConcept("123110", "DCM", "Artificial Intelligence"))
    descriptions = [hd.seg.SegmentDescription(
        segment_number=mapping[label], segment_label=named.get(label, f"label {label}")[:64],
        segmented_property_category=category, segmented_property_type=category,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm)
        for label in numbers]
    uids = _uids(context, "mask", pydicom.uid.generate_uid)
    model = str(context.get("model"))
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=labels.astype(np.uint16)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=uids["series"], series_number=2, sop_instance_uid=uids["instance"],
        instance_number=int(context.get("index", 0)) + 1, manufacturer="medigan", manufacturer_model_name=model[:64],
        software_versions=f"medigan-host {context.get('host_version')}"[:64], device_serial_number="synthetic",
        series_description=f"synthetic {model} segmentation labels"[:64], omit_empty_frames=False)
    for keyword in ("SeriesDate", "SeriesTime", "InstanceCreationDate", "InstanceCreationTime"):
        if keyword in seg:
            setattr(seg, keyword, "")  # no dates or times: a rerun writes the same bytes
    # The Segmentation IOD requires a content date and time (type 1); synthetic data has none, so a fixed one
    seg.ContentDate, seg.ContentTime = SEG_CONTENT_DATE, SEG_CONTENT_TIME
    seg.PatientOrientation = ""
    seg.SyntheticData = "YES"  # (0008,001C): masks say so too
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            del item.ContributionDateTime
    dimension = pydicom.uid.generate_uid(entropy_srcs=["medigan-dimension", uids["series"]])
    for item in [*seg.get("DimensionOrganizationSequence", []), *seg.get("DimensionIndexSequence", [])]:
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = dimension
    seg.ImageComments = provenance_text(context)[:10240]
    block = seg.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    segments = {str(number): label for label, number in mapping.items()}  # read back as the model's own labels
    block.add_new(0x01, "UT", json.dumps({**provenance(context), "kind": "mask", "segment_labels": segments},
                                         sort_keys=True))
    buffer = io.BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def segmentation_labels(dataset: Any) -> np.ndarray:
    """The (H, W) label map of a DICOM Segmentation written by :func:`encode`: each pixel the label its segment names
    (``label N`` or the card's ``mask_labels`` order), 0 where no segment covers it."""
    frames = dataset.pixel_array
    frames = frames[None] if frames.ndim == 2 else frames
    try:
        recorded = json.loads(dataset.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x01].value)["segment_labels"]
    except (KeyError, ValueError, TypeError):
        recorded = {}
    out = np.zeros(frames.shape[1:], dtype=np.uint16)
    for frame, group in zip(frames, dataset.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        out[frame > 0] = int(recorded.get(str(number), number))
    return out
