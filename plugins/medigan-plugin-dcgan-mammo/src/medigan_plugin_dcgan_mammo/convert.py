"""Convert an original medigan checkpoint (the published zip, or the .pt inside it) into verified safetensors.

    python -m medigan_plugin_dcgan_mammo.convert MODEL ORIGINAL.zip [--output FILE]

MODEL is a model id, upstream id or its number (1, 2, 5, 6, 8, 12). ``medigan generate`` does this by itself
after downloading the zip from its Zenodo record; this command is for a zip or checkpoint obtained by hand.
The checkpoint is read with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain
containers, so no code inside it can run. Its generator layers are renamed to this plugin's network, checked
against the card's architecture, and written as safetensors: by default into the medigan cache (with a sha256
record checked on every load), or to FILE. The output depends only on the checkpoint's bytes, so the printed
sha256 is the same on every machine and can be published in the card.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pickle
import re
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from medigan_host import MediganError, MediganUsageError, ModelCard, WeightsError, get_card
from medigan_host.atomic import write_bytes
from medigan_host.weights import store_weights

from .network import DCGANGenerator, fitted_spec, state_mismatches
from .specs import WEIGHTS_FILE, GeneratorSpec, UpstreamWeights

#: Upstream generators are one nn.Sequential named ``main`` (00001, 00005) or ``model`` (00002).
_UPSTREAM_KEY = re.compile(r"^(?P<seq>main|model)\.(?P<index>\d+)\.(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)$")
#: Layers upstream code keeps beside ``main``: ``first_layers`` repeats main's first blocks (shared modules), and
#: ``embed_nn`` is the label embedding, used only by conditional generators.
_UNUSED_PREFIXES = ("first_layers.", "embed_nn.")
_EMBED_KEY = re.compile(r"^embed_nn\.(?P<index>\d+)\.(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)$")


def read_checkpoint(source: Path, member: str | None) -> tuple[bytes, str]:
    """The checkpoint's bytes and a description of where they came from (a file, or a member of a zip)."""
    if not source.is_file():
        raise MediganUsageError(f"{source} is not a file; give the downloaded zip or the checkpoint inside it")
    try:
        return _read(source, member)
    except (OSError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"cannot read {source}: {exc}") from exc


def _read(source: Path, member: str | None) -> tuple[bytes, str]:
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/") and "__MACOSX" not in n]
            base = Path(member).name if member else None
            if any(n.endswith("/data.pkl") for n in names) and not any(Path(n).name == base for n in names):
                return source.read_bytes(), str(source)  # a PyTorch checkpoint (itself a zip), not the medigan package
            matches = [n for n in names if n == member] or [n for n in names if base and Path(n).name == base]
            if len(matches) != 1:
                found = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
                raise MediganUsageError(f"{source} holds {len(matches)} files named {member!r} (it holds: {found}); give the "
                                        "original medigan zip of this model, or the checkpoint file itself")
            return archive.read(matches[0]), f"{source}!{matches[0]}"
    return source.read_bytes(), str(source)


def load_untrusted(data: bytes, origin: str) -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only, never code."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"refused to load {origin}: it is not a plain PyTorch weights file (torch.load with "
                           f"weights_only=True rejected it: {first_line}). medigan never runs code from a checkpoint; "
                           "check that this is the original medigan download") from exc


