"""Trust in code that comes with a model: cards with ``remote_code: true`` run only when the user says so.

A model whose card says ``remote_code: true`` runs code downloaded with it (e.g. an original medigan package from its
Zenodo record). medigan runs it only with ``--trust-remote-code`` on the command line, ``trust_remote_code=True`` in
Python (``load_model``, ``generate``), or ``MEDIGAN_TRUST_REMOTE_CODE=1`` in the environment (the Hugging Face
convention). The card's ``remote_code_source`` says which file would run, and from which record.
"""

from __future__ import annotations

import os

from .cards import ModelCard
from .errors import MediganUsageError
from .registry import runs_remote_code

TRUST_ENV = "MEDIGAN_TRUST_REMOTE_CODE"

__all__ = ["TRUST_ENV", "require_trust", "trusted_by_environment"]


def trusted_by_environment() -> bool:
    """True when ``MEDIGAN_TRUST_REMOTE_CODE`` is 1/true/yes/on."""
    return os.environ.get(TRUST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def require_trust(card: ModelCard, trust_remote_code: bool = False) -> None:
    """Raise a usage error (exit 2) naming the record, the file and the flag, unless the model's code is trusted."""
    if not runs_remote_code(card) or trust_remote_code is True or trusted_by_environment():
        return
    source = card.extra.get("remote_code_source")
    where = f": {source}" if isinstance(source, str) and source else ""
    raise MediganUsageError(
        f"model {card.id!r} runs code downloaded with it{where}. medigan runs it only if you trust its authors: add "
        f"--trust-remote-code (Python: trust_remote_code=True; or set {TRUST_ENV}=1){_other_steps(card)}")


def _other_steps(card: ModelCard) -> str:
    """The steps besides trust still missing before the model can run (its environment, its weights offline), so
    that one error names them all."""
    from .environments import missing_steps
    from .errors import MediganError

    try:
        steps = missing_steps(card, trusted=True)
    except MediganError:
        return ""
    return "".join(f". Then also {step}" for step in steps)
