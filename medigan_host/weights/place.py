"""Files put into the cache by hand or by a plugin: :func:`place_weights` (``medigan cache place``) checks a file
against the card or its record before copying it in; :func:`store_weights` / :func:`stored_weights` keep weights
a plugin converts itself, with their sha256 recorded beside them and checked on every use."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import atomic
from ..cards import ModelCard, safe_filename
from ..errors import MediganUsageError, WeightsError
from .cache import CACHE_ENV, _make_parent, claim_folder, model_folder
from .entries import weights_entry
from .record import _published_or_reason, _record_mismatch, _source
from .verify import _UNVERIFIED_NOTE, RECORD_SUFFIX, _file_digests, _record_path, _recorded_sha256, _write_record, sha256_of


def place_weights(card: ModelCard, source: Path, filename: str | None = None, *,
                  unverified: bool = False) -> tuple[Path, str]:
    """Copy ``source`` into the cache as the card's weights file ``filename`` (default: the entry its name matches,
    or the card's only entry), after checking it; return the placed path and how it was checked.

    A card's sha256 must match. A file of a record without one is checked against the record's md5 and size when the
    record can be reached; otherwise (offline) it is refused, unless ``unverified`` (``--unverified``): then it is
    placed on the user's word, its sha256 recorded with a note saying so, and every run that uses it names it in its
    provenance (``run.json``'s ``unverified_weights``; see :func:`unverified_weights`).
    """
    source = Path(source)
    if not source.is_file():
        raise MediganUsageError(f"{source} is not a file; give the path of the downloaded weights file")
    if filename is None and len(card.weights) > 1 and any(e["filename"] == source.name for e in card.weights):
        filename = source.name
    entry = weights_entry(card, filename)
    size, md5, digest = _file_digests(source)
    note = None
    if entry.get("sha256"):
        if digest != entry["sha256"]:
            raise WeightsError(f"{source} has sha256 {digest}, but model {card.id!r}'s card says {entry['sha256']} for "
                               f"{entry['filename']!r}: it is not that file; nothing was placed")
        how = "its sha256 matches the card"
    else:
        published, why = _published_or_reason(card, entry)
        if published is not None:
            problem = _record_mismatch(published, size, md5)
            if problem:
                raise WeightsError(f"{source} {problem}: it is not {entry['filename']!r} of {_source(entry)}; "
                                   "nothing was placed")
            how = f"its md5 and size match {_source(entry)}"
        else:
            if entry.get("size") and size != entry["size"]:
                raise WeightsError(f"{source} has {size:,} bytes, but model {card.id!r}'s card says {entry['size']:,} "
                                   f"for {entry['filename']!r}; nothing was placed")
            if not unverified:
                raise WeightsError(f"{source} could not be checked against {_source(entry)} ({why}), so nothing was "
                                   f"placed: its code or weights would run unchecked. Place it where the record can be "
                                   f"reached, or add --unverified (Python: unverified=True) to place it on your word; "
                                   "every run that uses it then says so in its run.json")
            how = (f"NOT checked against {_source(entry)} ({why}); placed on your word (--unverified): its sha256 "
                   f"{digest} is recorded, and runs using it name it in run.json as unverified_weights")
            note = f"not checked against {_source(entry)} ({why})"
    target = model_folder(card) / entry["filename"]
    _copy_into_cache(card, source, target, digest, record=not entry.get("sha256"), note=note)
    return target, how


def unverified_weights(card: ModelCard) -> list[str]:
    """The card's weights files in the cache that were placed with ``--unverified`` (never checked against their
    record): a run that uses them records their names in its provenance."""
    out = []
    for entry in card.weights:
        try:
            text = _record_path(model_folder(card) / entry["filename"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if _UNVERIFIED_NOTE in text:
            out.append(entry["filename"])
    return out


def store_weights(card: ModelCard, source: Path, filename: str) -> tuple[Path, str]:
    """Copy ``source`` into the model's cache folder as ``filename`` and record its sha256 beside it.

    For weights the card cannot declare (e.g. converted locally from an original checkpoint whose hash was never
    published). Returns the stored path and its sha256. The copy is atomic; :func:`stored_weights` checks the
    record on every use.
    """
    if not safe_filename(filename) or filename.endswith(RECORD_SUFFIX):
        raise MediganUsageError(f"{filename!r} is not a plain weights file name (letters, digits, '.', '_', '-')")
    if any(entry["filename"] == filename for entry in card.weights):
        raise MediganUsageError(f"model {card.id!r} declares {filename!r} on its card: it comes from its url "
                                f"(`medigan fetch {card.id}`), not from a local copy")
    target = model_folder(card) / filename
    digest = sha256_of(source)
    _copy_into_cache(card, source, target, digest, record=True)
    return target, digest


def _copy_into_cache(card: ModelCard, source: Path, target: Path, digest: str, *, record: bool,
                     note: str | None = None) -> None:
    """Copy ``source`` to ``target`` atomically, checking the copy's sha256; with ``record``, record it beside."""
    folder = claim_folder(card)  # every caller stores into the model's folder, which becomes medigan's own
    try:
        _make_parent(card, target)  # Hub files keep their repository's sub-folders
        tmp = atomic.temporary_path(target)
        try:
            shutil.copyfile(source, tmp)
            if sha256_of(tmp) != digest:
                raise WeightsError(f"copying {source} to {tmp} changed its content; check the disk and try again")
            if record:
                _write_record(target, digest, note)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        if atomic.is_disk_full(exc):
            raise WeightsError(f"disk full: no space left in {folder} to store weights of model {card.id!r}; nothing was "
                               f"stored. Free some space or set {CACHE_ENV} to a disk with room") from exc
        raise WeightsError(f"cannot store weights for model {card.id!r} in {folder}: {exc}; set {CACHE_ENV} to a "
                           "writable folder") from exc


def stored_weights(card: ModelCard, filename: str) -> Path | None:
    """The file stored with :func:`store_weights`, verified against its sha256 record; None when there is none.

    A file whose hash no longer matches its record is deleted (with its record) and reported as a WeightsError.
    """
    target = model_folder(card) / filename
    if not target.is_file():
        return None
    record = _record_path(target)
    expected = _recorded_sha256(target)
    if expected is None:
        raise WeightsError(f"{target} has no readable sha256 record ({record.name}), so it cannot be verified and is not "
                           f"used; remove it (`medigan cache clear {card.id}`) and store it again")
    actual = sha256_of(target)
    if actual != expected:
        target.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        raise WeightsError(f"stored weights file {target} of model {card.id!r} has sha256 {actual}, but {expected} was "
                           "recorded when it was stored: it was changed or corrupted on disk, so it was deleted. "
                           "Store it again (see the model's card or plugin README for how it is made)")
    return target
