"""Ranking models by a metric on their cards, knowing which metrics are better low and which high.

Models without the metric are listed after the ranked ones, never dropped. The reference set and
feature extractor of each value travel with it, and a ranking says when they differ between models,
because an FID computed with another extractor or against another reference set is another number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import MediganUsageError
from ..registry import Catalog, ModelEntry

#: Metrics where a lower value is better (distances between real and synthetic distributions, errors).
LOWER_IS_BETTER = frozenset({
    "fid", "kid", "fd", "fvd", "swd", "mmd", "emd", "wasserstein", "mse", "mae", "rmse", "nll", "bpd", "hausdorff",
    "hd95", "error", "loss",
})
#: Metrics where a higher value is better (similarity, fidelity/diversity, downstream performance).
HIGHER_IS_BETTER = frozenset({
    "ssim", "ms_ssim", "msssim", "psnr", "precision", "recall", "density", "coverage", "is", "inception_score",
    "accuracy", "acc", "balanced_accuracy", "auc", "auroc", "roc_auc", "auprc", "f1", "dice", "iou", "jaccard",
    "sensitivity", "specificity", "ppv", "npv", "map", "kappa", "memorization", "authenticity",
})
#: Other spellings of a metric name, accepted where users type one (cards and records use the canonical name).
#: ``memorization`` is the authenticity of ``medigan evaluate --metric memorization``: the share of generated samples
#: that are not copies of training images, higher is better.
METRIC_ALIASES = {"memorisation": "memorization"}


def canonical_metric(metric: str) -> str:
    """``metric`` with its last path component's alias spelling replaced (``memorisation`` -> ``memorization``)."""
    head, _, last = metric.rpartition(".")
    last = METRIC_ALIASES.get(last.lower(), last)  # other names keep their case (cards are matched ignoring it)
    return f"{head}.{last}" if head else last
#: The key of a metric entry that names the real images it was computed against (the publication goes in ``source``).
REFERENCE_KEY = "reference"
_ORDERS = {"asc": "asc", "ascending": "asc", "desc": "desc", "descending": "desc"}


def metric_direction(metric: str) -> str | None:
    """``"lower"`` or ``"higher"`` (is better) for a metric name or dotted path, or None when unknown.

    The last path component decides, case-insensitively; names that start or end with a known distance
    such as ``fid_radimagenet`` or ``radimagenet_fid`` count as that distance.
    """
    name = re.sub(r"[^a-z0-9]+", "_", metric.rsplit(".", 1)[-1].lower()).strip("_")
    if name in LOWER_IS_BETTER:
        return "lower"
    if name in HIGHER_IS_BETTER:
        return "higher"
    parts = name.split("_")
    for part in (parts[0], parts[-1]):
        if part in LOWER_IS_BETTER:
            return "lower"
        if part in HIGHER_IS_BETTER:
            return "higher"
    return None


def check_order(order: str | None) -> str | None:
    """``asc`` or ``desc`` (also spelt out, any case), or None."""
    if order is None:
        return None
    if isinstance(order, str) and order.strip().lower() in _ORDERS:
        return _ORDERS[order.strip().lower()]
    raise MediganUsageError(f"order must be 'asc' (lowest first) or 'desc' (highest first), got {order!r}")


@dataclass
class RankedModel:
    """One model in a ranking: its place (None when it has no value), the value and how it was measured."""

    entry: ModelEntry
    value: float | None
    rank: int | None = None
    reference: str | None = None
    extractor: str | None = None
    n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        card = self.entry.card
        return {"rank": self.rank, "id": card.id, "upstream_id": card.upstream_id, "value": self.value,
                "reference": self.reference, "extractor": self.extractor, "n": self.n, "plugin": self.entry.plugin}


@dataclass
class Ranking:
    """Models ordered by ``metric``; those without it come last (``rank`` None). ``notes`` say what to beware of."""

    metric: str
    order: str
    direction: str | None
    models: list[RankedModel]
    notes: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> list[RankedModel]:
        return [m for m in self.models if m.value is not None]

    @property
    def missing(self) -> list[RankedModel]:
        return [m for m in self.models if m.value is None]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "order": self.order, "direction": self.direction, "notes": self.notes,
                "results": [m.to_dict() for m in self.models]}


