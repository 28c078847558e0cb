"""Path safety: model ids, versions, weights file names, output formats and manifest entries never reach outside
their folder (traversal, absolute paths, NUL bytes, reserved names)."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from conftest import card
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_log import case, fuzz_examples

from medigan_host import CardError, MediganUsageError, ModelCard
from medigan_host.cards import safe_filename
from medigan_host.formats.writers import Writer, get_writer, register_writer
from medigan_host.generation.storage import LocalStore
from medigan_host.weights import clear_cache, model_folder, store_weights, version_folder

FUZZ = settings(max_examples=fuzz_examples(), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: Path pieces that have escaped folders somewhere: traversal, absolute paths, NUL, Windows names and separators.
PIECES = st.sampled_from(["..", ".", "/", "\\", "\x00", "~", "C:", "con", "NUL", "aux.txt", "lpt1", "COM9.bin", "...",
                          ".hidden", "a", "b.c", "%2e%2e", "\u2215", "\uff0e\uff0e", " ", "\n", "*", "?", ":"])
NAMES = st.lists(PIECES | st.text(max_size=5), min_size=1, max_size=6).map("".join) | st.text(max_size=30)


def inside(root: Path, path: Path) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)


@FUZZ
@given(NAMES)
def test_safe_filename_only_accepts_plain_names(name):
    if safe_filename(name):
        assert "/" not in name and "\\" not in name and "\x00" not in name and name not in (".", "..")
        assert Path(name).name == name and name.split(".")[0].lower() not in {"con", "nul", "aux", "prn"}
        held = "accepted names are plain, non-reserved file names"
    else:
        held = "rejected"
    case("path safety: file names", "arbitrary names built from traversal/separator/NUL/reserved pieces", held)


@FUZZ
@given(model_id=NAMES | st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,10}[a-z0-9]\Z"), version=NAMES,
       filename=NAMES | st.just("w.safetensors"))
def test_weights_cache_paths_stay_in_the_cache(tmp_path, monkeypatch, model_id, version, filename):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    entry = {"url": "https://example.org/x", "sha256": "0" * 64, "filename": filename}
    try:
        model = ModelCard.from_dict(card(model_id, version=version, weights=entry))
    except CardError as error:
        assert error.field in ("id", "version", "weights")
        case("path safety: weights cache", "model ids, versions and weights file names from traversal pieces",
             "CardError for unsafe ids and file names")
        return
    folder = model_folder(model)
    assert safe_filename(model.id), f"model id {model.id!r} cannot name a file everywhere"
    assert inside(tmp_path / "cache", folder) and folder.parent.parent == tmp_path / "cache"
    assert version_folder(version) not in ("", ".", "..") and "/" not in version_folder(version)
    assert inside(folder, folder / model.weights[0]["filename"])
    case("path safety: weights cache", "model ids, versions and weights file names from traversal pieces",
         "accepted cards map to <cache>/<id>/<version>/<file> inside the cache")


@FUZZ
@given(name=NAMES)
def test_stored_weights_names_cannot_escape(tmp_path, monkeypatch, name):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "source.bin"
    source.write_bytes(b"weights")
    model = ModelCard.from_dict(card("stored-model"))
    try:
        path, _ = store_weights(model, source, name)
    except (MediganUsageError, ValueError) as error:
        assert repr(name) in str(error) or "file name" in str(error)
        held = "refused with the name in the message"
    else:
        assert inside(model_folder(model), path)
        held = "stored inside the model's cache folder"
    assert {p.name for p in tmp_path.iterdir()} <= {"cache", "source.bin"}
    assert all(inside(model_folder(model), p) for p in tmp_path.rglob("*") if p.is_file() and p != source)
    case("path safety: weights cache", "names given to store_weights", held)


@FUZZ
@given(model=NAMES)
def test_cache_clear_never_deletes_outside_the_cache(tmp_path, monkeypatch, model):
    cache = tmp_path / "cache"
    (cache / "real-model" / "1.0.0").mkdir(parents=True, exist_ok=True)
    (cache / "real-model" / "1.0.0" / "w.bin").write_bytes(b"w")
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "keep.txt").write_text("keep")
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(cache))
    try:
        removed = clear_cache(model)
    except MediganUsageError as error:
        assert "is not a model id" in str(error)
        held = "refused: not a model id"
    else:
        assert all(inside(cache, p) for p in removed)
        held = "removed only files inside the cache"
    assert (outside / "keep.txt").read_text() == "keep"
    case("path safety: cache clear", "model names from traversal pieces given to `cache clear`", held)


@FUZZ
@given(rel=NAMES | st.lists(PIECES | st.just("images"), max_size=5).map("/".join))
def test_manifest_paths_resolve_inside_the_run_folder(tmp_path, rel):
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    safe = LocalStore(folder).safe(rel)
    if safe is not None:
        assert inside(folder, folder / safe)
        held = "accepted paths resolve inside the folder"
    else:
        held = "rejected"
    case("path safety: manifest entries", "file paths a manifest may list", held)


@FUZZ
@given(extension=NAMES, name=st.text(string.ascii_lowercase, min_size=1, max_size=6))
def test_output_format_extensions_cannot_escape_the_folder(extension, name):
    writer = Writer(f"fuzz-{name}", extension, lambda array, kind, context: b"")
    try:
        register_writer(writer)
    except MediganUsageError as error:
        assert "extension" in str(error)
        held = "refused: not a plain extension"
    else:
        try:
            assert get_writer(writer.name) is writer
            assert safe_filename(f"000000.{extension}") and "/" not in extension and "\\" not in extension
        finally:
            from medigan_host.formats import writers

            writers._script_writers.pop(writer.name, None)
        held = "accepted extensions make plain file names"
    case("path safety: output file names", "extensions of output formats a plugin registers", held)


@pytest.mark.parametrize("index", [0, 7, 999_999, 10**7, 2**40])
def test_sample_file_names_are_plain(index):
    for name in ("png", "npy"):
        assert safe_filename(f"{index:06d}.{get_writer(name).extension}")
    case("path safety: output file names", "sample indices in file names", "plain file names", 2)
