"""Hardening: what an adversarial user, a hostile plugin or a power cut could still break (issue 14), each
reproduced first, then held. Counted in the reliability report (``tests/reliability_report.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOOD_PLUGIN, run_cli
from reliability_log import case

import medigan_host
from medigan_host import OutputError, OutputLockedError
from medigan_host.generation.outputs import RunFolder
from medigan_host.weights import ENTRY_MARKER, cached_files, clear_cache

MODEL = "ct-head-phantom"
posix_only = pytest.mark.skipif(os.name != "posix", reason="symbolic links and flock are POSIX here")


# -- 1: cache clear deletes only what medigan wrote ------------------------------------------------------------
def _user_files(cache: Path) -> dict[str, bytes]:
    """Files a user keeps in the cache folder: names that look like model ids, and one like a model version."""
    files = {"data/results.csv": b"a,b\n1,2\n", "my-thesis/chapter1.tex": b"\\chapter{1}", "data/v1/notes.txt": b"mine",
             "stats/notes.txt": b"not statistics", "notes.txt": b"top"}
    for rel, data in files.items():
        (cache / rel).parent.mkdir(parents=True, exist_ok=True)
        (cache / rel).write_bytes(data)
    return files


def test_cache_clear_deletes_only_what_medigan_wrote(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(cache))
    user = _user_files(cache)
    assert cached_files([]) == [], "nothing medigan wrote is listed"
    for command in (["cache", "clear"], ["cache", "clear", "data"], ["cache", "clear", "my-thesis"]):
        result = run_cli(*command, env={**os.environ, "MEDIGAN_CACHE_DIR": str(cache)})
        assert result.returncode in (0, 2) and "Traceback" not in result.stderr, result.stderr
        assert {rel: (cache / rel).read_bytes() for rel in user} == user, command
    case("path safety: cache clear", "`cache clear`, `cache clear data` with a user's data/, my-thesis/, stats/ in the "
         "cache folder", "nothing deleted; `cache list` and `clear` agree that nothing is medigan's", 3)
    entry = cache / "real-model" / "1.0.0"
    entry.mkdir(parents=True)
    (entry / ENTRY_MARKER).write_text("medigan")
    (entry / "w.bin").write_bytes(b"w")
    (entry / "sub").mkdir()
    (entry / "sub" / "keep.txt").write_text("not medigan's layout")
    (cache / "stats" / ("ab" * 32 + ".npz")).write_bytes(b"npz")
    listed = sorted(str(f.path) for f in cached_files([]))
    dry = run_cli("cache", "clear", "--dry-run", env={**os.environ, "MEDIGAN_CACHE_DIR": str(cache)})
    assert dry.returncode == 0 and (entry / "w.bin").exists(), dry.stderr
    planned = sorted(line.split(" ", 2)[2] for line in dry.stdout.splitlines() if line.startswith("would remove /"))
    assert planned == listed == sorted([str(entry / "w.bin"), str(cache / "stats" / ("ab" * 32 + ".npz"))])
    assert sorted(map(str, clear_cache())) == listed
    assert {rel: (cache / rel).read_bytes() for rel in user} == user and (entry / "sub" / "keep.txt").exists()
    case("path safety: cache clear", "a marked entry, the statistics and the user's files side by side; --dry-run, then "
         "clear", "exactly the listed files deleted; the user's files and a subfolder inside the entry kept")


# -- 2: symbolic links in the output folder ---------------------------------------------------------------------
@posix_only
@pytest.mark.parametrize("name", ["images", "masks", ".medigan.lock", "manifest.jsonl", "dangling-lock"])
def test_links_in_the_output_folder_are_never_written_through(tmp_path, name):
    study = tmp_path / "study"
    (study / "images").mkdir(parents=True)
    (study / "images" / "000000.png").write_bytes(b"patient data")
    out = tmp_path / "out"
    medigan_host.generate(MODEL, 2, out, seed=1)
    before = {p: p.read_bytes() for p in study.rglob("*") if p.is_file()}
    link = out / (".medigan.lock" if name == "dangling-lock" else name)
    if link.is_dir():
        import shutil

        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(study / "missing.lock" if name == "dangling-lock" else study / "images")
    for mode in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(OutputError, match="symbolic link"):
            medigan_host.generate(MODEL, 3, out, seed=2, **mode)
    assert {p: p.read_bytes() for p in study.rglob("*") if p.is_file()} == before
    assert not (study / "missing.lock").exists(), "a dangling lock link never creates its target"
    case("path safety: links in the output folder", "images/, masks/, manifest.jsonl, the lock (and a dangling lock) "
         "as links to another study, then --overwrite and --resume", "refused naming the link; nothing outside written")


# -- 5: one folder, one lock, however it is spelled -------------------------------------------------------------
@posix_only
def test_a_folder_as_a_path_and_as_a_file_url_share_one_lock(tmp_path):
    folder = tmp_path / "mix"
    spellings = [folder, f"file://{folder}", f"file://localhost{folder}", str(tmp_path / "." / "mix")]
    link = tmp_path / "alias"
    link.symlink_to(folder, target_is_directory=True)
    folder.mkdir()
    spellings.append(link)
    with RunFolder(folder):
        for other in spellings:
            with pytest.raises(OutputLockedError, match="another medigan generation"):
                RunFolder(other).__enter__()
            case("fault: concurrent generations", "the same folder as a path, a file:// URL, with localhost, via a "
                 "link, while a run holds it", "refused by the one lock")
    medigan_host.generate(MODEL, 5, f"file://{folder}", seed=3)
    assert (folder / ".medigan.lock").exists() and len((folder / "manifest.jsonl").read_text().splitlines()) == 5


# -- 11: --resume is safe to retry -----------------------------------------------------------------------------
def test_resume_is_safe_to_retry(tmp_path):
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / ".medigan.lock").write_text("")  # what a run killed before its first batch leaves
    (killed / ".run.json.123.medigan-tmp").write_text("{")
    result = medigan_host.generate(MODEL, 4, killed, seed=1, resume=True)
    assert (result.generated, result.already_done) == (4, 0)
    assert medigan_host.generate(MODEL, 4, killed, seed=1, resume=True).generated == 0
    case("fault: retried --resume", "--resume on a folder a run was killed in before its first batch (lock and "
         "temporary only), and on a new folder", "the run starts; the same command again finds it complete", 2)
    with pytest.raises(OutputError, match="fewer samples.*num_samples=4"):
        medigan_host.generate(MODEL, 2, killed, seed=1, resume=True)
    assert json.loads((killed / "run.json").read_text())["n"] == 4
    case("fault: retried --resume", "--resume -n 2 on a run of 4 samples", "refused; run.json unchanged")


def test_a_ray_run_refused_for_want_of_ray_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(medigan_host.FrameworkMissingError, match="ray"):
        medigan_host.generate(MODEL, 2, tmp_path / "run", engine="ray")
    assert not (tmp_path / "run").exists()
    monkeypatch.delitem(sys.modules, "ray")
    assert medigan_host.generate(MODEL, 2, tmp_path / "run").generated == 2
    case("fault: retried --resume", "a Ray run refused because Ray is missing, then run locally", "nothing left behind")


# -- 3 and 7: plugin code that ends the process, interrupts, or hangs -----------------------------------------
def _plugin(model_id: str, *, load: str = "", generate: str = "", top: str = "") -> str:
    """A one-model plugin whose loader runs ``load`` and whose generator runs ``generate`` first."""
    return GOOD_PLUGIN.format(ids=[model_id]).replace(
        "def load(card, device):\n", f"def load(card, device):\n    {load or 'pass'}\n").replace(
        "        z = latents(seeds, 8 * 8)\n", f"        {generate or 'pass'}\n        z = latents(seeds, 8 * 8)\n") + top


ENDINGS = {"exit0": "import sys; sys.exit(0)", "exit3": "raise SystemExit(3)", "interrupt": "raise KeyboardInterrupt",
           "generatorexit": "raise GeneratorExit"}


@pytest.mark.parametrize("where", ["load", "generate"])
def test_plugin_code_ending_the_process_is_that_models_failure(site, tmp_path, where):
    for name, code in ENDINGS.items():
        site.add(f"{where}{name}", _plugin(f"{where}-{name}", **{where: code}))
    env = site.env()
    for name in ENDINGS:
        out = tmp_path / f"{where}-{name}"
        result = run_cli("generate", f"{where}-{name}", "-n", "3", "-o", str(out), env=env, timeout=60)
        assert result.returncode == 1, (name, result.returncode, result.stderr)
        assert f"model '{where}-{name}'" in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        retry = run_cli("generate", "ct-head-phantom", "-n", "1", "-o", str(out), "--overwrite", env=env, timeout=60)
        assert retry.returncode == 0, retry.stderr
    case("fault: plugin ends the process", f"sys.exit(0), SystemExit(3), KeyboardInterrupt, GeneratorExit in a {where}",
         "exit 1 with one line naming the model; the folder can be reused", len(ENDINGS))


def test_plugin_ending_the_process_does_not_abort_the_gallery(site, tmp_path):
    pytest.importorskip("matplotlib")
    site.add("galexit", _plugin("gal-exit", generate="import sys; sys.exit(0)"))
    site.add("galhang", _plugin("gal-hang", generate="import time; time.sleep(3600)"))
    site.add("galok", GOOD_PLUGIN.format(ids=["gal-ok"]))
    out = tmp_path / "gallery"
    args = ["gallery", "-o", str(out), "--models", "gal-exit,gal-hang,gal-ok", "-n", "2", "--timeout", "2"]
    result = run_cli(*args, env=site.env(), timeout=90)
    assert result.returncode == 0, result.stderr
    assert "gal-exit: failed" in result.stdout and "sys.exit(0)" in result.stdout
    assert "gal-hang: failed" in result.stdout and "within 2 s" in result.stdout and "gal-ok: shown" in result.stdout
    assert (out / "index.html").is_file()
    again = run_cli(*args, "--overwrite", env=site.env(), timeout=90)
    assert again.returncode == 0, again.stderr
    case("fault: plugin ends the process", "`medigan gallery` with a model calling sys.exit and one hanging (--timeout 2)",
         "both shown as failed, the page written, --overwrite works")


def test_interrupt_at_plugin_import_does_not_stall_commands(site):
    site.add("kbimport", "raise KeyboardInterrupt\n")
    site.add("exitimport", "import sys\nsys.exit(4)\n")
    site.add("good", GOOD_PLUGIN.format(ids=["good-a"]))
    import time

    started = time.monotonic()
    listing = run_cli("list", env=site.env(MEDIGAN_PLUGIN_TIMEOUT="30"), timeout=60)
    elapsed = time.monotonic() - started
    assert listing.returncode == 0 and "good-a" in listing.stdout, listing.stderr
    assert "plugin 'kbimport': failed to import" in listing.stderr and "KeyboardInterrupt" in listing.stderr
    assert "plugin 'exitimport': failed to import" in listing.stderr and "SystemExit" in listing.stderr
    assert elapsed < 20, f"medigan list took {elapsed:.1f} s (the import limit is 30 s)"
    case("fault: plugin ends the process", "KeyboardInterrupt and sys.exit(4) raised while a plugin is imported",
         "reported as failed imports at once (not after the time limit); the other plugins listed", 2)


def test_a_hanging_loader_or_generator_is_stopped_by_the_call_timeout(site, tmp_path):
    site.add("hangload", _plugin("hang-load", load="import time; time.sleep(3600)"))
    site.add("hanggen", _plugin("hang-gen", generate="import time; time.sleep(3600)"))
    import time

    for model, how in (("hang-load", ["--timeout", "1"]), ("hang-gen", []), ("hang-gen", ["--timeout", "1"])):
        env = site.env(MEDIGAN_CALL_TIMEOUT="1") if not how else site.env()
        started = time.monotonic()
        result = run_cli("generate", model, "-n", "2", "-o", str(tmp_path / f"{model}{len(how)}"), *how, env=env, timeout=60)
        assert result.returncode == 1 and "within 1 s" in result.stderr and model in result.stderr, result.stderr
        assert time.monotonic() - started < 30
        case("fault: hanging plugin", "a loader and a generator that sleep forever, with --timeout 1 or "
             "MEDIGAN_CALL_TIMEOUT=1", "exit 1 naming the model and the limit, at once")
    bad = run_cli("generate", "hang-gen", "-n", "1", "-o", str(tmp_path / "bad"), env=site.env(MEDIGAN_CALL_TIMEOUT="soon"))
    assert bad.returncode == 2 and "MEDIGAN_CALL_TIMEOUT='soon'" in bad.stderr and not (tmp_path / "bad" / "run.json").exists()
    case("bad input: settings", "MEDIGAN_CALL_TIMEOUT=soon", "exit 2 naming the variable")


# -- 4: a card that breaks validation ---------------------------------------------------------------------------
HOSTILE_CARDS = '''
from medigan_host import hookimpl

def _card(model_id, **extra):
    return {{"id": model_id, "name": model_id, "version": "1.0.0", "description": "d", "framework": "numpy",
             "modality": "ct", "image_size": [8, 8], "channels": 1, "license": "MIT", **extra}}

class Raising(dict):
    def get(self, *args):
        raise RuntimeError("get broke")
    def __getitem__(self, key):
        raise RuntimeError("getitem broke")

def _deep(levels):
    node = {{"value": 1.0}}
    for _ in range(levels):
        node = {{"sub": node}}
    return node

def load(card, device):
    raise RuntimeError("never loaded")

@hookimpl
def medigan_register_models(register):
    register(_card("deep-metrics", metrics={{"fid": _deep({levels})}}), load)
    register(Raising(_card("raising-get")), load)
    register(_card("huge-text", description="x" * 2_000_000), load)
    register(_card("wide-card", tags=["t"] * 200_000), load)
'''


def test_a_card_that_breaks_validation_is_skipped_and_reported(site):
    site.add("hostile", HOSTILE_CARDS.format(levels=5000))
    site.add("good", GOOD_PLUGIN.format(ids=["good-a"]))
    listing = run_cli("list", "--json", env=site.env(), timeout=60)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    ids = {m["id"] for m in json.loads(listing.stdout)}
    assert {"good-a", MODEL} <= ids and not ids & {"deep-metrics", "raising-get", "huge-text", "wide-card"}
    for problem in ("nested more than", "RuntimeError: get broke", "2,000,000 characters", "more than 100,000 values"):
        assert problem in listing.stderr, (problem, listing.stderr)
    case("bad input: model card", "metrics nested 5,000 deep, a mapping whose get raises, a 2 MB description, "
         "200,000 tags", "each card skipped and reported; the other plugins' models listed", 4)


# -- 8: one line and exit 1/2 instead of a traceback -----------------------------------------------------------
def _one_line_failure(result, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture
def tmpfs():
    """Mounts a small tmpfs at a given folder (needs root and mount); unmounts them all afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def mount(folder: Path, options: str = "ro,size=64k") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


