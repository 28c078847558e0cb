"""The worker: runs one original medigan model's own ``generate`` function inside that model's environment.

Started by :mod:`medigan_plugin_original.runner` as ``python _worker.py`` with the model's unpacked package below
its working folder (``models/<package_name>/``, where the original library kept it). It imports nothing of medigan:
only the standard library, numpy, and (when installed) torch for seeding.

Protocol, on stdin (requests) and on a private copy of stdout (replies; the original code's own prints go to
stderr): frames of a 4-byte big-endian length and that many bytes. A message is one JSON frame, followed by as many
frames of raw ``.npy`` bytes as its ``arrays`` field says. Arrays are written and read with ``allow_pickle=False``, so
nothing that crosses the pipe can run code.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import traceback

import numpy as np

_HEADER = struct.Struct(">I")


def _read_exact(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _read_frame(stream) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return _read_exact(stream, size)


def _send(out, message: dict, arrays: list | None = None) -> None:
    arrays = arrays or []
    frames = [json.dumps({**message, "arrays": len(arrays)}).encode()]
    for array in arrays:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        frames.append(buffer.getvalue())
    out.write(b"".join(_HEADER.pack(len(f)) + f for f in frames))
    out.flush()


def _seed(seed: int) -> None:
    """Seed every source of randomness the original code may use from one sample's seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _to_arrays(item) -> list:
    """One returned sample as a list of numpy arrays (an array, a tensor, or a tuple/list of them)."""
    if isinstance(item, (list, tuple)):
        return [a for part in item for a in _to_arrays(part)]
    if hasattr(item, "detach"):  # a torch tensor
        item = item.detach().cpu().numpy()
    array = np.asarray(item)
    if array.dtype == object:
        raise TypeError(f"the original returned a {type(item).__name__} that is not an array")
    return [array]


def _items(result, n: int) -> list:
    """The ``n`` per-sample items of what the original's generate returned."""
    if hasattr(result, "detach") or isinstance(result, np.ndarray):
        result = list(result)
    if not isinstance(result, (list, tuple)):
        raise TypeError(f"the original's generate returned {type(result).__name__}, not a list of samples "
                        "(it is called with save_images=False)")
    if len(result) < n:
        raise ValueError(f"the original's generate returned {len(result)} samples, {n} were asked for")
    return list(result[:n])


class _Model:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(f"models.{spec['package']}")
        self.function = getattr(module, spec["function"])
        self.scratch = tempfile.mkdtemp(prefix="medigan-original-")

    def call(self, num_samples: int, extra: dict) -> object:
        kwargs = dict(self.spec["custom_args"])
        kwargs.update(extra)
        base = {"model_file": self.spec["model_file"], "num_samples": num_samples,
                "output_path": os.path.join(self.scratch, "output"), "save_images": False}
        kwargs.update({name: base[name] for name in self.spec["base_args"]})
        return self.function(**kwargs)

    def generate(self, request: dict, arrays: list) -> list[list]:
        seeds = request["seeds"]
        extra = dict(request.get("kwargs") or {})
        latent_arg = request.get("latent_arg")
        if latent_arg:  # the whole batch at once, from the host's latents
            z = arrays[0]
            try:
                import torch

                z = torch.from_numpy(z)
            except ImportError:
                pass
            _seed(seeds[0])
            return [_to_arrays(item) for item in _items(self.call(len(seeds), {**extra, latent_arg: z}), len(seeds))]
        out = []
        input_arg = request.get("input_arg")
        for i, seed in enumerate(seeds):
            call_extra = dict(extra)
            if input_arg:
                call_extra[input_arg] = request["input_dirs"][i]
            _seed(seed)
            out.append(_to_arrays(_items(self.call(1, call_extra), 1)[0]))
        return out


def main() -> int:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the original prints goes to stderr, never into the replies
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    model = None
    while True:
        try:
            message = json.loads(_read_frame(requests))
            arrays = [np.load(io.BytesIO(_read_frame(requests)), allow_pickle=False) for _ in range(message.get("arrays", 0))]
        except EOFError:
            break
        op = message.get("op")
        if op == "exit":
            break
        try:
            if op == "init":
                model = _Model(message["spec"])
                _send(replies, {"ok": True})
            elif op == "generate":
                samples = model.generate(message, arrays)
                _send(replies, {"ok": True, "counts": [len(s) for s in samples]}, [a for s in samples for a in s])
            else:
                raise ValueError(f"unknown request {op!r}")
        except BaseException as exc:  # noqa: BLE001 - the original's failure (sys.exit included) is reported, not fatal
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            _send(replies, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                return 3
    if model is not None:
        shutil.rmtree(model.scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
