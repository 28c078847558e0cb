"""The loader of the original models: fetch the record's zip, unpack it, and drive a worker in the model's environment.

Trust is checked before anything is unpacked or imported (:func:`medigan_host.trust.require_granted`, whatever the
card says). Then: the zip comes from the model's Zenodo record through
``medigan_host.fetch_weights`` (verified), is unpacked once into the cache within limits (every member checked to stay inside), its
files' sha256 kept in a manifest that every load checks before the worker imports anything,
and a worker process (:mod:`._worker`) is started with the Python of the model's own environment
(``medigan env create``). The worker imports the original package once per run and is fed batches; arrays come back
as raw ``.npy`` bytes read with ``allow_pickle=False``. A worker that crashes, exits or does not answer within
``MEDIGAN_ORIGINAL_TIMEOUT`` seconds (default 600 per batch) fails the run with the tail of its stderr.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
import weakref
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medigan_host import ModelCard, PluginError, Samples, atomic, fetch_weights, latents
from medigan_host.environments import require_env
from medigan_host.errors import MediganUsageError
from medigan_host.formats.writers import png_bytes, to_uint
from medigan_host.trust import require_granted
from medigan_host.weights import (  # _seconds: the host's positive-seconds setting
    ENTRY_MARKER,
    RECORD_SUFFIX,
    UNPACKED_FOLDER,
    _seconds,
    claim_folder,
    expected_sha256,
    model_folder,
    sha256_of,
    weights_entry,
)

TIMEOUT_ENV = "MEDIGAN_ORIGINAL_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
#: Seconds the worker may take to import the original package.
START_TIMEOUT_ENV = "MEDIGAN_ORIGINAL_START_TIMEOUT"
WORKER = Path(__file__).with_name("_worker.py")
_HEADER = struct.Struct(">I")
_UNPACKED = ".unpacked.json"
_STDERR_TAIL = 20


#: Limits on what one record's zip may unpack to: bytes in all (raise with the variable), files, and the ratio of the
#: unpacked bytes to the zip's own size (a zip bomb packs gigabytes of zeros into a few megabytes).
UNPACK_MAX_BYTES_ENV = "MEDIGAN_UNPACK_MAX_BYTES"
DEFAULT_UNPACK_MAX_BYTES = 8 << 30
UNPACK_MAX_FILES = 10_000
UNPACK_MAX_RATIO = 200
#: Room left free on the cache disk after unpacking.
UNPACK_DISK_MARGIN = 256 << 20
#: Files that Python would import, or that change what it imports: an unpacked tree may hold none it did not unpack.
_IMPORTABLE = (".py", ".pyc", ".pyo", ".pyd", ".so", ".pth", ".dll", ".dylib")


def unpack_limit() -> int:
    """The most bytes one zip may unpack to: ``MEDIGAN_UNPACK_MAX_BYTES`` (default 8 GiB)."""
    value = os.environ.get(UNPACK_MAX_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_UNPACK_MAX_BYTES
    if not value.isdigit() or int(value) < 1:
        raise MediganUsageError(f"{UNPACK_MAX_BYTES_ENV}={value!r} is not a positive whole number of bytes; set it to "
                                f"e.g. {DEFAULT_UNPACK_MAX_BYTES}, or unset it")
    return int(value)


def unpack(card: ModelCard, archive: Path, digest: str | None = None) -> Path:
    """The verified, unpacked code of the record's zip in ``<model cache>/code/`` (its ``models/`` folder holds the
    package, where the original kept packages); the working folder the worker runs in.

    ``digest`` is the zip's sha256 as verified by :func:`medigan_host.fetch_weights` (hashed here when not given). The
    zip is unpacked once, within limits (:data:`UNPACK_MAX_FILES` files, :func:`unpack_limit` bytes,
    :data:`UNPACK_MAX_RATIO` times its size, the free disk), into a folder the cache lists and clears; a member
    that would land outside (absolute paths, ``..``, links) refuses the whole zip. The tree gets a manifest of its
    files' sha256 (``.unpacked.json``, with the zip's sha256), and every later call checks every file against it
    before anything is imported: a file changed, removed or added (an importable one) after unpacking refuses the
    load and the tree is deleted, to be unpacked afresh from the verified zip. A new zip (another sha256) is unpacked
    again.
    """
    root = model_folder(card) / UNPACKED_FOLDER
    digest = digest or sha256_of(archive)
    manifest = _read_manifest(root / _UNPACKED)
    if manifest is not None and manifest.get("sha256") == digest:
        problem = _tree_problem(root, manifest)
        if problem is None:
            return root
        shutil.rmtree(root, ignore_errors=True)
        raise PluginError(f"model {card.id!r}: the unpacked code in {root} {problem} since it was unpacked from the "
                          f"verified {archive.name}; it was not run, and the folder was deleted. Run the command again to "
                          "unpack it afresh from the verified archive (keep the cache on storage only you can write)")
    claim_folder(card)
    building = root.with_name(f".code.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        files = _extract(card, archive, building / "models")
        package = building / "models" / card.extra["original"]["package"]
        if not (package / "__init__.py").is_file():
            raise PluginError(f"model {card.id!r}: {archive.name} has no {card.extra['original']['package']}/__init__.py "
                              "(the original package layout); it is not this model's package")
        atomic.write_text(building / _UNPACKED, json.dumps({"sha256": digest, "zip": archive.name, "files": files},
                                                           indent=0, sort_keys=True))
        shutil.rmtree(root, ignore_errors=True)
        os.replace(building, root)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return root


def _read_manifest(path: Path) -> dict | None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def _tree_problem(root: Path, manifest: dict) -> str | None:
    """What differs between the unpacked tree and its manifest (None: every file as unpacked, nothing importable
    added, no links)."""
    expected: dict = manifest["files"]
    for name, sha in sorted(expected.items()):
        path = root / "models" / name
        if path.is_symlink() or not path.is_file():
            return f"lost {name}"
        if sha256_of(path) != sha:
            return f"has a changed {name}"
    models = root / "models"
    for current, dirs, names in os.walk(models, followlinks=False):
        here = Path(current)
        for entry in [*dirs, *names]:
            path = here / entry
            relative = path.relative_to(models).as_posix()
            if path.is_symlink():
                return f"holds a link {relative}"
            if entry in names and relative not in expected and (entry.endswith(_IMPORTABLE) or entry == "__pycache__"):
                return f"holds {relative}, which was not in the archive"
        if "__pycache__" in dirs:
            return f"holds {(here / '__pycache__').relative_to(models).as_posix()}, which was not in the archive"
    return None


def _extract(card: ModelCard, archive: Path, target: Path) -> dict[str, str]:
    """Unpack ``archive`` into ``target`` within the limits; return {member path: sha256} of its files."""
    where = f"model {card.id!r}: {archive.name}"
    try:
        zipped = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PluginError(f"model {card.id!r}: {archive} is not a zip file ({exc})") from exc
    with zipped:
        members = zipped.infolist()
        _mkdirs(model_folder(card), target)
        resolved = target.resolve()
        for member in members:
            destination = (resolved / member.filename).resolve()
            is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
            parts = member.filename.replace("\\", "/").split("/")
            if is_link or member.filename.startswith("/") or ".." in parts or not destination.is_relative_to(resolved) \
                    or destination == resolved:
                raise PluginError(f"{where} holds {member.filename!r}, which would land outside its folder; the zip is "
                                  "refused")
            if Path(member.filename).name == ENTRY_MARKER:
                raise PluginError(f"{where} holds {member.filename!r}, a name medigan keeps for its own; the zip is "
                                  "refused")
        files = [m for m in members if not m.is_dir()]
        declared = sum(m.file_size for m in files)
        limit = min(unpack_limit(), _free_bytes(target) - UNPACK_DISK_MARGIN)
        bomb = _bomb(len(files), declared, archive.stat().st_size, limit)
        if bomb:
            _refuse_archive(card, archive)
            raise PluginError(f"{where} {bomb}; it was refused as a zip bomb, nothing was unpacked and the archive was "
                              f"deleted (raise {UNPACK_MAX_BYTES_ENV} if a model really is that large)")
        try:
            return _write_members(zipped, members, resolved, declared, limit, where)
        except OSError as exc:
            raise PluginError(f"{where} could not be unpacked into {target}: {exc}; nothing was unpacked"
                              + (" (free some space or set MEDIGAN_CACHE_DIR to a disk with room)"
                                 if atomic.is_disk_full(exc) else "")) from exc


def _write_members(zipped: zipfile.ZipFile, members: list, resolved: Path, declared: int, limit: int,
                   where: str) -> dict[str, str]:
    written, out = 0, {}
    for member in members:
        destination = resolved / member.filename
        if member.is_dir():
            _mkdirs(resolved, destination)
            continue
        _mkdirs(resolved, destination.parent)
        digest = hashlib.sha256()
        with zipped.open(member) as source, open(destination, "xb") as sink:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > declared or written > limit:  # never more than the members said they hold
                    raise PluginError(f"{where} unpacks to more bytes than its members declare ({written:,}); it "
                                      "was refused, nothing was unpacked")
                digest.update(chunk)
                sink.write(chunk)
        out[Path(member.filename).as_posix()] = digest.hexdigest()
    return out


def _bomb(count: int, size: int, archive_size: int, limit: int) -> str | None:
    if count > UNPACK_MAX_FILES:
        return f"holds {count:,} files (at most {UNPACK_MAX_FILES:,})"
    if size > limit:
        return (f"would unpack to {size:,} bytes, more than {limit:,} (the limit {UNPACK_MAX_BYTES_ENV}, or the free "
                "disk space)")
    if size > UNPACK_MAX_RATIO * max(archive_size, 1):
        return (f"would unpack to {size:,} bytes, {size / max(archive_size, 1):,.0f} times its own {archive_size:,} "
                f"(at most {UNPACK_MAX_RATIO})")
    return None


def _refuse_archive(card: ModelCard, archive: Path) -> None:
    """Delete a refused archive from the cache (with its sha256 record), never a file outside it."""
    if archive.parent == model_folder(card):
        archive.unlink(missing_ok=True)
        archive.with_name(archive.name + RECORD_SUFFIX).unlink(missing_ok=True)


def _mkdirs(root: Path, folder: Path) -> None:
    """Create ``folder`` below ``root``, each new folder marked as the cache's (so ``medigan cache clear`` takes it)."""
    current = root
    for part in folder.relative_to(root).parts:
        current = current / part
        if not current.is_dir():
            current.mkdir()
            atomic.write_text(current / ENTRY_MARKER, f"medigan unpacked code of model {current}\n")


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62