@posix_only
def test_output_folder_in_proc_is_a_one_line_error():
    _one_line_failure(run_cli("generate", MODEL, "-n", "1", "-o", "/proc/self"), 1, "/proc/self")
    case("bad input: output folder", "-o /proc/self", "exit 1 with one line naming the path; no traceback")


@posix_only
def test_read_only_output_folders_are_one_line_errors(tmp_path, tmpfs):
    tmpfs(tmp_path / "ro")
    _one_line_failure(run_cli("generate", MODEL, "-n", "1", "-o", str(tmp_path / "ro")), 1, str(tmp_path / "ro"))
    out = tmp_path / "run"
    assert run_cli("generate", MODEL, "-n", "2", "-o", str(out)).returncode == 0
    tmpfs(out / "images")
    _one_line_failure(run_cli("generate", MODEL, "-n", "2", "-o", str(out), "--seed", "3", "--overwrite"), 1, "images")
    resumed = run_cli("generate", MODEL, "-n", "3", "-o", str(out), "--seed", "3", "--resume")
    _one_line_failure(resumed, 1, "images")
    case("bad input: output folder", "a read-only folder (EROFS), a read-only images/ with --overwrite and --resume",
         "exit 1 with one line naming the path; no traceback", 3)


WRITER_PLUGIN = GOOD_PLUGIN.format(ids=["writer-host"]) + '''
import sys
from medigan_host.formats.writers import Writer, register_writer

def _text(array, kind, context):
    return "not bytes"

def _raises(array, kind, context):
    raise ValueError("encoder broke")

def _exits(array, kind, context):
    sys.exit(9)

register_writer(Writer("wrongtype", "wt", _text))
register_writer(Writer("raises", "rs", _raises))
register_writer(Writer("exits", "ex", _exits))
'''

