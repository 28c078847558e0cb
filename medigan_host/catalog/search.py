"""Searching model cards: BM25F relevance ranking over the card text, with exact, combinable filters.

Every card field is indexed. Fields that say what a model *is* weigh more than prose: a term in the id,
upstream id, name, modality or anatomy counts several times a term in the description. Query terms
also match by prefix ("mammo" finds "mammography") and, when a term matches nothing, by spelling
distance ("mamography"), which is reported as a correction. Pure Python: nothing heavy is imported.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cards import FRAMEWORKS, OUTPUTS, ModelCard
from ..errors import MediganUsageError
from ..registry import Catalog, ModelEntry

#: How much a term counts in each field (BM25F field weights).
FIELD_WEIGHTS: dict[str, float] = {
    "id": 3.0, "upstream_id": 3.0, "modality": 3.0, "name": 2.5, "anatomy": 2.5, "architecture": 2.0,
    "dataset": 2.0, "tags": 2.0, "conditions": 1.5, "framework": 1.5, "outputs": 1.0, "description": 1.0,
    "metrics": 0.5, "citation": 0.5, "license": 0.5, "extra": 0.5,
}
K1 = 1.2
B = 0.75
#: Weight of a query term's matches relative to an exact match.
PREFIX_WEIGHT = 0.8
FUZZY_WEIGHT = 0.6
MIN_PREFIX = 3
MIN_FUZZY = 4

#: Filters accepted by :func:`search_models` and ``medigan search``: filter name -> card field.
FILTER_FIELDS = {"modality": "modality", "anatomy": "anatomy", "framework": "framework", "architecture": "architecture",
                 "dataset": "dataset", "outputs": "outputs", "tag": "tags", "license": "license"}

# Multi-word names and spellings that mean one thing, rewritten before tokenising (query and cards alike).
_PHRASES = (
    (re.compile(r"\bx[\s_-]?rays?\b"), " xray "),
    (re.compile(r"\bcomputed[\s_-]+tomography\b"), " ct "),
    (re.compile(r"\bmagnetic[\s_-]+resonance(?:[\s_-]+imaging)?\b"), " mri "),
    (re.compile(r"\bt([12])[\s_-]?weighted\b"), r" t\1 "),
)
# Abbreviations and word forms mapped to one canonical term.
_CANONICAL = {
    "mmg": "mammography", "mammo": "mammography", "mammogram": "mammography", "mammographic": "mammography",
    "cxr": "xray", "radiograph": "xray", "radiography": "xray", "mr": "mri", "t1w": "t1", "t2w": "t2",
    "calc": "calcification", "calcified": "calcification", "histopathology": "histology", "endoscopic": "endoscopy",
    "tumour": "tumor", "haemorrhage": "hemorrhage", "ultrasonography": "ultrasound",
}
_STOPWORDS = frozenset("a an and are as at be by for from in is it its of on or the this that to with".split())
_TOKEN = re.compile(r"[a-z0-9]+")


def analyse(text: str) -> list[str]:
    """Lower-case terms of ``text``: phrases joined, plurals folded, abbreviations mapped, numbers unpadded."""
    text = text.lower()
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    terms = []
    for token in _TOKEN.findall(text):
        if token in _STOPWORDS:
            continue
        if token.isdigit():
            terms.append(str(int(token)) if len(token) <= 18 else token)
            continue
        token = _singular(token)
        terms.append(_CANONICAL.get(token, token))
    return terms


def _singular(word: str) -> str:
    if len(word) <= 3:
        return word
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def card_fields(card: ModelCard) -> dict[str, str]:
    """The searchable text of every card field, by field name."""
    dims = f"{card.ndim}d {'volume 3d' if card.ndim == 3 else ''} " + " ".join(str(s) for s in card.image_size)
    conditions = " ".join(f"{name} conditional " + " ".join(str(v) for v in values) for name, values in card.conditions.items())
    return {
        "id": card.id, "upstream_id": card.upstream_id or "", "name": card.name, "modality": card.modality,
        "anatomy": card.anatomy, "architecture": card.architecture, "dataset": card.dataset, "tags": " ".join(card.tags),
        "conditions": conditions, "framework": card.framework,
        "outputs": f"{card.outputs.replace('+', ' ')} input {card.input.replace('+', ' ')} {dims}",
        "description": card.description, "metrics": " ".join(_flatten(card.metrics, keys=True)),
        "citation": f"{card.citation} {card.doi}", "license": card.license,
        "extra": " ".join(_flatten(card.extra, keys=False)),
    }


def _flatten(value: Any, *, keys: bool) -> Iterable[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if keys:
                yield str(key)
            yield from _flatten(item, keys=keys)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item, keys=keys)
    elif isinstance(value, str):
        yield value
    elif not keys and isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _fuzzy_limit(term: str) -> int:
    return 0 if len(term) < MIN_FUZZY else 1 if len(term) < 7 else 2


@dataclass
class _Doc:
    entry: ModelEntry
    terms: dict[str, Counter]  # field -> term counts
    lengths: dict[str, int]


@dataclass
class SearchHit:
    """One matching model: its entry, relevance score (None without a query) and what matched where."""

    entry: ModelEntry
    score: float | None = None
    matched: dict[str, list[str]] = field(default_factory=dict)  # query term -> card terms it matched
    fields: list[str] = field(default_factory=list)  # card fields the matches came from

    @property
    def card(self) -> ModelCard:
        return self.entry.card

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.card.id, "score": None if self.score is None else round(self.score, 4),
                "matched": self.matched, "fields": self.fields, "plugin": self.entry.plugin, "card": self.card.to_dict()}


@dataclass
class SearchResults:
    """The hits of a search, best first, and how the query was read."""

    query: str
    terms: list[str]
    filters: dict[str, list[str]]
    hits: list[SearchHit]
    corrections: dict[str, str] = field(default_factory=dict)  # misspelt query term -> term it was read as
    unmatched: list[str] = field(default_factory=list)  # query terms found in no card
    suggestions: dict[str, list[str]] = field(default_factory=dict)  # unmatched term -> close card terms
    filter_hints: dict[str, list[str]] = field(default_factory=dict)  # filter no model satisfies -> values that exist
    #: When nothing installed matches: known plugins that are not installed (or not loaded) and would match, as
    #: {"distribution", "serves", "models", "install"} (medigan_host.known_plugins).
    elsewhere: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)

    @property
    def ids(self) -> list[str]:
        return [hit.card.id for hit in self.hits]

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "terms": self.terms, "filters": self.filters, "corrections": self.corrections,
                "unmatched": self.unmatched, "suggestions": self.suggestions, "filter_hints": self.filter_hints,
                "not_installed": self.elsewhere, "results": [hit.to_dict() for hit in self.hits]}


class SearchIndex:
    """A BM25F index over model cards."""

    def __init__(self, entries: Iterable[ModelEntry]) -> None:
        self.docs: list[_Doc] = []
        for entry in entries:
            terms = {name: Counter(analyse(text)) for name, text in card_fields(entry.card).items()}
            self.docs.append(_Doc(entry, terms, {name: sum(c.values()) for name, c in terms.items()}))
        self.df: Counter = Counter()
        for doc in self.docs:
            self.df.update({term for counts in doc.terms.values() for term in counts})
        self.vocabulary = sorted(self.df)
        n = max(len(self.docs), 1)
        self.avg_length = {name: max(sum(d.lengths[name] for d in self.docs) / n, 1.0) for name in FIELD_WEIGHTS}

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1.0 + (len(self.docs) - df + 0.5) / (df + 0.5))

    def expand(self, term: str) -> tuple[list[tuple[str, float]], bool]:
        """Card terms that ``term`` matches with their weights, and whether they came from spelling distance."""
        found: list[tuple[str, float]] = []
        if term in self.df:
            found.append((term, 1.0))
        if len(term) >= MIN_PREFIX and not term.isdigit():
            found += [(v, PREFIX_WEIGHT) for v in self.vocabulary if v != term and v.startswith(term)]
        if found:
            return found, False
        limit = _fuzzy_limit(term)
        if not limit:
            return [], False
        close = [(edit_distance(term, v, limit), v) for v in self.vocabulary if not v.isdigit()]
        close = sorted((d, -self.df[v], v) for d, v in close if d <= limit)
        return [(v, FUZZY_WEIGHT / d) for d, _, v in close], True

    def suggest(self, term: str, limit: int = 3) -> list[str]:
        """Card words that ``term`` may have meant: sharing most of its beginning (60 %, at least four letters), or its
        first letter and within a third of its length in edits; closest first. Empty when nothing is that close (better no guess than a
        wrong one)."""
        if term.isdigit():
            return []
        scored = []
        for word in self.vocabulary:
            if word.isdigit():
                continue
            prefix = len(os.path.commonprefix([term, word]))
            budget = max(1, len(term) // 3)
            distance = edit_distance(term, word, max(budget, len(term), len(word)))
            if prefix >= max(4, math.ceil(0.6 * len(term))) or (prefix >= 1 and distance <= budget):
                scored.append((distance, -prefix, -self.df[word], word))
        return [word for *_, word in sorted(scored)[:limit]]

    def term_score(self, doc: _Doc, term: str) -> tuple[float, list[str]]:
        """BM25F contribution of one card term to ``doc`` and the fields it occurs in."""
        weighted = 0.0
        fields = []
        for name, counts in doc.terms.items():
            tf = counts.get(term, 0)
            if tf:
                fields.append(name)
                norm = 1.0 - B + B * doc.lengths[name] / self.avg_length[name]
                weighted += FIELD_WEIGHTS[name] * tf / norm
        if not weighted:
            return 0.0, fields
        return self.idf(term) * weighted * (K1 + 1.0) / (K1 + weighted), fields

    def search(self, text: str) -> SearchResults:
        terms = list(dict.fromkeys(analyse(text)))
        results = SearchResults(query=text, terms=terms, filters={}, hits=[])
        expansions: dict[str, list[tuple[str, float]]] = {}
        for term in terms:
            matches, fuzzy = self.expand(term)
            if not matches:
                results.unmatched.append(term)
                close = self.suggest(term)
                if close:
                    results.suggestions[term] = close
                continue
            if fuzzy:
                results.corrections[term] = matches[0][0]
            expansions[term] = matches
        for doc in self.docs:
            hit = SearchHit(doc.entry, 0.0)
            fields: set[str] = set()
            for term, matches in expansions.items():
                best = 0.0
                for card_term, weight in matches:
                    score, where = self.term_score(doc, card_term)
                    if score:
                        hit.matched.setdefault(term, []).append(card_term)
                        fields.update(where)
                        best = max(best, weight * score)
                hit.score += best
            if hit.score > 0:
                hit.score *= len(hit.matched) / max(len(terms), 1)  # coordination: reward matching every term
                hit.fields = sorted(fields, key=list(FIELD_WEIGHTS).index)
                results.hits.append(hit)
        results.hits.sort(key=lambda h: (-h.score, h.card.id))
        return results


def normalise_filters(filters: Mapping[str, Any]) -> dict[str, list[str]]:
    """Validate filter values: each a string or a list of strings (any of them matches); None means no filter."""
    out: dict[str, list[str]] = {}
    for name, value in filters.items():
        if name not in FILTER_FIELDS:
            raise MediganUsageError(f"unknown filter {name!r}; filter on one of: {', '.join(FILTER_FIELDS)}, conditional")
        if value is None or value == () or value == []:
            continue
        values = [value] if isinstance(value, str) else list(value)
        if not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise MediganUsageError(f"filter {name!r} takes a non-empty string or a list of them, got {value!r}")
        values = [v.strip().lower() for v in values]
        allowed = {"framework": FRAMEWORKS, "outputs": OUTPUTS}.get(name)
        if allowed:
            wrong = [v for v in values if v not in allowed]
            if wrong:
                raise MediganUsageError(f"{name} {wrong[0]!r} is not one of: {', '.join(allowed)}")
        out[name] = values
    return out


def passes(card: ModelCard, filters: Mapping[str, list[str]], conditional: bool | None = None) -> bool:
    """True when ``card`` satisfies every filter (values of one filter are alternatives; case-insensitive, exact)."""
    for name, values in filters.items():
        actual = getattr(card, FILTER_FIELDS[name])
        have = {str(a).lower() for a in actual} if isinstance(actual, tuple) else {str(actual).lower()}
        if not have & set(values):
            return False
    return conditional is None or bool(card.conditions) == conditional


def _filter_hints(entries: Sequence[ModelEntry], filters: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """For each filter that no installed model satisfies on its own, the values that do exist."""
    hints = {}
    for name, values in filters.items():
        if not any(passes(e.card, {name: values}) for e in entries):
            existing = set()
            for entry in entries:
                actual = getattr(entry.card, FILTER_FIELDS[name])
                existing.update(str(a).lower() for a in (actual if isinstance(actual, tuple) else (actual,)) if a)
            hints[name] = sorted(existing)
    return hints


def search_models(
    text: str | None = None,
    *,
    modality: str | Sequence[str] | None = None,
    anatomy: str | Sequence[str] | None = None,
    framework: str | Sequence[str] | None = None,
    architecture: str | Sequence[str] | None = None,
    dataset: str | Sequence[str] | None = None,
    outputs: str | Sequence[str] | None = None,
    tag: str | Sequence[str] | None = None,
    license: str | Sequence[str] | None = None,
    conditional: bool | None = None,
    limit: int | None = None,
    entries: Iterable[ModelEntry] | None = None,
    catalog: Catalog | None = None,
) -> SearchResults:
    """Find models by free text (ranked by relevance) and exact filters (all must hold).

    ``search_models("mammo calcification", framework="pytorch")``. Without ``text`` every model that
    passes the filters is returned in catalog order. A filter given a list matches any of its values.
    ``conditional=True`` keeps models that accept conditions, ``False`` those that do not. The models searched
    are ``entries`` or the ``catalog`` given, else the installed ones (:func:`medigan_host.api.installed_catalog`).
    """
    if text is not None and not isinstance(text, str):
        raise MediganUsageError(f"search text must be a string, got {type(text).__name__}")
    if conditional is not None and not isinstance(conditional, bool):
        raise MediganUsageError(f"conditional must be True, False or None, got {conditional!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise MediganUsageError(f"limit must be a whole number of at least 1, got {limit!r}")
    filters = normalise_filters({"modality": modality, "anatomy": anatomy, "framework": framework,
                                 "architecture": architecture, "dataset": dataset, "outputs": outputs, "tag": tag,
                                 "license": license})
    if entries is None:
        entries = catalog
    if entries is None:
        from ..api import installed_catalog

        entries = installed_catalog()
    entries = list(entries)
    if text and text.strip():
        results = SearchIndex(entries).search(text)
    else:
        results = SearchResults(query=text or "", terms=[], filters={}, hits=[SearchHit(e) for e in entries])
    results.filters = dict(filters)
    if conditional is not None:
        results.filters["conditional"] = [str(conditional).lower()]
    results.hits = [hit for hit in results.hits if passes(hit.card, filters, conditional)]
    if not results.hits:
        results.filter_hints = _filter_hints(entries, filters)
    if (not results.hits and ((text and text.strip()) or filters)) or results.unmatched:
        results.elsewhere = known_elsewhere(text, filters, conditional, {e.card.id for e in entries})
    if limit is not None:
        results.hits = results.hits[:limit]
    return results


def known_elsewhere(text: str | None, filters: Mapping[str, list[str]], conditional: bool | None, installed: set[str],
                    shown: int = 4) -> list[dict[str, Any]]:
    """The known plugins (:mod:`medigan_host.known_plugins`) whose models, not among ``installed``, match ``text`` and
    the filters, best first: one dict per plugin with up to ``shown`` of its matching model ids and its pip command."""
    from ..known_plugins import known_plugins

    entries = []
    for plugin in known_plugins():
        for known in plugin.models:
            if known.id in installed:
                continue
            try:
                card = ModelCard.from_dict({"description": "", "license": "unknown", **known.card})
            except Exception:  # noqa: BLE001 - a stale catalogue entry is skipped, never an error of the search
                continue
            entries.append(ModelEntry(card, "medigan_host.known_plugins:providers", plugin.distribution, plugin.version))
    if text and text.strip():
        hits = SearchIndex(entries).search(text).hits
        terms = set(analyse(text))
        complete = [h for h in hits if set(h.matched) >= terms]
        hits = complete or hits
    else:
        hits = [SearchHit(e) for e in entries]
    hits = [h for h in hits if passes(h.card, filters, conditional)]
    by_plugin: dict[str, list[str]] = {}
    for hit in hits:
        by_plugin.setdefault(hit.entry.plugin, []).append(hit.card.id)
    plugins = {p.distribution: p for p in known_plugins()}
    return [{"distribution": name, "serves": plugins[name].serves, "models": ids[:shown], "more": max(len(ids) - shown, 0),
             "installed": plugins[name].installed, "install": plugins[name].install()} for name, ids in by_plugin.items()]