def generator_state(checkpoint: Any, origin: str) -> dict[str, torch.Tensor]:
    """The generator's tensors: the ``generator`` (or ``generator_state_dict``) entry of a training checkpoint, or a
    plain state dict."""
    state = checkpoint
    if isinstance(checkpoint, Mapping):
        state = checkpoint.get("generator", checkpoint.get("generator_state_dict", checkpoint))
    if not isinstance(state, Mapping) or not state:
        raise WeightsError(f"{origin} holds {type(checkpoint).__name__}, not a generator state dict")
    return {str(k).removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def to_network_keys(state: Mapping[str, torch.Tensor], spec: GeneratorSpec, origin: str) -> dict[str, torch.Tensor]:
    """Rename upstream ``main.N`` / ``model.N`` layers to this plugin's ``blocks.i.conv|norm`` and ``to_image``."""
    blocks = len(spec.widths)
    out: dict[str, torch.Tensor] = {}
    sequences, unknown = set(), []
    for key, tensor in state.items():
        match = _UPSTREAM_KEY.match(key)
        embedded = _EMBED_KEY.match(key) if spec.condition is not None else None
        if embedded is not None:
            out[f"embed.layers.{embedded['index']}.{embedded['param']}"] = tensor.float() if tensor.is_floating_point() else tensor
            continue
        if match is None:
            if not key.startswith(_UNUSED_PREFIXES):
                unknown.append(key)
            continue
        sequences.add(match["seq"])
        index, param = int(match["index"]), match["param"]
        block, position = divmod(index, 3)
        if block < blocks and position in (0, 1):
            name = f"blocks.{block}.{'conv' if position == 0 else 'norm'}.{param}"
        elif index == 3 * blocks:
            name = f"to_image.{param}"
        else:
            unknown.append(key)
            continue
        out[name] = tensor.float() if tensor.is_floating_point() else tensor
    if unknown or len(sequences) != 1:
        raise WeightsError(f"{origin} is not a medigan DCGAN generator: "
                           + (f"unexpected layers {unknown[:5]}" if unknown else f"layer groups {sorted(sequences) or 'none'}"))
    return out


def check_fits(card: ModelCard, state: Mapping[str, torch.Tensor], spec: GeneratorSpec, origin: str) -> None:
    """Raise WeightsError unless ``state`` has exactly the card's architecture, shape for shape."""
    problems = state_mismatches(DCGANGenerator(fitted_spec(spec, dict(state))).state_dict(), dict(state))
    if problems:
        raise WeightsError(f"{origin} does not fit model {card.id!r} ({card.upstream_id}, {card.architecture}): "
                           f"{'; '.join(problems[:4])}{'; …' if len(problems) > 4 else ''}. Is it the checkpoint of another model?")


def safetensors_bytes(card: ModelCard, state: Mapping[str, torch.Tensor], source_sha256: str) -> bytes:
    """The safetensors file, byte for byte the same for the same checkpoint (one metadata entry, sorted JSON)."""
    from safetensors.torch import save

    provenance = {"model": card.id, "upstream_id": card.upstream_id or "", "source_sha256": source_sha256,
                  "converter": "medigan_plugin_dcgan_mammo.convert", "format_version": "1"}
    tensors = {key: state[key].detach().contiguous() for key in sorted(state)}
    return save(tensors, metadata={"medigan": json.dumps(provenance, sort_keys=True)})


def converted_bytes(card: ModelCard, source: Path) -> bytes:
    """The safetensors file converted from ``source`` (the original zip, or the checkpoint inside it) for ``card``."""
    spec = GeneratorSpec.from_card(card)
    upstream = UpstreamWeights.from_card(card)
    data, origin = read_checkpoint(Path(source), upstream.member if upstream else None)
    state = to_network_keys(generator_state(load_untrusted(data, origin), origin), spec, origin)
    check_fits(card, state, spec, origin)
    return safetensors_bytes(card, state, hashlib.sha256(data).hexdigest())


def store_converted(card: ModelCard, source: Path) -> tuple[Path, str, int]:
    """Convert ``source`` and store the result in the model's cache folder with its sha256 record."""
    converted = converted_bytes(card, source)
    with tempfile.TemporaryDirectory(prefix="medigan-convert-") as scratch:
        staged = Path(scratch) / WEIGHTS_FILE
        staged.write_bytes(converted)
        path, digest = store_weights(card, staged, WEIGHTS_FILE)
    return path, digest, len(converted)


def convert(model: str | int, source: Path, output: Path | None = None) -> tuple[Path, str, int]:
    """Convert ``source`` for ``model``; store it in the cache (or write ``output``). Returns path, sha256, size."""
    card = get_card(model)
    if output is None:
        return store_converted(card, source)
    converted = converted_bytes(card, source)
    digest = hashlib.sha256(converted).hexdigest()
    try:
        write_bytes(output, converted)
    except OSError as exc:
        raise WeightsError(f"cannot write {output}: {exc}") from exc
    return output, digest, len(converted)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medigan_plugin_dcgan_mammo.convert",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model id, upstream id or number: 1, 2, 5, 6, 8 or 12")
    parser.add_argument("source", type=Path, help="the downloaded medigan zip of the model, or the checkpoint inside it")
    parser.add_argument("--output", type=Path, help="write the safetensors file here instead of the medigan cache")
    args = parser.parse_args(argv)
    try:
        path, digest, size = convert(args.model, args.source, args.output)
    except MediganError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    card = get_card(args.model)
    print(f"converted {args.source} for model {card.id} ({card.upstream_id})")
    print(f"wrote {path}\nsha256 {digest}\nsize {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