class _Worker:
    """One worker process; every request waits at most ``timeout`` seconds for its reply."""

    def __init__(self, card: ModelCard, python: Path, cwd: Path) -> None:
        self.card = card
        self.stderr = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("PYTHONPATH", None)
        self.process = subprocess.Popen([str(python), str(WORKER)], cwd=str(cwd), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self._finalizer = weakref.finalize(self, _stop, self.process, self.stderr)
        atexit.register(self._finalizer)

    def request(self, message: dict[str, Any], arrays: Sequence[np.ndarray] = (), *, timeout: float) -> tuple[dict, list]:
        frames = [json.dumps({**message, "arrays": len(arrays)}).encode()] + [_npy(a) for a in arrays]
        try:
            self.process.stdin.write(b"".join(_HEADER.pack(len(f)) + f for f in frames))
            self.process.stdin.flush()
        except OSError:
            raise self._died("before it took the request") from None
        deadline = time.monotonic() + timeout
        reply = json.loads(self._frame(deadline, timeout))
        received = [np.load(io.BytesIO(self._frame(deadline, timeout)), allow_pickle=False) for _ in range(reply.get("arrays", 0))]
        if not reply.get("ok"):
            self.close()
            raise PluginError(f"model {self.card.id!r}: the original code failed: {reply.get('error')}{self._tail()}")
        return reply, received

    def _frame(self, deadline: float, timeout: float) -> bytes:
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline, timeout))
        return self._read(size, deadline, timeout)

    def _read(self, n: int, deadline: float, timeout: float) -> bytes:
        fd = self.process.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.close()
                raise PluginError(f"model {self.card.id!r}: the original code did not answer within {timeout:g} s and "
                                  f"was stopped (raise {TIMEOUT_ENV} for slow models){self._tail()}")
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise self._died("while answering")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _died(self, when: str) -> PluginError:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self.close()
        return PluginError(f"model {self.card.id!r}: the worker running the original code exited {when} "
                           f"(exit status {code}){self._tail()}")

    def _tail(self) -> str:
        try:
            self.stderr.seek(0)
            lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return ("; its stderr ends with:\n" + "\n".join(lines[-_STDERR_TAIL:])) if lines else ""

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                goodbye = json.dumps({"op": "exit"}).encode()
                self.process.stdin.write(_HEADER.pack(len(goodbye)) + goodbye)
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _stop(process: subprocess.Popen, stderr: Any) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass
    stderr.close()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


