"""Registers the ONNX models kept in the folders named by ``MEDIGAN_ONNX_MODELS``. Imports no onnxruntime."""

from __future__ import annotations

import warnings

from medigan_host import PluginWarning, hookimpl

from .folders import FolderLoader, folder_cards, model_folders


@hookimpl
def medigan_register_models(register):
    problems: list[str] = []
    for folder in model_folders():
        for path, card in folder_cards(folder):
            if isinstance(card, str):
                problems.append(card)
            else:
                register(card, FolderLoader(path.parent))
    for problem in problems:  # the good cards stay registered; the CLI shows these as warnings
        warnings.warn(f"medigan plugin 'onnx': {problem}", PluginWarning, stacklevel=2)
