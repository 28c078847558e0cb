"""Registers the original medigan library's 23 models. Imports nothing heavy: no framework, no model code.

Each card says ``remote_code: true``: generating runs the model's own published code (the ``__init__.py`` of its
Zenodo package), in a worker process inside a virtual environment built for that model by ``medigan env create``,
and only when the user trusts it (``--trust-remote-code``, ``trust_remote_code=True`` or
``MEDIGAN_TRUST_REMOTE_CODE=1``). See docs/original-models.md.
"""

from __future__ import annotations

import re
from typing import Any

from medigan_host import hookimpl

from .catalog import IMPORT_NAMES, PYTHON, TORCHVISION_NOTE, TORCHVISION_OVERRIDES, UPSTREAM

LOADER = "medigan_plugin_original.runner:load"
#: The feature extractors the original config's FID columns were computed with.
_EXTRACTORS = {"FID": "inception-v3-imagenet", "FID_RADIMAGENET": "radimagenet-resnet50"}
_RUN_FIELDS = ("record", "zip", "package", "weights_file", "function", "base_args", "custom_args", "latent",
               "latent_arg", "latent_batch", "condition_arg", "input_arg", "output")
#: Originals with a native port (medigan-plugin-dcgan-mammo) draw their latents in calls of this many samples, the
#: port's fixed batch, so that both make the same pixels for a seed (see docs/original-models.md, "Seeds").
NATIVE_TWINS = ("00001_DCGAN_MMG_CALC_ROI", "00002_DCGAN_MMG_MASS_ROI", "00005_DCGAN_MMG_MASS_ROI",
                "00006_WGANGP_MMG_MASS_ROI")
TWIN_BATCH = 16
#: Why the pins are what they are, for models without a note of their own.
PIN_NOTES = ("The original listed its dependencies unpinned; they are pinned to lower bounds of releases that install "
             "on current Python (every model's set builds and imports on Python 3.11 with `medigan env create`), "
             "torch to 2.13.0 (PyPI's Linux wheel brings CUDA; for a CPU-only environment point uv or pip at a CPU "
             "build: UV_FIND_LINKS / UV_INDEX_URL, or PIP_FIND_LINKS / PIP_INDEX_URL). 'Path' in the original list is "
             "the standard library's pathlib, not a package, and is dropped; opencv-contrib-python becomes its "
             "headless build.")


def imports_of(requirements: list[str]) -> list[str]:
    """The module each requirement is imported as (``opencv-contrib-python-headless`` -> ``cv2``)."""
    names = [re.match(r"[A-Za-z0-9._-]+", r).group(0).lower() for r in requirements]
    unknown = [n for n in names if n not in IMPORT_NAMES]
    if unknown:
        raise ValueError(f"no module name known for {unknown}: add them to catalog.IMPORT_NAMES")
    return list(dict.fromkeys(IMPORT_NAMES[n] for n in names))


def environment(model: dict[str, Any]) -> dict[str, Any]:
    """The card's ``environment``: pins, the modules that prove them, overrides, build constraints, Python, notes."""
    requirements = model["requirements"]
    uses_torchvision = any(re.match(r"(torchvision|grad-cam)\b", r) for r in requirements)
    overrides = model.get("overrides") or (TORCHVISION_OVERRIDES if uses_torchvision else [])
    notes = model.get("pin_notes", PIN_NOTES + (" " + TORCHVISION_NOTE if uses_torchvision else ""))
    out = {"requirements": requirements, "imports": imports_of(requirements), "python": model.get("python", PYTHON),
           "original_dependencies": model["dependencies"], "notes": notes}
    if overrides:
        out["overrides"] = list(overrides)
    if model.get("build_constraints"):
        out["build_constraints"] = model["build_constraints"]
    return out


def card_id(upstream_id: str) -> str:
    """The medigan id of an original model: ``00008_C-DCGAN_MMG_MASSES`` -> ``original-00008-c-dcgan-mmg-masses``."""
    return "original-" + upstream_id.lower().replace("_", "-")


def metrics(performance: dict[str, Any]) -> dict[str, Any]:
    """Every value the original config publishes in ``selection.performance``, as card metrics.

    Nulls, empty strings and empty groups are left out (the original published nothing there); lists of per-reader
    values (Turing tests) become ``{"value": mean, "values": [...]}``; numbers written as strings become numbers.
    """
    n = performance.get("FID_no_images")
    out: dict[str, Any] = {}
    for key, value in performance.items():
        if key == "FID_no_images":
            continue
        item = _metric_value(value)
        if item is None:
            continue
        if key in _EXTRACTORS and isinstance(item, float):
            item = {"value": item, "extractor": _EXTRACTORS[key], "source": "original medigan config/global.json",
                    **({"n": n} if isinstance(n, int) else {})}
        out[key] = item
    return out


def _metric_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, list):
        numbers = [float(v) for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return {"value": sum(numbers) / len(numbers), "values": numbers} if numbers else None
    if isinstance(value, dict):
        group = {k: v for k, v in ((k, _metric_value(v)) for k, v in value.items()) if v is not None}
        return group or None
    return None


def build_card(model: dict[str, Any]) -> dict[str, Any]:
    """The card of one original model (see :data:`.catalog.UPSTREAM`)."""
    upstream = model["upstream_id"]
    selection = model["selection"]
    run = {key: model[key] for key in _RUN_FIELDS if model.get(key) is not None}
    run.setdefault("output", "image")
    if upstream in NATIVE_TWINS:
        run["latent_batch"] = TWIN_BATCH
    tags = ["original", "remote-code", "pytorch", *(t.lower() for t in selection.get("tags", ()))]
    return {
        "id": card_id(upstream),
        "upstream_id": upstream,
        "name": model["title"],
        "version": "1.0.0",
        "description": (f"{model['comment']} This card runs the original medigan code of {upstream} (its published "
                        f"package {model['zip']}) in an isolated environment (`medigan env create {upstream}`), only "
                        "when you trust that code (--trust-remote-code)."),
        "framework": "other",
        "modality": model["modality"],
        "anatomy": model["anatomy"],
        "architecture": model["architecture"],
        "dataset": model["dataset"],
        "image_size": model["image_size"],
        "channels": model["channels"],
        "outputs": model.get("outputs", "image"),
        "input": model.get("input", "noise"),
        "conditions": model.get("conditions", {}),
        "license": model["license"],
        "citation": model["citation"],
        "doi": model["doi"],
        "metrics": metrics(selection.get("performance") or {}),
        "tags": list(dict.fromkeys(tags)),
        "weights": [{"doi": f"10.5281/zenodo.{model['record']}", "filename": model["zip"]}],
        **({"default_inputs": True} if model.get("input_arg") else {}),
        "remote_code": True,
        "remote_code_source": (f"{model['package']}/__init__.py ({model['function']}) in {model['zip']} of record "
                               f"10.5281/zenodo.{model['record']} (https://doi.org/10.5281/zenodo.{model['record']})"),
        "environment": environment(model),
        "selection": selection,
        "original": {**run, "title": model["title"], "year": model["year"],
                     "doi": [d for d in (model["doi"], *model.get("extra_doi", ())) if d]},
    }


CARDS: list[dict[str, Any]] = [build_card(model) for model in UPSTREAM]


@hookimpl
def medigan_register_models(register) -> None:
    for card in CARDS:
        register(card, LOADER)
