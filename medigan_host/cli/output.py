"""Terminal output of the commands: control characters removed, aligned tables, and the tables of ``medigan search``
and ``medigan rank`` with the notes that go with them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..catalog.ranking import Ranking
    from ..catalog.search import SearchResults

NAME_WIDTH = 48
COLUMN_WIDTH = 32


#: What a card must not send to a terminal: C0 controls but tab and newline (ESC sequences, \r, BEL), DEL, C1
#: controls and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str) -> str:
    """``text`` with every control character removed, so that card text cannot retitle the terminal or overwrite
    lines (JSON output is left exact: its encoder escapes them)."""
    return _CONTROL.sub("", text)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table (control characters and line breaks in cells removed)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else terminal_text(str(c)).replace("\n", " ") for c in row]
                                           for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _short(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_search(results: SearchResults) -> str:
    """The hits as a table, preceded by spelling corrections and followed by hints when nothing matched."""
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
    for plugin in results.elsewhere:
        more = f" and {plugin['more']} more" if plugin["more"] else ""
        state, how = (("not loaded", "see `medigan plugins` (MEDIGAN_PLUGINS may leave it out)") if plugin["installed"]
                      else ("not installed", plugin["install"]))
        lines.append(f"{state}: {plugin['distribution']} ({plugin['serves']}) has {', '.join(plugin['models'])}{more}: {how}")
    return "\n".join(lines)


def format_ranking(ranking: Ranking) -> str:
    """The ranking as a table (unranked models last, marked '-') followed by its notes."""
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


def missing_by_model(host: Any) -> dict[str, list[str]]:
    """Model id -> the pip requirements it needs that are not installed (only models that miss some), read from
    metadata without importing any framework."""
    from ..frameworks import missing_packages

    distributions = {name: info.distribution for name, info in host.plugins.items()}
    found = {}
    for entry in host.catalog:
        missing = missing_packages(entry.card.framework, entry.loader, distributions.get(entry.plugin))
        if missing:
            found[entry.id] = missing
    return found


def not_runnable_notes(missing: dict[str, list[str]]) -> list[str]:
    """'* not runnable here: A, B need torch, safetensors: pip install …', one line per set of missing packages."""
    from ..frameworks import pip_command

    groups: dict[tuple[str, ...], list[str]] = {}
    for model, packages in missing.items():
        groups.setdefault(tuple(packages), []).append(model)
    return [f"* not runnable here: {', '.join(models)} need{'s' if len(models) == 1 else ''} {', '.join(packages)}: "
            f"`{pip_command(*packages)}`" for packages, models in groups.items()]


#: Width of `medigan check` lines: a passed check's detail is cut to one line (`--json` has it whole), a failure or
#: skip is wrapped below its first line.
CHECK_WIDTH = 100


def check_lines(result: Any, width: int = CHECK_WIDTH) -> list[str]:
    """The lines `medigan check` prints for one result, none longer than ``width`` (but a single long word)."""
    import textwrap

    head = terminal_text(f"{result.status}  {result.subject}  {result.name}: ")
    detail = terminal_text(" ".join(str(result.detail).split()))
    if result.status == "PASS":
        room = max(width - len(head), 20)
        return [head + (detail if len(detail) <= room else detail[:room - 1] + "…")]
    lines = textwrap.wrap(head + detail, width=width, subsequent_indent="      ", break_long_words=False,
                          break_on_hyphens=False) or [head.rstrip()]
    if result.hint:
        lines += textwrap.wrap(terminal_text(f"hint: {result.hint}"), width=width, initial_indent="      ",
                               subsequent_indent="      ", break_long_words=False, break_on_hyphens=False)
    return lines