class OriginalModel:
    """An original medigan model run by its own code in a worker; one sample per seed, as every medigan model."""

    def __init__(self, card: ModelCard, device: str) -> None:
        require_granted(card)  # whatever the card says: nothing is unpacked or imported without the user's trust
        self.card = card
        self.spec = card.extra["original"]
        python = require_env(card)
        archive = fetch_weights(card)  # verified against the card's sha256 or the one recorded against its record
        self.root = unpack(card, archive, expected_sha256(card, weights_entry(card)))
        self.timeout = _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT)
        self.worker = _Worker(card, python, self.root)
        package = self.spec["package"]
        init = {"package": package, "function": self.spec["function"], "base_args": self.spec["base_args"],
                "custom_args": self.spec.get("custom_args", {}),
                "model_file": f"models/{package}/{self.spec['weights_file']}"}
        self.worker.request({"op": "init", "spec": init}, timeout=_seconds(START_TIMEOUT_ENV, self.timeout))
        latent = self.spec.get("latent")
        if self.spec.get("latent_arg") and latent:
            self.latent_shape = (int(latent),)
        #: the original function's own keyword arguments, which callers may set (``Generators.generate(..., gpu_id=0)``)
        self.options = tuple(self.spec.get("custom_args", {}))

    def generate(self, seeds: Sequence[int], *, condition: Mapping[str, Any] | None = None, inputs: Any = None,
                 options: Mapping[str, Any] | None = None) -> Samples:
        seeds = [int(s) for s in seeds]
        if getattr(self, "latent_shape", None):
            return self.generate_from_latents(latents(seeds, self.latent_shape), condition=condition, seeds=seeds,
                                              options=options)
        message = {"op": "generate", "seeds": seeds, "kwargs": {**(options or {}), **self._condition_kwargs(condition)}}
        latent = self.spec.get("latent")
        if inputs is None and latent and not self.spec.get("input_arg"):
            # one latent convention: the host's latents of each seed, handed to the original's torch.randn draw
            message["latent_draw"] = {"latent": int(latent), "batch": int(self.spec.get("latent_batch", 1))}
            reply = self.worker.request(message, [latents(seeds, int(latent))], timeout=self.timeout)
            return self._samples(*reply, len(seeds))
        if inputs is None:
            return self._samples(*self.worker.request(message, timeout=self.timeout), len(seeds))
        with tempfile.TemporaryDirectory(prefix="medigan-inputs-") as folder:
            message["input_arg"] = self.spec["input_arg"]
            message["input_dirs"] = _input_folders(Path(folder), inputs)
            return self._samples(*self.worker.request(message, timeout=self.timeout), len(seeds))

    def default_inputs(self) -> np.ndarray:
        """The sample inputs shipped in the model's package, in name order: the folder the original's ``input_path``
        default names (relative to the working folder, or to the package)."""
        from medigan_host.generation.inputs import read_inputs

        arg = self.spec.get("input_arg")
        default = self.spec.get("custom_args", {}).get(arg) if arg else None
        if not default:
            raise PluginError(f"model {self.card.id!r} ships no sample inputs; give inputs (--inputs FOLDER)")
        candidates = [self.root / default, self.root / "models" / self.spec["package"] / default]
        folder = next((c for c in candidates if c.is_dir() and any(c.iterdir())), None)
        if folder is None:
            raise PluginError(f"model {self.card.id!r}: its package has no sample inputs in {default!r} (the original's "
                              "default input_path); give inputs (--inputs FOLDER, Python inputs= or input_path=)")
        return read_inputs(folder)

    def close(self) -> None:
        """Stop the worker (it is also stopped when the model is garbage-collected or medigan exits)."""
        self.worker.close()

    def generate_from_latents(self, z: Any, *, condition: Mapping[str, Any] | None = None,
                              seeds: Sequence[int] | None = None, options: Mapping[str, Any] | None = None) -> Samples:
        z = np.asarray(z, dtype=np.float32)
        shaped = z.reshape(len(z), *self.latent_shape, *self.spec.get("latent_suffix", (1, 1)))
        message = {"op": "generate", "seeds": list(seeds) if seeds is not None else [0] * len(z),
                   "kwargs": {**(options or {}), **self._condition_kwargs(condition)}, "latent_arg": self.spec["latent_arg"]}
        return self._samples(*self.worker.request(message, [shaped], timeout=self.timeout), len(z))

    def _condition_kwargs(self, condition: Mapping[str, Any] | None) -> dict[str, Any]:
        rule = self.spec.get("condition_arg")
        if not rule or not condition or rule["condition"] not in condition:
            return {}
        value = condition[rule["condition"]]
        value = rule.get("values", {}).get(str(value), value)
        return {rule["arg"]: [value] if rule.get("wrap") == "list" else value}

    def _samples(self, reply: dict, arrays: list[np.ndarray], n: int) -> Samples:
        counts = reply.get("counts", [])
        if len(counts) != n or sum(counts) != len(arrays):
            raise PluginError(f"model {self.card.id!r}: the worker answered {len(counts)} samples for {n} asked")
        images, masks, start = [], [], 0
        kind = self.spec.get("output", "image")
        for count in counts:
            parts = [_hwc(a) for a in arrays[start:start + count]]
            start += count
            if kind == "image_mask_channels":
                images.append(parts[0][..., :-1])
                masks.append(parts[0][..., -1:])
            elif kind == "image_mask_pair":
                if len(parts) < 2:
                    raise PluginError(f"model {self.card.id!r}: the original returned no mask beside its image")
                images.append(parts[0])
                masks.append(parts[1][..., :1])
            else:
                images.append(parts[0])
        out = Samples(images=_image_values(images, self.card))
        if self.card.has_masks:
            out.masks = _mask_values(masks)
        return out


