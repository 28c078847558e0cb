"""Output formats: the writers that turn one sample's array into file bytes, collected from the
``medigan_register_writers`` hook of the host's default plugin (this module) and of every plugin.

Built in: ``png`` (8-bit; 16-bit for uint16 images), ``png16`` (always 16-bit; both with the card's ``spacing`` as
``pHYs``), ``npy`` (the array as is), and
the medical formats ``nifti`` / ``nifti-gz``, ``dicom`` and ``tiff`` (16-bit), whose libraries (nibabel, pydicom,
tifffile) are imported only when a file is encoded. Plugins add formats with the hook; a script may add one to its
own process with :func:`register_writer`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MediganUsageError
from ..hookspecs import hookimpl
from .base import (  # noqa: F401 - the shared helpers, also importable from here as before
    PNG_PROVENANCE_KEY,
    card_rescale,
    card_spacing,
    formats_extra,
    installed,
    mask_to_uint,
    png_bytes,
    provenance,
    provenance_text,
    require,
    to_uint,
)

if TYPE_CHECKING:
    import numpy as np

    from ..cards import ModelCard
    from ..plugins import PluginHost

#: The name the host's own writers are registered under.
PLUGIN_NAME = "medigan-host"


@dataclass(frozen=True)
class Writer:
    """``encode(array, kind, context) -> bytes`` for one sample; ``kind`` is "image" or "mask".

    ``context`` holds ``card`` (the ModelCard), ``index``, ``seed`` (the sample's), ``run_seed``, ``condition``,
    ``model``, ``model_version``, ``plugin``, ``plugin_version`` and ``host_version``, for formats that record
    provenance (DICOM, NIfTI, TIFF). ``encode`` must return the same bytes for the same array and context."""

    name: str
    extension: str
    encode: Callable[[Any, str, dict], bytes]
    ndims: tuple[int, ...] = (2, 3)
    description: str = ""
    #: modules ``encode`` imports, checked (not imported) before a run writes anything
    requires: tuple[str, ...] = ()
    #: the largest image axis the format can hold (NIfTI-1: 16-bit signed, DICOM: 16-bit unsigned), or None
    max_axis: int | None = None

    def check(self, card: ModelCard, available: Iterable[Writer] | None = None) -> None:
        """Raise MediganUsageError if this format cannot hold the card's outputs (naming the ``available`` formats
        that can; by default every known one), FrameworkMissingError if a module it needs is not installed."""
        writers = list(available if available is not None else _all_writers())
        if card.ndim not in self.ndims:
            options = ", ".join(w.name for w in writers if card.ndim in w.ndims)
            raise MediganUsageError(f"format {self.name!r} cannot store {card.ndim}-D outputs of model {card.id!r}; "
                                    f"use one of: {options}")
        if self.max_axis is not None and max(card.image_size) > self.max_axis:
            options = ", ".join(w.name for w in writers if card.ndim in w.ndims and
                                (w.max_axis is None or max(card.image_size) <= w.max_axis))
            raise MediganUsageError(f"format {self.name!r} holds images of at most {self.max_axis} pixels per axis; model "
                                    f"{card.id!r} makes {'x'.join(map(str, card.image_size))}: use one of: {options}")
        for module in self.requires:
            if not installed(module):
                from ..errors import FrameworkMissingError

                raise FrameworkMissingError(f"the {self.name} format needs {module}: run `{formats_extra()}`")


class WriterCatalog:
    """The output formats by name, in registration order: the host's own first, then each plugin's."""

    def __init__(self) -> None:
        self.entries: dict[str, Writer] = {}
        self.plugins: dict[str, str] = {}  # format name -> the plugin that registered it
        self.errors: list[str] = []

    def add(self, writer: Any, plugin: str) -> str | None:
        """Validate and add one writer; return a description of the problem instead when it is rejected."""
        if not isinstance(writer, Writer):
            return f"output format rejected: register a medigan_host.Writer, not {type(writer).__name__}"
        problem = _invalid(writer)
        if problem:
            return problem
        if writer.name in self.entries:
            return (f"output format {writer.name!r} clashes with the one from {self.plugins[writer.name]!r}, registered "
                    "first; skipped")
        self.entries[writer.name] = writer
        self.plugins[writer.name] = plugin
        return None

    def __iter__(self) -> Iterator[Writer]:
        return iter(self.entries.values())

    def get(self, name: str) -> Writer:
        try:
            return self.entries[name.lower()]
        except (KeyError, AttributeError):
            raise MediganUsageError(f"unknown output format {name!r}; choose one of: {', '.join(self.entries)}") from None


def collect_writers(host: PluginHost) -> WriterCatalog:
    """The host's writers, then every plugin's ``medigan_register_writers`` (in plugin-name order); problems become
    PluginWarnings, and a plugin cannot replace a built-in format."""
    import warnings

    from ..hookcalls import DefaultPlugin, PluginWarning, collect_registrations

    catalog = WriterCatalog()
    collect_registrations(host.pm.hook.medigan_register_writers.get_hookimpls(), lambda plugin, writer: catalog.add(writer, plugin),
                          hook="medigan_register_writers", what="writers", arguments=("writer",),
                          report=lambda plugin, problem: catalog.errors.append(f"plugin {plugin!r}: {problem}"),
                          defaults=[DefaultPlugin(PLUGIN_NAME, medigan_register_writers)])
    for error in catalog.errors:
        warnings.warn(f"medigan: {error}", PluginWarning, stacklevel=3)
    return catalog


def writer_catalog(host: PluginHost | None = None) -> WriterCatalog:
    """The output formats of ``host`` (the process-wide one by default), collected once per set of plugins."""
    if host is None:
        from ..api import plugin_host

        host = plugin_host()
    return host.collected("writers", collect_writers)


#: Formats a script added to this process with :func:`register_writer` (they take precedence, by name).
_script_writers: dict[str, Writer] = {}


def register_writer(writer: Writer) -> None:
    """Add an output format to this process (replacing one of the same name). Plugins register theirs with the
    ``medigan_register_writers`` hook instead, so that every program that loads them has them."""
    problem = _invalid(writer)
    if problem:
        raise MediganUsageError(problem)
    _script_writers[writer.name] = writer


def _invalid(writer: Writer) -> str | None:
    if not isinstance(writer.name, str) or not writer.name:
        return f"output format {writer.name!r}: its name must be non-empty text"
    if not isinstance(writer.extension, str) or not _EXTENSION.match(writer.extension):
        return (f"output format {writer.name!r} has the file extension {writer.extension!r}: use letters "
                "and digits, dot-separated (e.g. 'png', 'nii.gz'), so that sample files keep plain names")
    return None


#: A file extension that keeps ``000000.<extension>`` a plain file name on every platform.
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,16}(?:\.[A-Za-z0-9]{1,16}){0,3}$")


def _all_writers(host: PluginHost | None = None) -> list[Writer]:
    known = {w.name: w for w in writer_catalog(host)}
    return list({**known, **_script_writers}.values())


def get_writer(name: str, host: PluginHost | None = None) -> Writer:
    """The output format ``name``: one a script registered in this process, else one of ``host``'s formats."""
    key = name.lower() if isinstance(name, str) else name
    if isinstance(key, str) and key in _script_writers:
        return _script_writers[key]
    if isinstance(key, str) and key in (catalog := writer_catalog(host)).entries:
        return catalog.entries[key]
    raise MediganUsageError(f"unknown output format {name!r}; choose one of: {', '.join(w.name for w in _all_writers(host))}")


