"""Registers every diffusers card: the JSON cards shipped in ``cards/`` and those in the folders named by
``MEDIGAN_DIFFUSERS_CARDS`` (separated by the path separator). Reads JSON only; imports nothing heavy.

A card describes a Hub pipeline completely: its ``weights`` are the repository's files at a pinned commit (``hf``,
``revision``, ``filename``, ``sha256``), and its ``diffusers`` section names the pipeline class, an optional
scheduler class, the number of steps, the guidance scale and which condition is the prompt.
"""

from __future__ import annotations

from pathlib import Path

from medigan_host import hookimpl
from medigan_host.cards import card_files, read_card_file

LOADER = "medigan_plugin_diffusers.runner:load"
CARDS_ENV = "MEDIGAN_DIFFUSERS_CARDS"


@hookimpl
def medigan_register_models(register):
    for path in card_files(Path(__file__).parent / "cards", env=CARDS_ENV):
        register(read_card_file(path), LOADER)
