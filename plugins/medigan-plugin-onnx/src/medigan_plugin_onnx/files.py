"""Finding the ``.onnx`` file of a card and checking that it is the file the card describes."""

from __future__ import annotations

from pathlib import Path

from medigan_host import ModelCard, PluginError
from medigan_host.weights import sha256_of

from .spec import OnnxSpec


def verified(path: Path, sha256: str | None, model_id: str) -> Path:
    """The graph of a folder model: ``path`` if it exists and (when ``sha256`` is given) has that hash."""
    if not path.is_file():
        raise PluginError(f"model {model_id!r}: its ONNX file {str(path)!r} is missing; put the graph there, or correct "
                          "onnx.file in the model's card")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise PluginError(f"model {model_id!r}: {str(path)!r} has sha256 {actual}, but the card says {sha256}: the graph "
                              "was changed or replaced; restore the file, or put its new sha256 in the card's onnx.sha256")
    return path


def model_file(card: ModelCard, spec: OnnxSpec, folder: Path | None = None) -> Path:
    """The verified local ``.onnx`` file of ``card``.

    For a model kept in a folder, ``onnx.file`` beside its card (checked against ``onnx.sha256`` when given);
    otherwise the card's ``weights`` entry named ``onnx.file`` (or its only ``.onnx`` entry), fetched and verified
    by the host's :func:`medigan_host.fetch_weights` (``package://`` files shipped in a plugin, or downloads).
    """
    if folder is not None and spec.file is not None:
        return verified(folder / spec.file, spec.sha256, card.id)
    names = [entry["filename"] for entry in card.weights]
    filename = spec.file if spec.file in names else None
    if filename is None:
        onnx_names = [name for name in names if name.lower().endswith(".onnx")]
        if len(onnx_names) != 1:
            raise PluginError(f"model {card.id!r}: cannot tell which weights entry holds the ONNX graph (weights: {names}); "
                              "name its file name in the card's onnx.file")
        filename = onnx_names[0]
    from medigan_host import fetch_weights

    return Path(fetch_weights(card, filename))
