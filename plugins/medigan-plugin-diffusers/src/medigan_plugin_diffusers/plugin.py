"""Registers every diffusers card: the JSON cards shipped in ``cards/`` and those in the folders named by
``MEDIGAN_DIFFUSERS_CARDS`` (separated by the path separator). Reads JSON only; imports nothing heavy.

A card describes a Hub pipeline completely: its ``weights`` are the repository's files at a pinned commit (``hf``,
``revision``, ``filename``, ``sha256``), and its ``diffusers`` section names the pipeline class, an optional
scheduler class, the number of steps, the guidance scale and which condition is the prompt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from medigan_host import hookimpl

LOADER = "medigan_plugin_diffusers.runner:load"
CARDS_ENV = "MEDIGAN_DIFFUSERS_CARDS"


def card_files() -> list[Path]:
    """The JSON cards to register: shipped ones first, then those of ``MEDIGAN_DIFFUSERS_CARDS``'s folders."""
    folders = [Path(__file__).parent / "cards"]
    folders += [Path(p).expanduser() for p in os.environ.get(CARDS_ENV, "").split(os.pathsep) if p.strip()]
    return [path for folder in folders if folder.is_dir() for path in sorted(folder.glob("*.json"))]


@hookimpl
def medigan_register_models(register):
    for path in card_files():
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"diffusers card {path} is not readable JSON ({exc}); fix or remove it") from exc
        register(card, LOADER)
