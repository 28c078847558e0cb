"""Plugin discovery: entry points in the group ``medigan.plugins``, managed with pluggy.

A plugin that fails to import, fails in its hook, or registers an invalid or clashing card is reported
(as a :class:`PluginWarning` and in ``medigan plugins``) and skipped; every other plugin keeps working.
Plugins are imported, and their hooks called, one after another in a daemon worker thread that may spend at most
``MEDIGAN_PLUGIN_TIMEOUT`` seconds (default 10; 0 runs them in the calling thread without a limit) on each, so a
plugin that hangs is reported as timed out and cannot keep ``medigan list`` waiting, nor the process alive.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .registry import Catalog

ENTRY_POINT_GROUP = "medigan.plugins"
#: Comma-separated plugin names (entry-point or distribution names) to load; unset loads all, empty loads none.
PLUGINS_ENV = "MEDIGAN_PLUGINS"
#: Seconds to wait for a plugin's import, and again for its hook, before it is skipped as hung.
TIMEOUT_ENV = "MEDIGAN_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 10.0


class PluginWarning(UserWarning):
    """A plugin was skipped or one of its models was rejected."""


@dataclass
class PluginInfo:
    """One plugin as the host sees it."""

    name: str
    module: str = ""
    distribution: str | None = None
    version: str | None = None
    source: str = "entry point"
    models: list[str] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)
    model_errors: list[str] = field(default_factory=list)
    loaded: bool = False

    @property
    def errors(self) -> list[str]:
        """What went wrong loading the plugin, then what went wrong with its models."""
        return self.load_errors + self.model_errors

    @property
    def status(self) -> str:
        if not self.loaded:
            return "failed"
        return "ok" if not self.errors else "partial"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "module": self.module, "distribution": self.distribution, "version": self.version,
                "source": self.source, "status": self.status, "models": self.models, "errors": self.errors}


class PluginHost:
    """Finds plugins, registers them with pluggy, and collects their models into a :class:`Catalog`."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._catalog: Catalog | None = None
        self._extractors: Any = None  # an evaluation.extractors.ExtractorCatalog, collected on first use
        self._lock = threading.RLock()
        if load_entry_points:
            self._load_entry_points()

    # -- discovery ---------------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        wanted = _wanted_plugins()
        seen: set[str] = set()
        candidates: list[tuple[Any, PluginInfo]] = []
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            meta = dist.metadata if dist is not None else None  # parsed once: Name and Version both come from it
            dist_name = meta["Name"] if meta is not None else None
            if wanted is not None and not ({_norm(ep.name), _norm(dist_name or "")} & wanted):
                continue
            seen.update({_norm(ep.name), _norm(dist_name or "")})
            candidates.append((ep, PluginInfo(name=ep.name, module=ep.value, distribution=dist_name,
                                              version=meta["Version"] if meta is not None else None)))
        names = [ep.name for ep, _ in candidates]
        to_import = [ep for i, (ep, _) in enumerate(candidates) if ep.name not in names[:i]]
        imported = dict(zip((id(ep) for ep in to_import),
                            call_each_with_timeout([ep.load for ep in to_import], plugin_timeout(), "medigan plugin import"),
                            strict=True))
        for ep, info in candidates:
            if ep.name in self.plugins:
                self._fail(info, f"another installed plugin is also named {ep.name!r} "
                                 f"({self.plugins[ep.name].distribution}); uninstall one of them")
                continue
            kind, value = imported[id(ep)]
            if kind == "timeout":
                self._fail(info, f"timed out after {value:g} s importing {ep.value!r}; it was skipped. Fix or "
                                 f"uninstall the plugin, or raise {TIMEOUT_ENV} if it is only slow")
            elif kind == "error":  # a broken plugin (even one calling sys.exit) must not stop the host
                self._fail(info, f"failed to import {ep.value!r}: {type(value).__name__}: {value}")
            else:
                self._add(value, info)
        for name in sorted((wanted or set()) - seen):
            self._fail(PluginInfo(name=name), f"{PLUGINS_ENV} names {name!r} but no installed plugin has that name; "
                                              "see `medigan plugins` or unset the variable")

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object (a module or an instance with ``@hookimpl`` methods) programmatically."""
        with self._lock:
            name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
            if name in self.plugins:
                raise ValueError(f"a plugin named {name!r} is already registered; pass another name= or unregister it first")
            info = PluginInfo(name=name, module=getattr(plugin, "__name__", type(plugin).__name__), source="registered")
            self._add(plugin, info)
            if not info.loaded:
                del self.plugins[name]
                raise ValueError(f"plugin {name!r} could not be registered: {'; '.join(info.errors)}")
            self._catalog = self._extractors = None
            return name

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        with self._lock:
            if name not in self.plugins:
                raise KeyError(f"no plugin named {name!r}; registered: {', '.join(self.plugins) or 'none'}")
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            del self.plugins[name]
            self._catalog = self._extractors = None

    def _add(self, plugin: object, info: PluginInfo) -> None:
        self.plugins[info.name] = info
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:  # pluggy validation: wrong hook signature, duplicate registration
            self._fail(info, f"pluggy rejected it: {exc}")
            return
        info.loaded = True
        if not self.pm.get_hookcallers(plugin):
            info.load_errors.append("defines no medigan hooks (expected a @medigan_host.hookimpl medigan_register_models)")

    def _fail(self, info: PluginInfo, message: str) -> None:
        self.plugins.setdefault(info.name, info)
        info.load_errors.append(message)

    # -- models ------------------------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        """All models registered by the loaded plugins (collected on first use)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = self._collect()
            return self._catalog

    @property
    def extractors(self) -> Any:
        """The feature extractors of the host and the loaded plugins (an ``ExtractorCatalog``, collected on first use)."""
        with self._lock:
            if self._extractors is None:
                from .evaluation.extractors import collect_extractors

                self._extractors = collect_extractors(self)
            return self._extractors

    def _collect(self) -> Catalog:
        catalog = Catalog()
        for info in self.plugins.values():
            info.models.clear()
            info.model_errors.clear()
        impls = sorted(self.pm.hook.medigan_register_models.get_hookimpls(), key=lambda i: i.plugin_name)
        staged: list[list[tuple[Any, Any]]] = [[] for _ in impls]
        outcomes = call_each_with_timeout([functools.partial(impl.function, register=_stager(cards))
                                           for impl, cards in zip(impls, staged, strict=True)],
                                          plugin_timeout(), "medigan plugin hook")
        for impl, (kind, value), registered in zip(impls, outcomes, staged, strict=True):
            info = self.plugins[impl.plugin_name]
            if kind == "timeout":
                info.model_errors.append(f"medigan_register_models timed out after {value:g} s; none of its models "
                                         f"were registered. Fix or uninstall the plugin, or raise {TIMEOUT_ENV} if it is only slow")
                continue
            if kind == "error":
                info.model_errors.append(f"medigan_register_models raised {type(value).__name__}: {value}; "
                                         "none of its models were registered")
                continue
            for card, loader in registered:
                problem = catalog.add(card, loader, plugin=info.name, plugin_version=info.version)
                if problem:
                    info.model_errors.append(problem)
                else:
                    info.models.append(catalog.last_id)
        for info in self.plugins.values():
            for error in info.errors:
                warnings.warn(f"medigan plugin {info.name!r}: {error}", PluginWarning, stacklevel=3)
        return catalog


