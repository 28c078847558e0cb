"""The catalog of registered models and how a model is looked up by id, upstream id or number."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Union

from .cards import ModelCard, upstream_number
from .errors import CardError, UnknownModelError

Loader = Union[str, Callable[..., Any]]
_LOADER_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
#: Limits on a card as a plugin hands it over, checked before it is validated: nesting, values in all, text length.
MAX_CARD_DEPTH = 16
MAX_CARD_VALUES = 100_000
MAX_CARD_TEXT = 1_000_000


def card_shape_problem(card: Any) -> str | None:
    """Why ``card`` is too deep or too big to validate (lists, dicts and text only are walked), else None."""
    stack: list[tuple[Any, int]] = [(card, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_CARD_DEPTH:
            return f"values nested more than {MAX_CARD_DEPTH} levels deep"
        if count > MAX_CARD_VALUES:
            return f"more than {MAX_CARD_VALUES:,} values"
        if isinstance(value, str) and len(value) > MAX_CARD_TEXT:
            return f"a text of {len(value):,} characters (at most {MAX_CARD_TEXT:,})"
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1) for item in value)
    return None


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

    def __init__(self, *, empty_hint: Callable[[], str] | None = None) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self.last_id: str = ""
        #: What to do when there are no models at all (the plugin host says: install a plugin, or widen MEDIGAN_PLUGINS).
        self.empty_hint = empty_hint

    def add(self, card: Any, loader: Loader, *, plugin: str, plugin_version: str | None = None) -> str | None:
        """Validate and add one model; return a description of the problem instead when it is rejected.

        Any exception while the card is read (a mapping whose methods raise, a RecursionError …) rejects that card only."""
        raw_id: Any = None
        try:
            raw_id = card.get("id") if isinstance(card, dict) else getattr(card, "id", None)
            raw_id = raw_id[:100] if isinstance(raw_id, str) else None  # never the repr of an arbitrary object
            shape = card_shape_problem(card)
            if shape:
                return f"plugin {plugin!r}, model {raw_id!r}: invalid model card: {shape}; model skipped"
            card = ModelCard.from_dict(card)
        except CardError as exc:
            return str(exc.located(plugin=plugin, model=raw_id if isinstance(raw_id, str) else None)) + "; model skipped"
        except Exception as exc:  # noqa: BLE001 - a card that breaks validation is that card's problem
            return (f"plugin {plugin!r}, model {raw_id!r}: invalid model card ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); model skipped")
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
            found = _preferred(e for e in self._entries.values() if upstream_number(e.card.upstream_id) == number)
        if found is not None:
            return found
        if lowered in self._entries:
            return self._entries[lowered]
        from .known_plugins import unknown_model_hint  # only when a look-up fails

        raise UnknownModelError(query, self.suggest(query), len(self._entries), elsewhere=unknown_model_hint(query),
                                empty_hint=self.empty_hint() if self.empty_hint and not self._entries else None)

    def suggest(self, query: str, limit: int = 3) -> list[str]:
        """The ids (or upstream ids) closest to ``query``."""
        names = list(self._entries) + [e.card.upstream_id for e in self._entries.values() if e.card.upstream_id]
        lowered = {name.lower(): name for name in names}
        import difflib  # only needed when a look-up fails

        close = difflib.get_close_matches(query.lower(), list(lowered), n=limit, cutoff=0.5)
        contains = [lowered[n] for n in lowered if query.lower() in n and lowered[n] not in close]
        return ([lowered[c] for c in close] + contains)[:limit]
