"""The generation engine: determinism, batching, conditions, inputs, outputs and bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import card

import medigan_host
from medigan_host import (
    ConditionError,
    MediganError,
    MediganUsageError,
    OutputError,
    OutputLockedError,
    PluginError,
    UnknownModelError,
    hookimpl,
)
from medigan_host.generation.outputs import RunFolder


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.parent != folder}


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_in_memory_batches_do_not_depend_on_batch_size():
    runs = {}
    for batch_size in (1, 3, 16):
        batches = list(medigan_host.generate("mammo-breast-phantom", 7, seed=11, batch_size=batch_size))
        assert [len(b) for b in batches][0] == min(batch_size, 7)
        runs[batch_size] = (np.concatenate([b.images for b in batches]), np.concatenate([b.masks for b in batches]),
                            sum((b.seeds for b in batches), []), sum((b.indices for b in batches), []))
    for batch_size in (3, 16):
        assert np.array_equal(runs[1][0], runs[batch_size][0]) and np.array_equal(runs[1][1], runs[batch_size][1])
        assert runs[1][2] == runs[batch_size][2]
    assert runs[1][3] == list(range(7))
    other_seed = next(iter(medigan_host.generate("mammo-breast-phantom", 1, seed=12)))
    assert not np.array_equal(other_seed.images[0], runs[1][0][0])


def test_files_do_not_depend_on_batch_size(tmp_path):
    for batch_size in (1, 4, 10):
        medigan_host.generate("ct-head-phantom", 10, tmp_path / f"b{batch_size}", seed=3, batch_size=batch_size)
    assert _hashes(tmp_path / "b1") == _hashes(tmp_path / "b4") == _hashes(tmp_path / "b10")
    assert len(_hashes(tmp_path / "b1")) == 20  # 10 images + 10 masks


def test_manifest_and_run_file(tmp_path):
    result = medigan_host.generate("ct-head-phantom", 5, tmp_path / "run", seed=9, condition={"lesion": "present"})
    assert (result.generated, result.already_done, result.num_samples) == (5, 0, 5)
    records = _manifest(tmp_path / "run")
    assert [r["index"] for r in records] == list(range(5))
    for record in records:
        assert record["model"] == "ct-head-phantom" and record["plugin"] == "phantoms"
        assert record["condition"] == {"lesion": "present"} and record["host_version"] == medigan_host.__version__
        assert record["seed"] == medigan_host.sample_seed(9, record["index"])
        for kind, rel in record["files"].items():
            data = (tmp_path / "run" / rel).read_bytes()
            assert hashlib.sha256(data).hexdigest() == record["sha256"][kind]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["model"] == "ct-head-phantom" and run["seed"] == 9 and run["n"] == 5 and run["format"] == "png"


def test_png_files_hold_the_generated_arrays(tmp_path):
    from PIL import Image

    medigan_host.generate("ct-head-phantom", 2, tmp_path / "png", seed=1)
    (batch,) = medigan_host.generate("ct-head-phantom", 2, seed=1)
    image = np.asarray(Image.open(tmp_path / "png/images/000001.png"))
    mask = np.asarray(Image.open(tmp_path / "png/masks/000001.png"))
    assert image.dtype == np.uint16 and np.array_equal(image, batch.images[1, ..., 0])
    assert np.array_equal(mask, batch.masks[1, ..., 0])


def test_npy_format_and_3d_default(tmp_path):
    result = medigan_host.generate("mri-brain-phantom-3d", 2, tmp_path / "vol", seed=2)
    volume = np.load(tmp_path / "vol/images/000000.npy")
    assert volume.shape == (64, 64, 64, 1) and volume.dtype == np.float32
    (batch,) = medigan_host.generate("mri-brain-phantom-3d", 1, seed=2)
    assert np.array_equal(volume, batch.images[0])
    assert result.generated == 2
    with pytest.raises(MediganUsageError, match="cannot store 3-D.*npy"):
        medigan_host.generate("mri-brain-phantom-3d", 1, tmp_path / "vol2", format="png")
    assert not (tmp_path / "vol2").exists()


def test_conditions_are_checked_and_applied():
    absent = next(iter(medigan_host.generate("ct-head-phantom", 6, condition={"lesion": "absent"})))
    present = next(iter(medigan_host.generate("ct-head-phantom", 6, condition={"lesion": "present"})))
    assert not (absent.masks == 4).any() and all((m == 4).any() for m in present.masks)
    with pytest.raises(ConditionError, match="no condition 'colour'.*lesion"):
        medigan_host.generate("ct-head-phantom", 1, condition={"colour": "red"})
    with pytest.raises(ConditionError, match="choose one of: absent, present"):
        medigan_host.generate("ct-head-phantom", 1, condition={"lesion": "maybe"})
    with pytest.raises(ConditionError, match="unconditional"):
        medigan_host.generate("mri-brain-phantom-3d", 1, condition={"lesion": "absent"})


def test_image_to_image_model_needs_inputs(tmp_path):
    (source,) = medigan_host.generate("ct-head-phantom", 3, seed=5, batch_size=3)
    out = next(iter(medigan_host.generate("ct-lowdose-sim", inputs=source.images, condition={"dose": "tenth"})))
    assert out.images.shape == source.images.shape
    inside = source.masks[..., 0] > 0
    assert np.abs(out.images.astype(int) - source.images.astype(int))[inside[..., None]].std() > 10
    with pytest.raises(MediganUsageError, match="pass inputs="):
        medigan_host.generate("ct-lowdose-sim", 2)
    with pytest.raises(MediganUsageError, match="one input per sample"):
        medigan_host.generate("ct-lowdose-sim", 5, inputs=source.images)
    with pytest.raises(MediganUsageError, match="takes no inputs"):
        medigan_host.generate("ct-head-phantom", 3, inputs=source.images)
    medigan_host.generate("ct-lowdose-sim", None, tmp_path / "ld", inputs=source.images, seed=1)
    run = json.loads((tmp_path / "ld/run.json").read_text())
    assert run["inputs_sha256"] and run["n"] == 3


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_sample_counts(bad, tmp_path):
    with pytest.raises(MediganUsageError, match="at least 1"):
        medigan_host.generate("ct-head-phantom", bad, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UnknownModelError, match="did you mean 'ct-head-phantom'"):
        medigan_host.generate("ct-head-phantm", 1)
    with pytest.raises(MediganUsageError, match="seed"):
        medigan_host.generate("ct-head-phantom", 1, seed=-4)
    with pytest.raises(MediganUsageError, match="batch_size"):
        medigan_host.generate("ct-head-phantom", 1, batch_size=0)
    with pytest.raises(MediganUsageError, match="unknown output format 'jpeg'"):
        medigan_host.generate("ct-head-phantom", 1, tmp_path / "y", format="jpeg")
    with pytest.raises(MediganUsageError, match="device"):
        medigan_host.generate("ct-head-phantom", 1, device="tpu")
    assert not (tmp_path / "y").exists()


def test_non_empty_folder_is_never_overwritten_silently(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    with pytest.raises(OutputError, match="not empty.*overwrite=True"):
        medigan_host.generate("ct-head-phantom", 2, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"], "a refused run leaves nothing, not even its lock"
    medigan_host.generate("ct-head-phantom", 2, folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "precious"


def test_existing_run_needs_resume_or_overwrite(tmp_path):
    folder = tmp_path / "run"
    medigan_host.generate("ct-head-phantom", 3, folder, seed=1)
    before = _hashes(folder)
    with pytest.raises(OutputError, match="already holds a run.*3 of 3.*resume=True.*overwrite=True"):
        medigan_host.generate("ct-head-phantom", 3, folder, seed=1)
    with pytest.raises(OutputError, match=r"different settings \(seed: 1 then, 2 now\)"):
        medigan_host.generate("ct-head-phantom", 3, folder, seed=2, resume=True)
    with pytest.raises(OutputError, match="either resume=True"):
        medigan_host.generate("ct-head-phantom", 3, folder, seed=1, resume=True, overwrite=True)
    assert _hashes(folder) == before
    again = medigan_host.generate("ct-head-phantom", 3, folder, seed=1, resume=True)
    assert (again.generated, again.already_done) == (0, 3) and _hashes(folder) == before
    replaced = medigan_host.generate("ct-head-phantom", 2, folder, seed=7, overwrite=True)
    assert replaced.generated == 2
    assert sorted(_hashes(folder)) == ["images/000000.png", "images/000001.png", "masks/000000.png", "masks/000001.png"]
    assert len(_manifest(folder)) == 2


def test_resume_extends_and_repairs(tmp_path):
    folder = tmp_path / "run"
    medigan_host.generate("ct-head-phantom", 6, folder, seed=4)
    reference = _hashes(folder)
    # Simulate a run killed at awkward moments: a torn manifest line, a lost file, an orphan temporary.
    lines = (folder / "manifest.jsonl").read_text().splitlines(keepends=True)
    (folder / "manifest.jsonl").write_text("".join(lines[:3]) + lines[3][:40])
    (folder / "images/000001.png").unlink()
    (folder / "images/.000004.png.123.medigan-tmp").write_bytes(b"partial")
    result = medigan_host.generate("ct-head-phantom", 6, folder, seed=4, resume=True)
    assert (result.already_done, result.generated) == (2, 4)
    assert _hashes(folder) == reference
    assert sorted(r["index"] for r in _manifest(folder)) == list(range(6))  # an append log: order may differ
    extended = medigan_host.generate("ct-head-phantom", 8, folder, seed=4, resume=True, batch_size=5)
    assert (extended.already_done, extended.generated) == (6, 2)
    medigan_host.generate("ct-head-phantom", 8, tmp_path / "straight", seed=4)
    assert _hashes(folder) == _hashes(tmp_path / "straight")


def test_a_folder_holding_only_temporaries_of_a_killed_run_is_a_new_folder(tmp_path):
    """A process killed while writing run.json leaves only its temporary: the folder still counts as empty."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / ".run.json.4242.medigan-tmp").write_text("{")
    medigan_host.generate("ct-head-phantom", 2, folder)
    assert not list(folder.glob("*medigan-tmp")) and len((folder / "manifest.jsonl").read_text().splitlines()) == 2
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already holds a run"):
        medigan_host.generate("ct-head-phantom", 2, folder)


def test_resume_without_a_run(tmp_path):
    result = medigan_host.generate("ct-head-phantom", 2, tmp_path / "empty", resume=True)  # a retry-safe first start
    assert (result.generated, result.already_done) == (2, 0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="nothing to resume.*not empty"):
        medigan_host.generate("ct-head-phantom", 2, tmp_path / "other", resume=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine" and not (tmp_path / "other" / "run.json").exists()


def test_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep")
    with pytest.raises(OutputError, match="not a folder"):
        medigan_host.generate("ct-head-phantom", 1, target)
    assert target.read_text() == "keep"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MediganError, match="cannot write"):
            medigan_host.generate("ct-head-phantom", 1, folder / "out")
    finally:
        folder.chmod(0o700)


def test_unwritable_folder_as_root_is_reported(tmp_path, monkeypatch):
    """Even where permissions do not apply (root), a failing mkdir becomes a clear error."""
    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", deny)
    with pytest.raises(MediganError, match="cannot write to output folder.*Permission denied"):
        medigan_host.generate("ct-head-phantom", 1, tmp_path / "denied")


def test_second_writer_is_locked_out(tmp_path):
    with RunFolder(tmp_path / "busy"):
        with pytest.raises(OutputLockedError, match="another medigan generation"):
            medigan_host.generate("ct-head-phantom", 1, tmp_path / "busy")
    medigan_host.generate("ct-head-phantom", 1, tmp_path / "busy")


class _Misbehaving:
    """A plugin whose generators break the contract in different ways."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    @hookimpl
    def medigan_register_models(self, register):
        register(card(f"bad-{self.mode}", outputs="image+mask" if self.mode == "nomask" else "image"), self.load)

    def load(self, card, device):
        return self

    def generate(self, seeds, *, condition=None, inputs=None):
        n = len(seeds)
        if self.mode == "shape":
            return {"images": np.zeros((n, 4, 4, 1), np.float32)}
        if self.mode == "range":
            return {"images": np.full((n, 8, 8, 1), 2.0, np.float32)}
        if self.mode == "count":
            return {"images": np.zeros((n + 1, 8, 8, 1), np.uint8)}
        if self.mode == "dtype":
            return {"images": np.zeros((n, 8, 8, 1), np.float64)}
        if self.mode == "nomask":
            return {"images": np.zeros((n, 8, 8, 1), np.uint8)}
        if self.mode == "type":
            return [1, 2, 3]
        if self.mode == "crash":
            raise RuntimeError("CUDA out of memory")
        raise AssertionError(self.mode)


@pytest.mark.parametrize(("mode", "words"), [
    ("shape", "expected (1, 8, 8, 1)"), ("range", "in [0, 1]"), ("count", "shape (2, 8, 8, 1)"),
    ("dtype", "float64"), ("nomask", "no masks"), ("type", "Samples or a dict"), ("crash", "CUDA out of memory"),
])
def test_contract_violations_name_the_model(mode, words, tmp_path):
    medigan_host.register_plugin(_Misbehaving(mode), name=f"misbehaving-{mode}")
    with pytest.raises(PluginError, match=re.escape(words)) as info:
        medigan_host.generate(f"bad-{mode}", 1, tmp_path / "out")
    assert f"bad-{mode}" in str(info.value)
    assert not list((tmp_path / "out" / "images").glob("*")), "a failed batch must leave no files"
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_missing_framework_names_the_pip_command():
    class NeedsFramework:
        @hookimpl
        def medigan_register_models(self, register):
            register(card("needs-jax", framework="jax"), "jax_model:load")

    medigan_host.register_plugin(NeedsFramework(), name="needsjax")
    with pytest.raises(medigan_host.FrameworkMissingError, match="pip install jax"):
        medigan_host.load_model("needs-jax")


def test_latents_are_per_seed():
    batch = medigan_host.latents([1, 2, 3], (4, 2))
    assert batch.shape == (3, 4, 2) and batch.dtype == np.float32
    assert np.array_equal(batch[1], medigan_host.latents([2], (4, 2))[0])
    assert not np.array_equal(batch[0], batch[1])


def test_fixed_batches_calls_with_one_shape_and_keeps_rows_in_order():
    shapes = []

    def network(z, labels):
        shapes.append((z.shape, labels.shape))
        return z.sum(axis=1) * 10 + labels  # a row's result depends only on that row

    z = medigan_host.latents(range(37), 3)
    labels = np.arange(37)
    out = medigan_host.fixed_batches(network, z, labels, size=16)
    assert shapes == [((16, 3), (16,))] * 3  # 16 + 16 + 5, the last padded with zero rows
    np.testing.assert_array_equal(out, z.sum(axis=1) * 10 + labels)
    assert medigan_host.fixed_batches(lambda x: x * 2, np.ones((1, 2)), size=4).shape == (1, 2)
    with pytest.raises(ValueError, match="one length"):
        medigan_host.fixed_batches(network, z, labels[:5])
    with pytest.raises(ValueError, match="at least 1"):
        medigan_host.fixed_batches(network, z, labels, size=0)


def test_list_models_filters():
    ids = {c.id for c in medigan_host.list_models(modality="CT")}
    assert {"ct-head-phantom", "ct-lowdose-sim"} <= ids and "mammo-breast-phantom" not in ids
    tagged = medigan_host.list_models(tags="3d")  # other installed plugins may add 3-D models
    assert "mri-brain-phantom-3d" in {c.id for c in tagged} and all("3d" in c.tags for c in tagged)
    assert "ct-head-phantom" not in {c.id for c in tagged}
    with pytest.raises(TypeError, match="unknown filter"):
        medigan_host.list_models(colour="red")
