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
import inspect
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


def _torch():
    """torch when the environment has it (imported once, at start-up), else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _seed(seed: int) -> None:
    """Seed every source of randomness the original code may use from one sample's seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = _torch()
    if torch is None:
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


def _check_signature(function, names: list) -> None:
    """The original function must take every argument the card passes it (or ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return  # a builtin or C function: nothing to compare
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    missing = [name for name in names if name not in parameters]
    if missing:
        raise TypeError(f"{function.__name__}{inspect.signature(function)} does not take {', '.join(missing)}, which "
                        "the model's card passes it: the package is not the one the card describes")


class _LatentDraw:
    """While the original runs, ``torch.randn`` answers its one draw of the batch's latent vectors (a size of
    ``(num_samples, latent, ...)``) with the host's latents, so the original code makes the same image for a seed as
    a native port that uses ``medigan_host.latents``. Every other draw goes to torch as usual."""

    def __init__(self, torch, z: np.ndarray, latent: int) -> None:
        self.torch, self.z, self.latent, self.used = torch, z, latent, 0
        self.original = torch.randn

    def __enter__(self):
        torch, original = self.torch, self.original

        def randn(*size, **kwargs):
            shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
            if (not self.used and len(shape) >= 2 and all(isinstance(d, int) for d in shape)
                    and shape[0] == len(self.z) and shape[1] == self.latent and int(np.prod(shape)) == self.z.size
                    and kwargs.get("out") is None):
                self.used += 1
                tensor = torch.from_numpy(self.z.reshape(shape).copy())
                return tensor.to(device=kwargs.get("device") or "cpu",
                                 dtype=kwargs.get("dtype") or torch.get_default_dtype()).requires_grad_(
                    bool(kwargs.get("requires_grad", False)))
            return original(*size, **kwargs)

        torch.randn = randn
        return self

    def __exit__(self, *exc) -> None:
        self.torch.randn = self.original


class _Model:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(f"models.{spec['package']}")
        self.function = getattr(module, spec["function"])
        _check_signature(self.function, [*spec["base_args"], *spec.get("custom_args", {})])
        self.scratch = tempfile.mkdtemp(prefix="medigan-original-")
        #: whether the original draws its latents with torch.randn (None: not known until its first batch)
        self.draws_latent = None
        _torch()  # the seeding framework loads with the model, not inside the first request's time limit

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
            torch = _torch()
            z = arrays[0] if torch is None else torch.from_numpy(arrays[0])
            _seed(seeds[0])
            return [_to_arrays(item) for item in _items(self.call(len(seeds), {**extra, latent_arg: z}), len(seeds))]
        draw = request.get("latent_draw")
        torch = _torch()
        if draw and arrays and torch is not None and self.draws_latent is not False:
            drawn = self._drawn(seeds, extra, arrays[0], int(draw["latent"]), int(draw.get("batch") or 1), torch)
            if drawn is not None:
                return drawn
        out = []
        input_arg = request.get("input_arg")
        for i, seed in enumerate(seeds):
            call_extra = dict(extra)
            if input_arg:
                call_extra[input_arg] = request["input_dirs"][i]
            _seed(seed)
            out.append(_to_arrays(_items(self.call(1, call_extra), 1)[0]))
        return out


    def _drawn(self, seeds: list, extra: dict, z: np.ndarray, latent: int, batch: int, torch) -> list | None:
        """The samples made from the host's latents ``z`` in calls of exactly ``batch`` samples (the last padded with
        zero rows, dropped), or None when the original drew no latent with torch.randn (then seeds are used)."""
        out = []
        for start in range(0, len(seeds), batch):
            rows = z[start:start + batch]
            padded = np.concatenate([rows, np.zeros((batch - len(rows), *rows.shape[1:]), rows.dtype)]) if len(rows) < batch else rows
            _seed(seeds[start])
            with _LatentDraw(torch, padded, latent) as draw:
                result = self.call(batch, dict(extra))
            if not draw.used:
                self.draws_latent = False
                print(f"medigan: the original drew no torch.randn latent of size ({batch}, {latent}, ...); each "
                      "sample is made from its seed instead", file=sys.stderr)
                return None
            self.draws_latent = True
            out += [_to_arrays(item) for item in _items(result, batch)[:len(rows)]]
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
