"""Terminal output of ``medigan search`` and ``medigan rank``: aligned tables with the notes that go with them."""

from __future__ import annotations

from .ranking import Ranking
from .search import SearchResults

NAME_WIDTH = 48
COLUMN_WIDTH = 32


def _short(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_search(results: SearchResults) -> str:
    """The hits as a table, preceded by spelling corrections and followed by hints when nothing matched."""
    from .cli import table

    lines = []
    if results.corrections:
        read = ", ".join(f"{typed!r} as {meant!r}" for typed, meant in results.corrections.items())
        lines.append(f"read {read}")
    if results.hits:
        with_score = results.hits[0].score is not None
        rows = [((f"{h.score:.2f}",) if with_score else ()) + (h.card.id, h.card.modality, _short(h.card.anatomy or "-", COLUMN_WIDTH),
                _short(h.card.architecture or "-", COLUMN_WIDTH), h.card.framework, _short(h.card.name)) for h in results.hits]
        headers = (["SCORE"] if with_score else []) + ["ID", "MODALITY", "ANATOMY", "ARCHITECTURE", "FRAMEWORK", "NAME"]
        lines.append(table(rows, headers))
    else:
        query = f" {results.query!r}" if results.query else ""
        lines.append(f"no installed model matches{query}" + (" with these filters" if results.filters else ""))
    for term in results.unmatched:
        close = results.suggestions.get(term)
        lines.append(f"{term!r} is in no model card" + (f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""))
    for name, existing in results.filter_hints.items():
        lines.append(f"no model has that {name}; installed models have: {', '.join(existing) or 'none'}")
    return "\n".join(lines)


def format_ranking(ranking: Ranking) -> str:
    """The ranking as a table (unranked models last, marked '-') followed by its notes."""
    from .cli import table

    if not ranking.models:
        return "no installed model passes these filters"
    rows = [(row.rank if row.rank is not None else "-", row.entry.id, row.entry.card.upstream_id or "-",
             "-" if row.value is None else f"{row.value:g}", _short(row.reference or "-", COLUMN_WIDTH),
             _short(row.extractor or "-", COLUMN_WIDTH),
             row.n if row.n is not None else "-") for row in ranking.models]
    better = {"lower": "lower is better", "higher": "higher is better", None: "direction unknown"}[ranking.direction]
    lines = [f"{ranking.metric}, {ranking.order} ({better})",
             table(rows, ["RANK", "ID", "UPSTREAM", ranking.metric.upper(), "REFERENCE", "EXTRACTOR", "N"])]
    lines += [f"note: {note}" for note in ranking.notes]
    return "\n".join(lines)
