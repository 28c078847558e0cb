"""The plugins the host knows of without their being installed: the plugins of the medigan repository, the models
they register, and how to install them (``known_plugins.json``, written by ``tests/known_plugins_update.py``).

Used only when a look-up finds nothing installed: an unknown model id (``medigan generate 00001``) or a search with no
installed match names the plugins that serve it. Reading it imports nothing and never touches the network.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .cards import upstream_number

__all__ = ["KnownModel", "KnownPlugin", "install_hint", "known_plugins", "providers", "unknown_model_hint"]

CATALOGUE = Path(__file__).with_name("known_plugins.json")


@dataclass(frozen=True)
class KnownModel:
    """One model a known plugin registers, by the card fields that search and look-ups read."""

    card: dict[str, Any]
    plugin: KnownPlugin = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.card["id"]

    @property
    def upstream_id(self) -> str:
        return self.card.get("upstream_id") or ""


@dataclass
class KnownPlugin:
    """A plugin distribution of the medigan repository: what it serves and how it is installed."""

    distribution: str
    version: str
    summary: str
    serves: str  # "native" (its own loader) or "original code" (the published code, in its own environment)
    runs: str = ""  # what a runner plugin runs besides its own models ("" for others)
    extras: tuple[str, ...] = ()
    models: list[KnownModel] = field(default_factory=list)

    @property
    def installed(self) -> bool:
        try:
            metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            return False
        return True

    def install(self) -> str:
        """The pip command that installs this plugin here (its folder when the host came from a clone)."""
        from .frameworks import pip_command

        return pip_command(self.distribution)


@functools.lru_cache(maxsize=1)
def known_plugins() -> tuple[KnownPlugin, ...]:
    """The known plugins, in the catalogue's order (empty when the catalogue file is missing or unreadable)."""
    try:
        data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    plugins = []
    for item in data.get("plugins", []):
        plugin = KnownPlugin(item["distribution"], item.get("version", ""), item.get("summary", ""),
                             item.get("serves", "native"), item.get("runs", ""), tuple(item.get("extras", ())))
        plugin.models = [KnownModel(card, plugin) for card in item.get("models", [])]
        plugins.append(plugin)
    return tuple(plugins)


def providers(model: str | int) -> list[KnownModel]:
    """The known models that ``model`` names: by id, by upstream id, or by the number of an original medigan model
    (``1``, ``"00001"``); models served natively first."""
    query = str(model).strip().lower()
    found = []
    for plugin in known_plugins():
        for known in plugin.models:
            upstream = known.upstream_id.lower()
            if query in (known.id.lower(), upstream) or (query.isdigit() and upstream_number(upstream) == int(query)):
                found.append(known)
    return sorted(found, key=lambda m: m.plugin.serves != "native")


def install_hint(models: list[KnownModel]) -> str:
    """'served by A (native, as ID) and B (original code, as ID): pip install A' for ``models`` (one per plugin)."""
    by_plugin: dict[str, KnownModel] = {}
    for known in models:
        by_plugin.setdefault(known.plugin.distribution, known)
    parts = [f"{name} ({known.plugin.serves}, as {known.id})" for name, known in by_plugin.items()]
    first = next(iter(by_plugin.values())).plugin
    installed = [name for name, known in by_plugin.items() if known.plugin.installed]
    if installed:
        advice = (f"{', '.join(installed)} {'is' if len(installed) == 1 else 'are'} installed but not loaded: see "
                  "`medigan plugins` (or MEDIGAN_PLUGINS)")
    else:
        advice = first.install()
        if first.serves != "native":
            advice += " (its models run only with --trust-remote-code, see `medigan env create`)"
    return f"served by {' and '.join(parts)}: {advice}"


def unknown_model_hint(model: str | int) -> str | None:
    """'00001 is served by …: pip install …' when a known plugin registers ``model``, else None."""
    found = providers(model)
    return f"{str(model).strip()} is {install_hint(found)}" if found else None