BIG_PLUGIN = GOOD_PLUGIN.format(ids=["wide-model"]).replace('"image_size": [8, 8]', '"image_size": [70000, 2]')


def test_writers_that_cannot_hold_or_break_are_one_line_errors(site, tmp_path):
    site.add("writers", WRITER_PLUGIN)
    site.add("wide", BIG_PLUGIN)
    env = site.env()
    for fmt, needle in (("wrongtype", "returned str, not bytes"), ("raises", "ValueError: encoder broke"),
                        ("exits", "SystemExit: 9")):
        out = tmp_path / fmt
        _one_line_failure(run_cli("generate", "writer-host", "-n", "2", "-o", str(out), "--format", fmt, env=env), 1,
                          f"output format {fmt!r}", needle)
        assert not list((out / "images").glob("*")) and not (out / "manifest.jsonl").exists()
    for fmt in ("dicom", "nifti", "nifti-gz"):
        out = tmp_path / f"wide-{fmt}"
        _one_line_failure(run_cli("generate", "wide-model", "-n", "1", "-o", str(out), "--format", fmt, env=env), 2,
                          "70000x2", "at most")
        assert not out.exists()
    case("bad input: output format", "plugin writers returning str, raising, calling sys.exit; DICOM and NIfTI "
         "for 70000x2 images", "exit 1 (plugin) or 2 (format) with one line; no sample file written", 6)


