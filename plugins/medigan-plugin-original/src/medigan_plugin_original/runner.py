"""The loader of the original models: fetch the record's zip, unpack it, and drive a worker in the model's environment.

The host checks trust before this module is imported. Then: the zip comes from the model's Zenodo record through
``medigan_host.fetch_weights`` (verified), is unpacked once into the cache (every member checked to stay inside),
and a worker process (:mod:`._worker`) is started with the Python of the model's own environment
(``medigan env create``). The worker imports the original package once per run and is fed batches; arrays come back
as raw ``.npy`` bytes read with ``allow_pickle=False``. A worker that crashes, exits or does not answer within
``MEDIGAN_ORIGINAL_TIMEOUT`` seconds (default 600 per batch) fails the run with the tail of its stderr.
"""

from __future__ import annotations

import atexit
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

from medigan_host import ModelCard, PluginError, Samples, fetch_weights, latents
from medigan_host.environments import require_env
from medigan_host.formats.writers import png_bytes, to_uint
from medigan_host.weights import _seconds, model_folder, sha256_of  # _seconds: the host's positive-seconds setting

TIMEOUT_ENV = "MEDIGAN_ORIGINAL_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
#: Seconds the worker may take to import the original package.
START_TIMEOUT_ENV = "MEDIGAN_ORIGINAL_START_TIMEOUT"
WORKER = Path(__file__).with_name("_worker.py")
_HEADER = struct.Struct(">I")
_UNPACKED = ".unpacked.json"
_STDERR_TAIL = 20


def unpack(card: ModelCard, archive: Path) -> Path:
    """Unpack the record's zip once into ``<model cache>/code/models/`` (where the original kept packages).

    Returns the working folder the worker runs in. A member that would land outside (absolute paths, ``..``,
    links) refuses the whole zip. Unpacked again whenever the zip's sha256 changes.
    """
    spec = card.extra["original"]
    root = model_folder(card) / "code"
    digest = sha256_of(archive)
    marker = root / _UNPACKED
    try:
        if json.loads(marker.read_text(encoding="utf-8")).get("sha256") == digest:
            return root
    except (OSError, ValueError):
        pass
    building = root.with_name(f".code.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    target = (building / "models").resolve()
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                destination = (target / member.filename).resolve()
                is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
                if is_link or not destination.is_relative_to(target):
                    raise PluginError(f"model {card.id!r}: {archive.name} holds {member.filename!r}, which would land "
                                      "outside its folder; the zip is refused")
            zipped.extractall(target)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise PluginError(f"model {card.id!r}: {archive} is not a zip file ({exc})") from exc
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    package = target / spec["package"]
    if not (package / "__init__.py").is_file():
        shutil.rmtree(building, ignore_errors=True)
        raise PluginError(f"model {card.id!r}: {archive.name} has no {spec['package']}/__init__.py (the original "
                          "package layout); it is not this model's package")
    (building / _UNPACKED).write_text(json.dumps({"sha256": digest, "zip": archive.name}), encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    os.replace(building, root)
    return root


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
        self.card = card
        self.spec = card.extra["original"]
        python = require_env(card)
        self.root = unpack(card, fetch_weights(card))
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