def _hwc(array: np.ndarray) -> np.ndarray:
    """An (H, W, C) view of one returned image: batch axes of 1 dropped, channels moved last, grey given an axis."""
    while array.ndim > 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        return array[..., None]
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        return np.moveaxis(array, 0, -1)
    return array


def _image_values(images: list[np.ndarray], card: ModelCard) -> np.ndarray:
    """The original's values as its save code writes them: 8/16-bit integers as they are; floats in [0, 1] kept,
    floats in [-1, 1] (a tanh output) mapped to [0, 1]; anything else is refused rather than guessed."""
    try:
        batch = np.stack(images)
    except ValueError as exc:
        raise PluginError(f"model {card.id!r}: the original returned images of different shapes ({exc})") from exc
    if batch.dtype in (np.uint8, np.uint16):
        return batch
    if batch.dtype.kind in "iub":
        if batch.min() >= 0 and batch.max() <= 255:
            return batch.astype(np.uint8)
        raise PluginError(f"model {card.id!r}: integer images outside 0..255 ({batch.min()}..{batch.max()})")
    batch = batch.astype(np.float32)
    low, high = float(batch.min()), float(batch.max())
    if low >= 0.0 and high <= 1.0:
        return batch
    if low >= -1.0 and high <= 1.0:
        return (batch + 1.0) * 0.5
    if low >= 0.0 and high <= 255.0:
        return to_uint(np.clip(batch, 0, 255) / 255.0, 8)
    raise PluginError(f"model {card.id!r}: the original returned float images from {low} to {high}, a range whose "
                      "mapping to pixels is not known")


def _mask_values(masks: list[np.ndarray]) -> np.ndarray:
    batch = np.stack(masks)
    if batch.dtype.kind == "f":  # a float mask: its pixels as the original writes them (0/1 or 0..255)
        batch = np.rint(np.clip(batch, 0, None) * (255.0 if batch.max() <= 1.0 else 1.0))
    return batch.astype(np.uint8)


def _input_folders(folder: Path, inputs: Any) -> list[str]:
    """One folder per input, holding it as ``input.png`` (the originals read a folder of PNGs, ``input_path``)."""
    out = []
    for i, image in enumerate(inputs):
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[..., None]
        sub = folder / f"{i:06d}"
        sub.mkdir()
        pixels = array if array.dtype in (np.uint8, np.uint16) else to_uint(np.clip(array.astype(np.float32), 0, 1), 8)
        (sub / "input.png").write_bytes(png_bytes(pixels))
        out.append(str(sub))
    return out


def load(card: ModelCard, device: str) -> OriginalModel:
    """medigan loader: the original code of ``card``'s model, in a worker of its environment."""
    return OriginalModel(card, device)
