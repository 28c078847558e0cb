"""`medigan serve`: a web app and a JSON HTTP API over the installed models (needs ``medigan-host[serve]``).

:mod:`.config` holds the server's settings and safety rules, :mod:`.runs` the runs (ordinary run folders written by
the generation engine, resumed after a restart), :mod:`.app` the Starlette application and :mod:`.openapi` its
OpenAPI description. The browser app is plain HTML, CSS and JavaScript in ``static/``, shipped in the package.
A top layer beside :mod:`medigan_host.cli`: it uses ``generation``, ``catalog`` and ``formats``; nothing imports it
but the command line."""

from .config import ServeConfig
from .runs import RunManager

__all__ = ["RunManager", "ServeConfig"]
