"""The catalog of registered models and how a model is looked up by id, upstream id or number."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Union

from .cards import ModelCard
from .errors import CardError, UnknownModelError

Loader = Union[str, Callable[..., Any]]
_LOADER_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its card, its (not yet imported) loader and the plugin that registered it."""

    card: ModelCard
    loader: Loader
    plugin: str
    plugin_version: str | None = None

    @property
    def id(self) -> str:
        return self.card.id


def runs_remote_code(card: ModelCard) -> bool:
    """True for cards whose generation runs code downloaded with the model (``remote_code: true`` on the card)."""
    return card.extra.get("remote_code") is True


def _preferred(entries: Iterable[ModelEntry]) -> ModelEntry | None:
    """Of the models serving one original model, the first native one (no downloaded code), else the first."""
    candidates = list(entries)
    return next((e for e in candidates if not runs_remote_code(e.card)), candidates[0] if candidates else None)


class Catalog:
    """Registered models by id, in registration order."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self.last_id: str = ""

    def add(self, card: Any, loader: Loader, *, plugin: str, plugin_version: str | None = None) -> str | None:
        """Validate and add one model; return a description of the problem instead when it is rejected."""
        raw_id = card.get("id") if isinstance(card, dict) else getattr(card, "id", None)
        try:
            card = ModelCard.from_dict(card)
        except CardError as exc:
            return str(exc.located(plugin=plugin, model=raw_id if isinstance(raw_id, str) else None)) + "; model skipped"
        except TypeError as exc:
            return f"plugin {plugin!r}, model {raw_id!r}: invalid model card: {exc}; model skipped"
        if not (callable(loader) or (isinstance(loader, str) and _LOADER_STRING.match(loader))):
            return (f"plugin {plugin!r}, model {card.id!r}: loader must be a callable or an import string "
                    f"'package.module:function', got {loader!r}; model skipped")
        if card.id in self._entries:
            first = self._entries[card.id].plugin
            return (f"model id {card.id!r} from plugin {plugin!r} clashes with plugin {first!r}, which registered it "
                    f"first; model skipped. Ids must be unique across plugins: rename one, or uninstall one plugin")
        self._entries[card.id] = ModelEntry(card, loader, plugin, plugin_version)
        self.last_id = card.id
        return None

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._entries

    def get(self, model: str | int) -> ModelEntry:
        """Find a model by id, upstream id (``00001_DCGAN_MMG_CALC_ROI``) or its number (``1``, ``"00001"``)."""
        query = str(model).strip()
        if query in self._entries:
            return self._entries[query]
        lowered = query.lower()
        found = _preferred(e for e in self._entries.values() if (e.card.upstream_id or "").lower() == lowered)
        if found is None and query.isdigit():
            number = int(query)
            found = _preferred(e for e in self._entries.values()
                               if (prefix := re.match(r"^(\d+)", e.card.upstream_id or "")) and int(prefix.group(1)) == number)
        if found is not None:
            return found
        if lowered in self._entries:
            return self._entries[lowered]
        raise UnknownModelError(query, self.suggest(query), len(self._entries))

    def suggest(self, query: str, limit: int = 3) -> list[str]:
        """The ids (or upstream ids) closest to ``query``."""
        names = list(self._entries) + [e.card.upstream_id for e in self._entries.values() if e.card.upstream_id]
        lowered = {name.lower(): name for name in names}
        import difflib  # only needed when a look-up fails

        close = difflib.get_close_matches(query.lower(), list(lowered), n=limit, cutoff=0.5)
        contains = [lowered[n] for n in lowered if query.lower() in n and lowered[n] not in close]
        return ([lowered[c] for c in close] + contains)[:limit]
