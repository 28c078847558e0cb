"""Property-based fuzzing of what a run folder holds: a damaged or forged manifest.jsonl or run.json.

Whatever the manifest says, --resume completes the run so that it equals an uninterrupted one, --overwrite
replaces it, and no file outside the folder (or one medigan did not write) is ever touched.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_log import case, fuzz_examples

import medigan_host
from medigan_host import OutputError
from medigan_host.generation.outputs import iter_manifest

MODEL, N, SEED = "ct-head-phantom", 4, 7
FUZZ = settings(max_examples=fuzz_examples(), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_counter = itertools.count()


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("images", "masks") for p in sorted((folder / sub).glob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference") / "run"
    medigan_host.generate(MODEL, N, folder, seed=SEED, batch_size=3)
    return folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzzed")


#: Paths a forged manifest may list: outside the folder, absolute, odd, or medigan's own bookkeeping files.
EVIL_PATHS = st.sampled_from(["../outside.txt", "../../outside.txt", "/etc/hostname", "images/../../outside.txt",
                              "notes.txt", "images/../notes.txt", ".medigan.lock", "run.json", "manifest.jsonl", "",
                              "images\\..\\..\\outside.txt", "images/\x00.png", "file:///etc/hostname", ".", "images"])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-5, 2**64) | st.floats() | st.text(max_size=8) | EVIL_PATHS,
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                       max_leaves=8)


@st.composite
def manifest_lines(draw, valid: list[bytes]) -> bytes:
    """Lines of the reference manifest, some dropped, repeated or mutated, mixed with junk; maybe a torn last line."""
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["valid", "mutated", "json", "bytes"]))
        if kind == "valid":
            lines.append(draw(st.sampled_from(valid)))
        elif kind == "mutated":
            record = json.loads(draw(st.sampled_from(valid)))
            field = draw(st.sampled_from(["index", "files", "sha256", "seed"]))
            if field == "files" and draw(st.booleans()):
                record["files"] = {"image": draw(EVIL_PATHS)}
            else:
                record[field] = draw(JSONISH)
            lines.append(json.dumps(record).encode() + b"\n")
        elif kind == "json":
            lines.append(json.dumps(draw(JSONISH)).encode() + b"\n")
        else:
            lines.append(draw(st.binary(max_size=40)).replace(b"\n", b"") + b"\n")
    text = b"".join(lines)
    if draw(st.booleans()) and valid:
        text += draw(st.sampled_from(valid))[: draw(st.integers(1, 30))]  # torn by a kill mid-append
    return text


def _prepare(reference: Path, workspace: Path, manifest: bytes) -> tuple[Path, Path, Path]:
    root = workspace / f"case{next(_counter)}"
    folder = root / "run"
    shutil.copytree(reference, folder)
    (folder / "manifest.jsonl").write_bytes(manifest)
    outside, notes = root / "outside.txt", folder / "notes.txt"
    outside.write_text("not medigan's")
    notes.write_text("the user's")
    return root, folder, outside


def _check_complete(folder: Path, reference: Path) -> None:
    assert digests(folder) == digests(reference)
    records = list(iter_manifest(folder / "manifest.jsonl"))
    assert sorted(r["index"] for r in records) == list(range(N))
    assert (folder / "manifest.jsonl").read_bytes().endswith(b"\n")
    assert not list(folder.rglob("*.medigan-tmp"))


@FUZZ
@given(data=st.data())
def test_any_manifest_resumes_or_is_replaced_and_nothing_outside_is_touched(reference, workspace, data):
    valid = (reference / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    manifest = data.draw(manifest_lines(valid), label="manifest")
    records = list(iter_manifest(Path(_write_temp(workspace, manifest))))
    assert all(isinstance(r, dict) and isinstance(r["index"], int) and r["index"] >= 0 for r in records)
    mode = data.draw(st.sampled_from(["resume", "overwrite"]), label="mode")
    root, folder, outside = _prepare(reference, workspace, manifest)
    medigan_host.generate(MODEL, N, folder, seed=SEED, batch_size=3, resume=mode == "resume", overwrite=mode == "overwrite")
    _check_complete(folder, reference)
    assert outside.read_text() == "not medigan's" and (folder / "notes.txt").read_text() == "the user's"
    shutil.rmtree(root)
    case("bad input: manifest.jsonl", f"damaged/forged manifest lines, then --{mode}",
         "run completed equal to an uninterrupted one; files outside the run untouched")


def _write_temp(workspace: Path, data: bytes) -> Path:
    path = workspace / f"manifest{next(_counter)}.jsonl"
    path.write_bytes(data)
    return path


@FUZZ
@given(content=st.binary(max_size=60) | JSONISH.map(lambda v: json.dumps(v).encode()), mode=st.sampled_from(["resume", "overwrite", "new"]))
def test_any_run_file_is_refused_clearly_or_replaced(reference, workspace, content, mode):
    root, folder, outside = _prepare(reference, workspace, (reference / "manifest.jsonl").read_bytes())
    (folder / "run.json").write_bytes(content)
    try:
        medigan_host.generate(MODEL, N, folder, seed=SEED, resume=mode == "resume", overwrite=mode == "overwrite")
    except OutputError as error:
        assert mode != "overwrite", f"--overwrite must replace a damaged run.json, got: {error}"
        assert str(folder) in str(error) and ("overwrite=True" in str(error) or "resume=True" in str(error))
        assert digests(folder) == digests(reference)  # nothing was changed
        held = "OutputError naming run.json; nothing changed"
    else:
        assert mode == "overwrite", f"a damaged run.json {content!r} was accepted with mode {mode}"
        _check_complete(folder, reference)
        held = "--overwrite replaced it; run equal to an uninterrupted one"
    assert outside.read_text() == "not medigan's"
    shutil.rmtree(root)
    case("bad input: run.json", "arbitrary bytes or JSON as run.json, then new/--resume/--overwrite", held)
