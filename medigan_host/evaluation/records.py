"""Evaluation results as self-describing records, and writing them into a model card's ``metrics``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from .._version import __version__
from ..errors import MediganUsageError


@dataclass
class EvaluationRecord:
    """One metric value with everything needed to compare it with another: both image sets (size and sha256),
    the extractor and its weights hash, the preprocessing, the host version and the time."""

    metric: str
    value: float
    fake: dict[str, Any]
    real: dict[str, Any]
    extractor: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    host_version: str = __version__
    time: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "n_fake": self.fake["n"], "n_real": self.real["n"],
                "fake": self.fake, "real": self.real, **self.extractor, **self.details,
                "host_version": self.host_version, "time": self.time}


def write_json(records: Sequence[EvaluationRecord], path: str | Path) -> None:
    """All records as one JSON list, written atomically."""
    atomic.write_text(Path(path), json.dumps([r.to_dict() for r in records], indent=2) + "\n")


def card_metric(record: EvaluationRecord, reference: str | None = None) -> dict[str, Any]:
    """A record in the card's metric form: ``{"value", "reference", "extractor", "n", ...}``."""
    out = {"value": record.value, "reference": reference or record.real["source"], "extractor": record.extractor["extractor"],
           "n": record.fake["n"], "n_real": record.real["n"], "normalization": record.extractor["normalization"],
           "resize": record.extractor["resize"], "extractor_weights_sha256": record.extractor["extractor_weights_sha256"],
           "source": f"medigan-host {record.host_version} evaluate, {record.time}"}
    if "std" in record.details:
        out["std"] = record.details["std"]
    return out


def write_card(records: Sequence[EvaluationRecord], card_file: str | Path, reference: str | None = None) -> dict[str, Any]:
    """Put each record's value into ``metrics`` of the JSON card in ``card_file``; other fields are kept as they are.

    The card is validated before it is written (atomically); returns the updated card dict.
    """
    from ..cards import ModelCard
    from ..errors import CardError

    path = Path(card_file)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MediganUsageError(f"card file {str(path)!r} does not exist; give a model card saved as JSON "
                                "(`medigan info MODEL --json > card.json`)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise MediganUsageError(f"cannot read the card file {str(path)!r} as JSON: {exc}") from exc
    if not isinstance(card, dict):
        raise MediganUsageError(f"card file {str(path)!r} must hold a JSON object (a model card)")
    metrics = dict(card.get("metrics") or {})
    for record in records:
        metrics[record.metric] = card_metric(record, reference)
    card["metrics"] = metrics
    try:
        ModelCard.from_dict({k: v for k, v in card.items() if k not in ("plugin", "plugin_version")})
    except CardError as exc:
        raise MediganUsageError(f"card file {str(path)!r} is not a valid model card, so it was not changed: {exc}") from exc
    atomic.write_text(path, json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card