# -- 9: disk full while appending the manifest ------------------------------------------------------------------
def test_disk_full_while_appending_the_manifest_leaves_no_partial_line(tmp_path, tmpfs):
    from medigan_host.errors import DiskFullError
    from medigan_host.generation.storage import LocalStore

    disk = tmp_path / "disk"
    tmpfs(disk, "size=64k")
    store = LocalStore(disk)
    store.append_text("manifest.jsonl", '{"index": 0}\n')
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while handle.write(b"\0" * 4096):
                pass
        except OSError:
            pass
    with pytest.raises(DiskFullError) as caught:
        store.append_text("manifest.jsonl", '{"index": 1, "pad": "' + "x" * 20000 + '"}\n')
    message = str(caught.value)
    assert str(disk) in message and "appending to 'manifest.jsonl'" in message and "lines being appended were removed" in message
    assert (disk / "manifest.jsonl").read_bytes() == b'{"index": 0}\n'
    case("fault: disk full", "the disk fills while a manifest line is appended", "the partial line removed; the "
         "message names the folder and the manifest")


# -- 10: durability: fsync before rename, and --resume re-checks what it keeps --------------------------------
def test_files_are_fsynced_before_they_are_renamed_and_listed(tmp_path, monkeypatch):
    from medigan_host import atomic

    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else str(fd)
        events.append(("fsync", target))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc to name fsynced descriptors")
    folder = tmp_path / "run"
    medigan_host.generate(MODEL, 4, folder, seed=1, batch_size=2)
    for index in range(4):
        name = f"{index:06d}.png"
        synced = [i for i, (kind, what) in enumerate(events)
                  if kind == "fsync" and f"/.{name}." in what and what.endswith(atomic.TMP_SUFFIX)]
        renamed = events.index(("replace", str(folder / "images" / name)))
        assert synced and synced[0] < renamed, name
    folder_syncs = [i for i, (kind, what) in enumerate(events) if kind == "fsync" and what == str(folder / "images")]
    manifest_syncs = [i for i, (kind, what) in enumerate(events) if kind == "fsync" and what == str(folder / "manifest.jsonl")]
    assert len(folder_syncs) == 2 and len(manifest_syncs) == 2, "one folder sync per batch, then the manifest"
    assert all(f < m for f, m in zip(folder_syncs, manifest_syncs, strict=True))
    case("fault: power cut", "the order of fsync, rename and manifest append in a 2-batch run (traced)",
         "each file fsynced before its rename; images/ fsynced once per batch before the manifest lists it")
    events.clear()
    monkeypatch.setenv("MEDIGAN_FSYNC", "0")
    medigan_host.generate(MODEL, 2, tmp_path / "scratch", seed=1)
    assert not [e for e in events if e[0] == "fsync"]
    case("fault: power cut", "MEDIGAN_FSYNC=0", "no fsync at all")