def _stager(staged: list[tuple[Any, Any]]) -> Callable[[Any, Any], None]:
    """The ``register`` callback handed to a hook: it only records; cards are checked once the hook returned."""
    return lambda card, loader: staged.append((card, loader))


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


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _wanted_plugins() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {_norm(part) for part in value.split(",") if part.strip()}


def no_models_hint() -> str:
    """Why there are no models, and what to do: install a plugin, or widen a ``MEDIGAN_PLUGINS`` that filters them out."""
    value = os.environ.get(PLUGINS_ENV)
    if value is not None:
        installed = sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})
        if installed:
            return (f"{PLUGINS_ENV}={value!r} loads {'no plugin' if not value.strip() else 'none of them'} of the installed "
                    f"plugins ({', '.join(installed)}): name some of them, or unset {PLUGINS_ENV} to load all")
    from .frameworks import pip_command

    return f"no plugins are installed: install one, e.g. `{pip_command('medigan-plugin-phantoms')}`"


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, created on first use."""
    global _host
    with _host_lock:
        if _host is None:
            _host = PluginHost()
        return _host


def reset_host(*, load_entry_points: bool = True) -> PluginHost:
    """Forget all plugins and discover them again (for tests and notebooks after `pip install`)."""
    global _host
    with _host_lock:
        _host = PluginHost(load_entry_points=load_entry_points)
        return _host


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object in this process, next to the installed ones."""
    return get_host().register(plugin, name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin`."""
    get_host().unregister(name)


def list_plugins() -> list[PluginInfo]:
    """Every plugin found, loaded or not, with its models and errors."""
    host = get_host()
    _ = host.catalog  # collect models so each plugin's model list and errors are filled in
    return list(host.plugins.values())
