"""Output formats come from the medigan_register_writers hook: the host's own as its default plugin, then plugins'."""

from __future__ import annotations

import warnings

import pytest

import medigan_host as mg
from medigan_host import MediganUsageError, PluginWarning, Writer, hookimpl, register_plugin
from medigan_host.formats.writers import get_writer, writer_catalog

BUILT_IN = ["png", "png16", "npy", "nifti", "nifti-gz", "dicom", "tiff"]


def _raw(array, kind, context):
    return array.tobytes()


class RawFormat:
    @hookimpl
    def medigan_register_writers(self, register):
        register(Writer("rawbytes", "raw", _raw, (2, 3), "raw bytes"))


def test_the_built_in_formats_come_first_from_the_hosts_default_plugin():
    catalog = writer_catalog()
    assert [w.name for w in catalog][: len(BUILT_IN)] == BUILT_IN
    assert set(catalog.plugins[name] for name in BUILT_IN) == {"medigan-host"}
    assert "medigan-host" not in [p.name for p in mg.list_plugins()]  # a default plugin, never an installed one


def test_a_plugins_format_is_used_by_a_run(tmp_path):
    register_plugin(RawFormat(), name="raw-format")
    assert get_writer("rawbytes").extension == "raw"
    result = mg.generate("ct-head-phantom", 3, tmp_path / "run", format="rawbytes", seed=4)
    files = sorted(p.name for p in (tmp_path / "run" / "images").iterdir())
    assert result.generated == 3 and files == ["000000.raw", "000001.raw", "000002.raw"]
    image = mg.load_model("ct-head-phantom").generate([mg.sample_seed(4, 1)]).images[0]
    assert (tmp_path / "run" / "images" / "000001.raw").read_bytes() == image.tobytes()


def test_unregistering_the_plugin_removes_its_format():
    name = register_plugin(RawFormat(), name="raw-format")
    assert get_writer("rawbytes")
    mg.unregister_plugin(name)
    with pytest.raises(MediganUsageError, match="unknown output format 'rawbytes'; choose one of: png"):
        get_writer("rawbytes")


class Clashing:
    @hookimpl
    def medigan_register_writers(self, register):
        register(Writer("png", "png", _raw, (2,), "not the real PNG"))
        register("not a writer")
        register(Writer("bad ext", "a/b", _raw, (2,), "a path in the extension"))
        register(Writer("fine", "fine", _raw, (2,), "kept"))


class Raising:
    @hookimpl
    def medigan_register_writers(self, register):
        register(Writer("never", "nv", _raw, (2,), "registered before the hook raised"))
        raise SystemExit(3)


def test_bad_registrations_skip_only_themselves_and_are_reported():
    register_plugin(Clashing(), name="clashing")
    register_plugin(Raising(), name="raising")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog = writer_catalog()
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert catalog.plugins["png"] == "medigan-host" and get_writer("png").description.startswith("PNG, 8-bit")
    assert get_writer("fine").extension == "fine"
    assert "never" not in catalog.entries
    assert any("'clashing'" in m and "'png' clashes" in m for m in messages)
    assert any("'clashing'" in m and "register a medigan_host.Writer, not str" in m for m in messages)
    assert any("'clashing'" in m and "file extension 'a/b'" in m for m in messages)
    assert any("'raising'" in m and "medigan_register_writers raised SystemExit" in m and "none of its writers" in m
               for m in messages)


def test_register_writer_still_adds_a_format_to_this_process():
    from medigan_host.formats import writers

    mg.register_writer(Writer("scriptfmt", "sfm", _raw, (2,), "from a script"))
    try:
        assert get_writer("scriptfmt").extension == "sfm"
        with pytest.raises(MediganUsageError, match="file extension"):
            mg.register_writer(Writer("badscript", "x y", _raw, (2,), ""))
    finally:
        writers._script_writers.pop("scriptfmt", None)


class WrongCall:
    @hookimpl
    def medigan_register_writers(self, register):
        register(Writer("wrongcall", "wc", _raw, (2,), ""), "an extra argument")


def test_a_register_call_with_the_wrong_arguments_fails_that_hook_only():
    register_plugin(WrongCall(), name="wrong-call")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog = writer_catalog()
    assert "wrongcall" not in catalog.entries and "png" in catalog.entries
    assert any("'wrong-call'" in str(w.message) and "medigan_register_writers raised TypeError" in str(w.message)
               for w in caught)