@pytest.mark.parametrize("verify", [True, False])
def test_resume_rechecks_the_files_it_keeps(tmp_path, verify):
    reference = tmp_path / "reference"
    medigan_host.generate(MODEL, 6, reference, seed=2)
    folder = tmp_path / "run"
    medigan_host.generate(MODEL, 6, folder, seed=2)
    (folder / "images" / "000001.png").write_bytes(b"")  # a power cut before the data reached the disk
    changed = folder / "images" / "000003.png"
    changed.write_bytes(changed.read_bytes()[:-1] + b"\x00")  # bytes changed, size the same
    result = medigan_host.generate(MODEL, 6, folder, seed=2, resume=True, verify_hashes=verify)
    redone = {1, 3} if verify else {1}
    assert result.generated == len(redone)
    assert (folder / "images" / "000001.png").read_bytes() == (reference / "images" / "000001.png").read_bytes()
    assert (changed.read_bytes() == (reference / "images" / "000003.png").read_bytes()) == verify
    lines = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in lines) == list(range(6)), "each sample listed once"
    case("fault: power cut", "--resume over an emptied file and a file with changed bytes"
         + ("" if verify else " (--no-verify-hashes)"), "both regenerated" if verify else
         "the empty file regenerated; the changed one kept (hash not read, as documented)")


