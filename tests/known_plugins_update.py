"""Writes medigan_host/known_plugins.json, the host's catalogue of the plugins in this repository, from their own
registrations: ``python tests/known_plugins_update.py`` (from the repository root; run it after a plugin adds, removes
or renames a model, then commit the file). tests/test_known_plugins.py fails while the file is out of date.

Each plugin's module is imported from its source folder (no install, no framework: registration reads cards only)
and its ``medigan_register_models`` hook is called with a collector.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "medigan_host" / "known_plugins.json"
#: Card fields kept: what search, the filters and the hints read (weights, metrics and long texts stay in the plugins).
FIELDS = ("id", "name", "version", "framework", "modality", "anatomy", "architecture", "dataset", "image_size", "channels",
          "license", "outputs", "inputs", "conditions", "tags", "upstream_id")
DESCRIPTION_CHARS = 300
#: Plugins that run other plugins' (or the user's) cards: what they run.
RUNNERS = {"medigan-plugin-onnx": "every card with framework onnx, also from folders named by MEDIGAN_ONNX_MODELS",
           "medigan-plugin-diffusers": "Hugging Face Hub diffusers pipelines described by JSON cards (MEDIGAN_DIFFUSERS_CARDS)"}
#: Variables that add cards from the user's folders: unset while the catalogue is built.
CARD_FOLDER_VARIABLES = ("MEDIGAN_ONNX_MODELS", "MEDIGAN_DIFFUSERS_CARDS", "MEDIGAN_MONAI_CARDS")


def _project(folder: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _cards(module_name: str, source: Path) -> list[tuple[dict, str]]:
    sys.path.insert(0, str(source))
    try:
        module = importlib.import_module(module_name)
        found: list[tuple[dict, str]] = []
        module.medigan_register_models(lambda card, loader: found.append((dict(card), loader)))
        return found
    finally:
        sys.path.remove(str(source))


def build() -> dict:
    import os

    for name in CARD_FOLDER_VARIABLES:
        os.environ.pop(name, None)
    plugins = []
    for folder in sorted((REPO / "plugins").iterdir()):
        if not (folder / "pyproject.toml").is_file():
            continue
        project = _project(folder)
        entry = next(iter(project.get("entry-points", {}).get("medigan.plugins", {}).values()), None)
        if entry is None:
            continue
        models = []
        for card, _loader in _cards(entry, folder / "src"):
            kept = {k: card[k] for k in FIELDS if card.get(k) not in (None, "", [], {}, ())}
            kept["description"] = " ".join(str(card.get("description", "")).split())[:DESCRIPTION_CHARS]
            if card.get("remote_code"):
                kept["remote_code"] = True
            models.append(kept)
        plugins.append({
            "distribution": project["name"],
            "version": project["version"],
            "summary": project.get("description", ""),
            "extras": sorted(project.get("optional-dependencies", {})),
            "serves": "original code" if any(m.get("remote_code") for m in models) else "native",
            "runs": RUNNERS.get(project["name"], ""),
            "models": models,
        })
    return {"about": "The plugins of the medigan repository and the models they register; written by "
                     "tests/known_plugins_update.py. The host names them when a model or a search finds nothing installed.",
            "plugins": plugins}


def render(data: dict) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs, write nothing")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        sys.exit(0 if TARGET.is_file() and TARGET.read_text(encoding="utf-8") == text else 1)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(REPO)}")


if __name__ == "__main__":
    main()
