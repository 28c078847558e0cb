"""Plugin discovery: entry points in the group ``medigan.plugins``, managed with pluggy.

A plugin that fails to import, fails in its hook, or registers an invalid or clashing card is reported
(as a :class:`PluginWarning` and in ``medigan plugins``) and skipped; every other plugin keeps working.
Plugins are imported, and their hooks called, by :mod:`medigan_host.hookcalls`: one after another, each under
``MEDIGAN_PLUGIN_TIMEOUT`` seconds, so a plugin that hangs is reported as timed out and cannot keep ``medigan list``
waiting, nor the process alive. Features keep what they collect from the plugins (extractors, writers) with
:meth:`PluginHost.collected`, so that registering or removing a plugin refreshes it.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .hookcalls import (
    DEFAULT_TIMEOUT,
    TIMEOUT_ENV,
    PluginWarning,
    call_each_with_timeout,
    collect_registrations,
    parse_seconds,
    plugin_timeout,
)
from .registry import Catalog

__all__ = ["DEFAULT_TIMEOUT", "ENTRY_POINT_GROUP", "PLUGINS_ENV", "TIMEOUT_ENV", "PluginHost", "PluginInfo", "PluginWarning",
           "call_each_with_timeout", "get_host", "list_plugins", "no_models_hint", "parse_seconds", "plugin_timeout",
           "register_plugin", "reset_host", "unregister_plugin"]

ENTRY_POINT_GROUP = "medigan.plugins"
#: Comma-separated plugin names (entry-point or distribution names) to load; unset loads all, empty loads none.
PLUGINS_ENV = "MEDIGAN_PLUGINS"

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
    #: Models whose loader is this plugin's code, whichever plugin registered them (the ONNX runner serves the ONNX
    #: cards of other plugins); filled by :func:`list_plugins`.
    serves: list[str] = field(default_factory=list)

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
                "source": self.source, "status": self.status, "models": self.models, "serves": self.serves,
                "errors": self.errors}


class PluginHost:
    """Finds plugins, registers them with pluggy, and collects their models into a :class:`Catalog`."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._catalog: Catalog | None = None
        self._collected: dict[str, Any] = {}  # what features collected from the plugins, by key (see collected())
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
            self._catalog = None
            self._collected.clear()
            return name

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        with self._lock:
            if name not in self.plugins:
                raise KeyError(f"no plugin named {name!r}; registered: {', '.join(self.plugins) or 'none'}")
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            del self.plugins[name]
            self._catalog = None
            self._collected.clear()

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

    def collected(self, key: str, build: Callable[[PluginHost], Any]) -> Any:
        """What ``build(self)`` collects from the plugins (a feature's registry: extractors, writers), built on first
        use and kept until a plugin is registered or unregistered."""
        with self._lock:
            if key not in self._collected:
                self._collected[key] = build(self)
            return self._collected[key]

    def _collect(self) -> Catalog:
        catalog = Catalog(empty_hint=no_models_hint)
        for info in self.plugins.values():
            info.models.clear()
            info.model_errors.clear()

        def accept(plugin: str, card: Any, loader: Any) -> str | None:
            info = self.plugins[plugin]
            problem = catalog.add(card, loader, plugin=plugin, plugin_version=info.version)
            if not problem:
                info.models.append(catalog.last_id)
            return problem

        def report(plugin: str, problem: str) -> None:
            self.plugins[plugin].model_errors.append(problem)

        collect_registrations(self.pm.hook.medigan_register_models.get_hookimpls(), accept, hook="medigan_register_models",
                              what="models", arguments=("card", "loader"), report=report)
        for info in self.plugins.values():
            for error in info.errors:
                warnings.warn(f"medigan plugin {info.name!r}: {error}", PluginWarning, stacklevel=3)
        return catalog


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
    catalog = host.catalog  # collect models so each plugin's model list and errors are filled in
    by_package = {info.module.split(".")[0]: info for info in host.plugins.values() if info.module}
    for info in host.plugins.values():
        info.serves.clear()
    for entry in catalog:
        info = by_package.get(loader_package(entry.loader))
        if info is not None:
            info.serves.append(entry.id)
    return list(host.plugins.values())


def loader_package(loader: object) -> str:
    """The top-level package of a loader (an import string ``package.module:function`` or a callable)."""
    target = loader if isinstance(loader, str) else getattr(loader, "__module__", "") or ""
    return target.split(":")[0].split(".")[0]