def rank_entries(entries: Iterable[ModelEntry], metric: str, order: str | None = None) -> Ranking:
    """Rank ``entries`` by ``metric`` (case-insensitive, dotted for nested groups such as ``downstream_task.clf.accuracy``).

    ``order`` ``asc``/``desc`` is obeyed as given; without it the metric's direction decides (FID, KID
    ascending; SSIM, precision, recall descending), and a metric of unknown direction needs an order.
    """
    if not isinstance(metric, str) or not metric.strip() or any(not part for part in metric.strip().split(".")):
        raise MediganUsageError(f"metric must be a name such as 'fid' or a dotted path such as "
                                f"'downstream_task.clf.accuracy', got {metric!r}")
    metric = canonical_metric(metric.strip())
    direction = metric_direction(metric)
    order = check_order(order)
    if order is None:
        if direction is None:
            raise MediganUsageError(f"medigan does not know whether a higher or a lower {metric!r} is better: give the "
                                    "order, 'asc' to put the lowest value first or 'desc' for the highest")
        order = "asc" if direction == "lower" else "desc"
    rows = []
    for entry in entries:
        found = entry.card.metric(metric)
        row = RankedModel(entry, None)
        if found is not None:
            row.value = float(found["value"])
            row.reference = _text(found.get(REFERENCE_KEY))
            row.extractor = _text(found.get("extractor"))
            row.n = found.get("n") if isinstance(found.get("n"), int) else None
        rows.append(row)
    with_value = sorted((r for r in rows if r.value is not None), key=lambda r: r.entry.card.id)
    with_value.sort(key=lambda r: r.value, reverse=order == "desc")
    for place, row in enumerate(with_value, 1):
        row.rank = place
    missing = [r for r in rows if r.value is None]
    return Ranking(metric, order, direction, with_value + missing, _notes(metric, order, direction, with_value, missing))


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def same_declaration(value: str | None) -> str:
    """The form in which two declarations of a reference set (or extractor) are compared: case, spacing and final
    punctuation do not matter, every word does ("" when none is stated). Cards say what was taken of the generated
    images under another key (``generated``), so that ``reference`` names the real set alone."""
    return " ".join((value or "").casefold().split()).rstrip(".;, ")


#: How much of a declaration, and how many model ids per group, a ranking note shows (`--json` has them whole).
NOTE_TEXT_CHARS = 60
NOTE_IDS = 3


def _short(text: str) -> str:
    return text if len(text) <= NOTE_TEXT_CHARS else text[:NOTE_TEXT_CHARS - 1] + "…"


def _some(ids: list[str]) -> str:
    more = len(ids) - NOTE_IDS
    return ", ".join(ids[:NOTE_IDS]) + (f" and {more} more" if more > 0 else "")


def _notes(metric: str, order: str, direction: str | None, ranked: Sequence[RankedModel],
           missing: Sequence[RankedModel]) -> list[str]:
    notes = []
    if direction is not None and order != ("asc" if direction == "lower" else "desc"):
        notes.append(f"order {order} puts the {'lowest' if order == 'asc' else 'highest'} {metric} first, "
                     f"but a {direction} {metric} is better")
    for attribute, what in (("extractor", "feature extractors"), ("reference", "reference sets")):
        groups: dict[str, tuple[str, list[str]]] = {}  # declared the same way -> (as first written, model ids)
        for row in ranked:
            value = getattr(row, attribute)
            groups.setdefault(same_declaration(value), (value or "not stated", []))[1].append(row.entry.card.id)
        if len(groups) > 1:
            listed = "; ".join(f"{_short(text)}: {_some(ids)}" for text, ids in groups.values())
            notes.append(f"these {metric} values were computed with different {what} ({listed}); "
                         "values from different ones are not comparable")
    if missing:
        notes.append(f"{len(missing)} model(s) have no {metric!r} on their card and are listed last: "
                     + ", ".join(r.entry.card.id for r in missing))
    return notes


def rank_models(metric: str, order: str | None = None, *, models: Sequence[str | int] | None = None,
                catalog: Catalog | None = None, **filters: Any) -> Ranking:
    """Rank the models of ``catalog`` (default: the installed ones) by ``metric``; restrict to ``models`` (ids,
    upstream ids or numbers) and/or filters.

    Filters are those of :func:`medigan_host.search_models` (``modality=``, ``framework=``, ``conditional=`` …).
    No model framework is imported.
    """
    from .search import FILTER_FIELDS, search_models

    unknown = sorted(set(filters) - set(FILTER_FIELDS) - {"conditional"})
    if unknown:
        raise MediganUsageError(f"unknown filter {unknown[0]!r}; filter on one of: {', '.join(FILTER_FIELDS)}, conditional")
    if catalog is None:
        from ..api import installed_catalog

        catalog = installed_catalog()
    if models is not None:
        if isinstance(models, (str, int)):
            raise MediganUsageError("models must be a list of model ids, e.g. models=['00001', 'ct-head-phantom']")
        chosen = list({e.id: e for e in (catalog.get(m) for m in models)}.values())
    else:
        chosen = list(catalog)
    entries = [hit.entry for hit in search_models(None, entries=chosen, **filters)] if filters else chosen
    return rank_entries(entries, metric, order)
