"""Formats: the output writers (png, npy and the medical formats DICOM, NIfTI, TIFF) registered through the
``medigan_register_writers`` hook, and the readers of images and provenance. Depends on the core only."""
