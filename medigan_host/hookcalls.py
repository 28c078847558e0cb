"""The one way the host calls plugin code: every hook across plugins, each under the plugin timeout, its
registrations staged and validated once it returned, its failures reported.

Plugins are imported, and their hooks called, one after another in a daemon worker thread that may spend at most
``MEDIGAN_PLUGIN_TIMEOUT`` seconds (default 10; 0 runs them in the calling thread without a limit) on each, so a
plugin that hangs is reported as timed out and cannot keep ``medigan list`` waiting, nor the process alive. Any
exception a plugin raises (``BaseException`` included) is that plugin's failure, never the host's.

Models (:mod:`medigan_host.plugins`), feature extractors and output writers are all collected with
:func:`collect_registrations`; a new registry hook uses it too.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

#: Seconds to wait for a plugin's import, and again for its hook, before it is skipped as hung.
TIMEOUT_ENV = "MEDIGAN_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 10.0

__all__ = ["DEFAULT_TIMEOUT", "TIMEOUT_ENV", "DefaultPlugin", "Outcome", "PluginWarning", "call_each_with_timeout", "collect_registrations",
           "parse_seconds", "plugin_timeout"]


class PluginWarning(UserWarning):
    """A plugin was skipped or one of its models was rejected."""


def parse_seconds(value: str) -> float | None:
    """A limit in seconds written as text: a finite number of 0 or more, else None."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def plugin_timeout() -> float | None:
    """``MEDIGAN_PLUGIN_TIMEOUT`` in seconds (default 10); None (no limit, no thread) when it is 0."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    seconds = parse_seconds(value)
    if seconds is None:
        warnings.warn(f"{TIMEOUT_ENV}={value!r} is not a number of seconds (0 for no limit); using {DEFAULT_TIMEOUT:g}",
                      PluginWarning, stacklevel=3)
        return DEFAULT_TIMEOUT
    return seconds or None


class DefaultPlugin(NamedTuple):
    """One of the host's own implementations of a hook (its built-in writers, its extractors): called first, through
    the same path as the plugins', and never listed as an installed plugin."""

    plugin_name: str
    function: Callable[..., Any]


def collect_registrations(impls: Iterable[Any], accept: Callable[..., str | None], *, hook: str, what: str,
                          arguments: Sequence[str], report: Callable[[str, str], None],
                          defaults: Sequence[DefaultPlugin] = ()) -> None:
    """Call one ``register`` hook of every plugin implementing it, and accept what each registered.

    ``impls`` are pluggy hook implementations (``pm.hook.<hook>.get_hookimpls()``), called in plugin-name order,
    each with a ``register`` callback that only records its ``arguments`` (their names: a call with others raises
``TypeError`` in the plugin, as a wrong call does), under :func:`plugin_timeout`. Once a hook has
    returned, ``accept(plugin_name, *arguments)`` validates and adds each registration and returns a problem (one
    line) or None. A hook that timed out or raised registers nothing. Every problem goes to
    ``report(plugin_name, message)``; ``what`` names the registrations in messages (``"models"``, ``"writers"``).
    The host's ``defaults`` come first, so a plugin cannot displace a built-in by registering the same name.
    """
    ordered = [*defaults, *sorted(impls, key=lambda impl: impl.plugin_name)]
    staged: list[list[tuple[Any, ...]]] = [[] for _ in ordered]
    calls = [functools.partial(impl.function, register=_stager(bucket, arguments)) for impl, bucket in zip(ordered, staged, strict=True)]
    outcomes = call_each_with_timeout(calls, plugin_timeout(), f"medigan {hook}")
    for impl, (kind, value), registered in zip(ordered, outcomes, staged, strict=True):
        if kind == "timeout":
            report(impl.plugin_name, f"{hook} timed out after {value:g} s; none of its {what} were registered. Fix or "
                                     f"uninstall the plugin, or raise {TIMEOUT_ENV} if it is only slow")
            continue
        if kind == "error":
            report(impl.plugin_name, f"{hook} raised {type(value).__name__}: {value}; none of its {what} were registered")
            continue
        for values in registered:
            try:
                problem = accept(impl.plugin_name, *values)
            except Exception as exc:  # noqa: BLE001 - a registration that breaks its validation is that plugin's fault
                problem = f"a registration of {hook} was rejected: {type(exc).__name__}: {exc}"
            if problem:
                report(impl.plugin_name, problem)


def _stager(staged: list[tuple[Any, ...]], names: Sequence[str]) -> Callable[..., None]:
    """The ``register`` callback handed to a hook: it only records; registrations are checked once the hook returned."""
    signature = inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])

    def register(*args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        staged.append(tuple(bound.arguments[name] for name in names))

    return register


#: What one call ended with: ("value", result), ("error", exception) or ("timeout", seconds).
Outcome = tuple[str, Any]


def call_each_with_timeout(calls: Sequence[Callable[[], Any]], timeout: float | None, name: str) -> list[Outcome]:
    """Run ``calls`` one after another in a daemon worker thread, each for at most ``timeout`` seconds.

    The caller sleeps until the worker is done or the running call overruns: one thread per batch, not per call,
    keeps start-up fast. An overrunning call is reported as a timeout and abandoned (the thread is a daemon, so it
    never keeps the process alive); a fresh worker carries on with the next call. ``timeout=None`` runs the calls in
    the calling thread.
    """
    if timeout is None:
        return [_outcome(call) for call in calls]
    results: list[Outcome | None] = [None] * len(calls)
    changed = threading.Condition()
    progress = {"index": 0, "since": 0.0, "worker": 0}  # the call being run, since when, by which worker

    def work(start: int, worker: int) -> None:
        for index in range(start, len(calls)):
            with changed:
                if progress["worker"] != worker:
                    return
                progress["index"], progress["since"] = index, time.monotonic()
            outcome = _outcome(calls[index])
            with changed:
                if progress["worker"] != worker:  # abandoned: a late result must not overwrite the timeout
                    return
                results[index] = outcome
        with changed:
            if progress["worker"] == worker:
                progress["index"] = len(calls)
                changed.notify_all()

    start = 0
    while start < len(calls):
        with changed:
            progress.update(index=start, since=time.monotonic(), worker=progress["worker"] + 1)
            threading.Thread(target=work, args=(start, progress["worker"]), name=name, daemon=True).start()
            while progress["index"] < len(calls):
                remaining = progress["since"] + timeout - time.monotonic()
                if remaining <= 0:
                    break
                changed.wait(remaining)
            else:
                break
            stuck = progress["index"]
            results[stuck] = ("timeout", timeout)
            progress["worker"] += 1  # abandon the stuck worker
        start = stuck + 1
    return [outcome if outcome is not None else ("timeout", timeout) for outcome in results]


def _outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return ("value", call())
    except BaseException as exc:  # noqa: BLE001 - a broken plugin (sys.exit, KeyboardInterrupt …) must not stop the host
        return ("error", exc)