# -- 12: terminal escapes from cards --------------------------------------------------------------------------
ESCAPES = "\x1b]0;pwned\x07 \r\x1b[2K\x9b31m\u202eevil"
ESCAPING_PLUGIN = GOOD_PLUGIN.format(ids=["escaping-model"]).replace(
    '"description": "d"', f'"description": {("desc " + ESCAPES)!r}, "tags": [{("tag" + ESCAPES)!r}]').replace(
    '"name": model_id', f'"name": {("name" + ESCAPES)!r}')


def test_card_text_cannot_drive_the_terminal(site):
    site.add("escaping", ESCAPING_PLUGIN)
    env = site.env()
    for command in (["info", "escaping-model"], ["search", "escaping"], ["list"], ["search", "--tag", "tag" + ESCAPES]):
        result = run_cli(*command, env=env)
        assert result.returncode == 0, result.stderr
        assert "escaping-model" in result.stdout or "desc" in result.stdout, result.stdout
        for char in "\x1b\x07\r\x9b\u202e":
            assert char not in result.stdout and char not in result.stderr, (command, char)
    assert "desc ]0;pwned [2K31mevil" in run_cli("info", "escaping-model", env=env).stdout
    exact = json.loads(run_cli("info", "escaping-model", "--json", env=env).stdout)
    assert exact["description"] == "desc " + ESCAPES and exact["tags"] == ["tag" + ESCAPES]
    case("bad input: model card", "card text with OSC title, BEL, \\r, erase-line, C1 CSI and a bidi override; "
         "info, search, list", "control characters removed from terminal output; --json exact", 4)


# -- 13: DICOM BodyPartExamined is a code string from the card's anatomy, never its raw text --------------------
def test_dicom_body_part_is_a_valid_code_string():
    pydicom = pytest.importorskip("pydicom")
    import io
    import re

    import numpy as np
    from conftest import card as card_dict

    from medigan_host.cards import ModelCard
    from medigan_host.formats.dicom import BODY_PARTS
    from medigan_host.formats.writers import get_writer

    image = np.zeros((8, 8, 1), np.float32)
    for anatomy, expected in (("Breast", "BREAST"), ("head and neck", "HEADNECK"), ("any", None),
                              ("left\\femur; DROP", None), ("x" * 40, None), ("\x1b[2Kbrain", None)):
        card = ModelCard.from_dict(card_dict("dicom-anatomy", anatomy=anatomy))
        data = get_writer("dicom").encode(image, "image", {"card": card, "index": 0, "seed": 1, "run_seed": 0,
                                                           "model": card.id, "model_version": "1", "plugin": "p",
                                                           "plugin_version": "1", "host_version": "1", "condition": None})
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.get("BodyPartExamined") == expected, anatomy
    assert all(re.fullmatch(r"[A-Z0-9_ ]{1,16}", term) for term in BODY_PARTS.values())
    case("bad input: model card", "card anatomy as a known organ, free text, a backslash, 40 characters, escapes, "
         "written to DICOM", "BodyPartExamined is a defined term or absent, never the raw text", 6)


