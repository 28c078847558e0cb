"""ONNX models kept in folders: ``MEDIGAN_ONNX_MODELS=DIR[:DIR…]``, each model a card ``NAME.json`` beside its graph.

A card file is a JSON model card with ``"framework": "onnx"`` and an ``onnx`` section whose ``file`` is relative to
the card's folder (see :mod:`medigan_plugin_onnx.spec`). Reading cards is cheap and imports no onnxruntime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medigan_host import ModelCard

FOLDERS_ENV = "MEDIGAN_ONNX_MODELS"


def model_folders() -> list[Path]:
    """The folders named by ``MEDIGAN_ONNX_MODELS`` (separated like PATH), in order."""
    value = os.environ.get(FOLDERS_ENV, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def folder_cards(folder: Path) -> Iterator[tuple[Path, dict[str, Any] | str]]:
    """``(card file, card dict)`` for each ``*.json`` in ``folder``, or ``(card file, what is wrong with it)``."""
    if not folder.is_dir():
        yield folder, f"{FOLDERS_ENV} names {str(folder)!r}, which is not a folder; fix or unset the variable"
        return
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            yield path, f"cannot read model card {str(path)!r}: {exc}"
            continue
        if not isinstance(data, dict):
            yield path, f"model card {str(path)!r} must hold a JSON object, not {type(data).__name__}"
        elif data.get("framework") != "onnx":
            yield path, f"model card {str(path)!r} has framework {data.get('framework')!r}; cards in ONNX model folders must say 'onnx'"
        else:
            yield path, data


class FolderLoader:
    """Loader of a model kept in a folder: its ``onnx.file`` is relative to ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, card: ModelCard, device: str) -> Any:
        from .files import model_file
        from .runtime import OnnxGenerator
        from .spec import parse_spec

        spec = parse_spec(card)
        return OnnxGenerator(model_file(card, spec, self.folder), card, device, spec)

    def __repr__(self) -> str:
        return f"FolderLoader({str(self.folder)!r})"
