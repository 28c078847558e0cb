"""Trust in code that comes with a model: cards with ``remote_code: true`` run only when the user says so.

A model whose card says ``remote_code: true`` runs code downloaded with it (e.g. an original medigan package from its
Zenodo record). medigan runs it only with ``--trust-remote-code`` on the command line, ``trust_remote_code=True`` in
Python (``load_model``, ``generate``), or ``MEDIGAN_TRUST_REMOTE_CODE=1`` in the environment (the Hugging Face
convention). The card's ``remote_code_source`` says which file would run, and from which record.

Trust is checked where the code runs, not only where a request enters: the host runs each loader inside
:func:`granted` (the user's trust for that call), a loader that runs downloaded code calls :func:`require_granted`
before it fetches or imports anything (whatever its card says), and callers that reuse a loaded model (the compatible
API, Ray workers) check :func:`require_call_trust` on every call.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from .cards import ModelCard
from .errors import MediganUsageError
from .registry import runs_remote_code

TRUST_ENV = "MEDIGAN_TRUST_REMOTE_CODE"

__all__ = ["TRUST_ENV", "granted", "require_call_trust", "require_granted", "require_trust", "trusted_by_environment"]

#: The ids of the models whose loading the user trusted, in the current call (set by :func:`granted`).
_GRANTED: contextvars.ContextVar[dict[str, Grant] | None] = contextvars.ContextVar("medigan_trusted_models",
                                                                                  default=None)


def trusted_by_environment() -> bool:
    """True when ``MEDIGAN_TRUST_REMOTE_CODE`` is 1/true/yes/on."""
    return os.environ.get(TRUST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def require_trust(card: ModelCard, trust_remote_code: bool = False) -> None:
    """Raise a usage error (exit 2) naming the record, the file and the flag, unless the model's code is trusted."""
    if not runs_remote_code(card) or trust_remote_code is True or trusted_by_environment():
        return
    raise _untrusted(card)


class Grant:
    """What :func:`granted` hands the host: whether the loader asked for trust (it runs downloaded code)."""

    def __init__(self) -> None:
        self.asked = False


@contextlib.contextmanager
def granted(card: ModelCard, trust_remote_code: bool = False) -> Iterator[Grant]:
    """While the block runs (in this thread or task), :func:`require_granted` passes for ``card`` when the user trusted
    it (``trust_remote_code=True`` or ``MEDIGAN_TRUST_REMOTE_CODE=1``). The host wraps every loader call in it; the
    grant it yields says afterwards whether the loader asked (so each later call can be checked too)."""
    grant = Grant()
    if trust_remote_code is not True and not trusted_by_environment():
        yield grant
        return
    token = _GRANTED.set({**(_GRANTED.get() or {}), card.id: grant})
    try:
        yield grant
    finally:
        _GRANTED.reset(token)


def require_granted(card: ModelCard) -> None:
    """For loaders that run code downloaded with a model: raise the trust error unless the user trusted *this*
    load of ``card``, whatever its card says (a card may leave ``remote_code`` out; the code runs all the same).

    Called where the code is run (before anything is unpacked or imported), not only where a request enters."""
    grant = (_GRANTED.get() or {}).get(card.id)
    if grant is not None:
        grant.asked = True
        return
    if trusted_by_environment():  # a loader called outside the host's load (MEDIGAN_TRUST_REMOTE_CODE=1 trusts all)
        return
    raise _untrusted(card)


def require_call_trust(card: ModelCard, runs_downloaded_code: bool, trust_remote_code: bool = False) -> None:
    """Per call of a loaded model (the compatible API, Ray workers): a model that runs downloaded code generates only
    when *this* call is trusted, however it was loaded earlier."""
    if (runs_downloaded_code or runs_remote_code(card)) and trust_remote_code is not True and not trusted_by_environment():
        raise _untrusted(card)


def _untrusted(card: ModelCard) -> MediganUsageError:
    source = card.extra.get("remote_code_source")
    where = f": {source}" if isinstance(source, str) and source else ""
    return MediganUsageError(
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