def _png_text(kind: str, context: dict) -> dict[str, str]:
    """The iTXt chunks of a sample's PNG: its provenance as JSON (model, version, seed, synthetic …) and as a line."""
    import json

    return {PNG_PROVENANCE_KEY: json.dumps({**provenance(context), "kind": kind}, sort_keys=True),
            "Description": provenance_text(context) + (" (label mask)" if kind == "mask" else "")}


def _png_spacing(context: dict) -> tuple[float, float] | None:
    """The card's ``spacing`` (mm between rows, between columns) for the PNG ``pHYs`` chunk; None without one."""
    card = context.get("card")
    if card is None or card.extra.get("spacing") is None:
        return None
    spacing = card_spacing(card)
    return spacing[-2], spacing[-1]


def _encode_png(array: np.ndarray, kind: str, context: dict) -> bytes:
    if kind == "mask":
        return png_bytes(mask_to_uint(array), text=_png_text(kind, context), spacing=_png_spacing(context))
    return png_bytes(to_uint(array, 16 if array.dtype.name == "uint16" else 8), text=_png_text(kind, context),
                     spacing=_png_spacing(context))


def _encode_png16(array: np.ndarray, kind: str, context: dict) -> bytes:
    if kind == "mask":
        return png_bytes(mask_to_uint(array), text=_png_text(kind, context), spacing=_png_spacing(context))
    return png_bytes(to_uint(array, 16), text=_png_text(kind, context), spacing=_png_spacing(context))


def _encode_npy(array: np.ndarray, kind: str, context: dict) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _encode_nifti(array: Any, kind: str, context: dict) -> bytes:
    from .nifti import encode

    return encode(array, kind, context)


def _encode_nifti_gz(array: Any, kind: str, context: dict) -> bytes:
    import gzip

    return gzip.compress(_encode_nifti(array, kind, context), compresslevel=6, mtime=0)


def _encode_dicom(array: Any, kind: str, context: dict) -> bytes:
    from .dicom import encode

    return encode(array, kind, context)


def _encode_tiff(array: Any, kind: str, context: dict) -> bytes:
    from .tiff import encode

    return encode(array, kind, context)


@hookimpl
def medigan_register_writers(register: Callable[[Writer], None]) -> None:
    """The host's own formats, as a default plugin. The medical encoders import their module (and nibabel, pydicom,
    tifffile) on first use; see docs/formats.md."""
    register(Writer("png", "png", _encode_png, (2,), "PNG, 8-bit (16-bit when the model returns uint16)"))
    register(Writer("png16", "png", _encode_png16, (2,), "PNG, always 16-bit"))
    register(Writer("npy", "npy", _encode_npy, (2, 3), "NumPy .npy, the array exactly as generated"))
    register(Writer("nifti", "nii", _encode_nifti, (2, 3), "NIfTI-1 (nibabel), images and volumes, with affine",
                    requires=("nibabel",), max_axis=32767))
    register(Writer("nifti-gz", "nii.gz", _encode_nifti_gz, (2, 3), "NIfTI-1, gzip-compressed",
                    requires=("nibabel",), max_axis=32767))
    register(Writer("dicom", "dcm", _encode_dicom, (2, 3), "DICOM secondary capture (pydicom), marked synthetic",
                    requires=("pydicom",), max_axis=65535))
    register(Writer("tiff", "tif", _encode_tiff, (2, 3), "TIFF, 16-bit (tifffile); volumes as pages", requires=("tifffile",)))