# -- 13: smaller ones -------------------------------------------------------------------------------------------
def test_absurd_sample_counts_are_refused(tmp_path):
    result = run_cli("generate", MODEL, "-n", str(10**23), "-o", str(tmp_path / "run"))
    _one_line_failure(result, 2, "100,000,000,000,000,000,000,000 samples", "split")
    assert not (tmp_path / "run").exists()
    case("bad input: CLI arguments", "-n 10**23", "exit 2 before anything is written")


def test_overwrite_with_another_format_leaves_no_orphan(tmp_path):
    folder = tmp_path / "run"
    medigan_host.generate(MODEL, 3, folder, seed=1)
    (folder / "images" / "000007.png").write_bytes(b"written, never listed: a run killed mid-batch")
    (folder / "images" / "notes.txt").write_text("mine")
    medigan_host.generate(MODEL, 2, folder, seed=1, format="npy", overwrite=True)
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["000000.npy", "000001.npy", "notes.txt"]
    case("fault: SIGKILL during generation", "--overwrite with another format over a run with an unlisted sample",
         "no sample of the old run left; other files kept")


def test_a_refused_run_leaves_no_lock(tmp_path):
    folder = tmp_path / "run"
    medigan_host.generate(MODEL, 2, folder, seed=1)
    before = sorted(p.name for p in (folder / "images").iterdir())
    with pytest.raises(OutputError, match="not empty"):
        medigan_host.generate(MODEL, 2, folder / "images", seed=1)
    assert sorted(p.name for p in (folder / "images").iterdir()) == before
    assert (folder / ".medigan.lock").exists(), "the lock of a folder that holds a run stays"
    case("fault: concurrent generations", "a run aimed at another run's images/, refused", "no lock left there")


HOLD_LOCK = """
import sys, time
from medigan_host.generation.outputs import RunFolder
folder = RunFolder(sys.argv[1]).__enter__()
print("ready", flush=True)
time.sleep(600)
"""


@posix_only
def test_workers_stop_writing_once_their_driver_is_gone(tmp_path):
    from medigan_host.formats.writers import get_writer
    from medigan_host.generation.distributed import check_driver_alive
    from medigan_host.generation.engine import WriteSpec, write_samples
    from medigan_host.generation.storage import FsspecStore, LocalStore

    folder = tmp_path / "run"
    driver = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True)
    assert driver.stdout.readline().strip() == "ready"
    store = LocalStore(folder)
    store.makedirs("images")
    store.makedirs("masks")
    model = medigan_host.load_model(MODEL, "cpu")
    spec = WriteSpec(MODEL, 1, 2, None, "png", "cpu", {"model": MODEL})
    committed: list[int] = []
    kill_after = 2

    def commit(records):
        committed.extend(r["index"] for r in records)
        if len(committed) >= kill_after and driver.poll() is None:
            driver.kill()  # SIGKILL: the kernel releases its flock
            driver.wait()

    with pytest.raises(medigan_host.MediganError, match="is gone.*--resume"):
        write_samples(model, store, range(10), spec, get_writer("png"), None, commit,
                      before_batch=lambda: check_driver_alive(store))
    assert committed == [0, 1], "the batch after the driver died was neither generated nor listed"
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["000000.png", "000001.png"]
    case("fault: SIGKILL during generation", "the driver of a sharded run killed while a worker writes (worker code "
         "path, no Ray)", "the worker stops before its next batch and lists nothing more")
    pytest.importorskip("fsspec")
    url = f"memory://medigan-hardening-{os.getpid()}/run"
    remote = FsspecStore(url)
    remote.prepare()
    remote.lock()
    assert remote.lock_is_held()
    remote.write_bytes(".medigan.lock", json.dumps({"token": "t", "host": os.uname().nodename, "pid": driver.pid}).encode())
    assert not remote.lock_is_held(), "a lock of a dead process on this machine is not held"
