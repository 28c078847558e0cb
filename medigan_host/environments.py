"""One isolated virtual environment per model, for models that run their own code (``medigan env``).

A card's ``environment`` field lists the pinned requirements of the model's own code
(``{"requirements": ["torch==2.13.0", ...], "notes": "..."}``). ``medigan env create MODEL`` builds a virtual
environment for it in the cache (``<cache>/envs/<model id>``) with plain ``venv`` + ``pip`` (or ``uv`` where it is on
PATH and asked for), never touching the environment medigan itself runs in, and nothing is installed without that
command. The environment is built beside its final place and renamed into it only when every requirement installed,
so a failed or interrupted build never leaves an environment that is later taken for good.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .cards import ModelCard
from .errors import MediganError, MediganUsageError
from .weights import cache_root

ENVS_FOLDER = "envs"
#: Written last into a finished environment: what was asked for, with what, and when.
MARKER = "medigan-env.json"
#: A file in the environment's site-packages that adds the parent interpreter's site-packages (--system-site-packages).
PARENT_PTH = "_medigan_parent_site.pth"
INSTALLERS = ("pip", "uv")

__all__ = ["EnvironmentMissingError", "create_env", "env_card", "env_dir", "env_python", "list_envs", "remove_env", "require_env",
           "requirements_of"]


class EnvironmentMissingError(MediganError):
    """The model's environment has not been built (or no longer matches its card): the message gives the command."""


def env_dir(card: ModelCard) -> Path:
    """``<cache>/envs/<model id>``: where the environment of ``card``'s model lives."""
    return cache_root() / ENVS_FOLDER / card.id


def _python_in(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements_of(card: ModelCard) -> list[str]:
    """The pinned requirements on the card (its ``environment.requirements``)."""
    spec = card.extra.get("environment")
    if not isinstance(spec, dict) or not isinstance(spec.get("requirements"), list):
        raise MediganUsageError(f"model {card.id!r} declares no environment on its card (field 'environment' with "
                                "'requirements'); it runs in medigan's own environment and needs no `medigan env`")
    return [str(r) for r in spec["requirements"]]


def env_python(card: ModelCard) -> Path | None:
    """The Python of the model's finished environment, or None when it has not been built."""
    folder = env_dir(card)
    return _python_in(folder) if (folder / MARKER).is_file() and _python_in(folder).exists() else None


def require_env(card: ModelCard) -> Path:
    """The Python of the model's environment; an error giving the command when it is missing or stale."""
    python = env_python(card)
    command = f"medigan env create {card.upstream_id or card.id}"
    if python is None:
        raise EnvironmentMissingError(f"model {card.id!r} runs in its own environment, which has not been built: run "
                                      f"`{command}` (it installs {len(requirements_of(card))} pinned requirements into "
                                      f"{env_dir(card)}, nothing into this Python)")
    recorded = _marker(env_dir(card)).get("requirements")
    if recorded != requirements_of(card):
        raise EnvironmentMissingError(f"the environment of model {card.id!r} was built for other requirements than its "
                                      f"card now lists: run `{command} --force` to rebuild it")
    return python


def env_card(model: str | int) -> ModelCard:
    """The card ``medigan env`` acts on: ``model``'s, or, when a native model answers to that original id, the card of
    the same upstream model that declares an environment."""
    from .api import installed_catalog

    catalog = installed_catalog()
    card = catalog.get(model).card
    if "environment" in card.extra or not card.upstream_id:
        return card
    return next((e.card for e in catalog if e.card.upstream_id == card.upstream_id and "environment" in e.card.extra), card)


def _marker(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def create_env(card: ModelCard, *, system_site_packages: bool = False, installer: str = "pip", force: bool = False,
               log: Callable[[str], None] | None = None) -> Path:
    """Build the model's environment and install its pinned requirements; return its folder.

    ``system_site_packages`` lets the environment also see the packages of the Python running medigan (read only:
    nothing is installed there); useful offline and in tests. ``installer`` is ``pip`` (always works) or ``uv``.
    """
    requirements = requirements_of(card)
    if installer not in INSTALLERS:
        raise MediganUsageError(f"unknown installer {installer!r}; choose one of: {', '.join(INSTALLERS)}")
    if installer == "uv" and shutil.which("uv") is None:
        raise MediganUsageError("uv is not on PATH: install it, or build with the default installer (pip)")
    target = env_dir(card)
    if env_python(card) is not None and not force:
        raise MediganUsageError(f"model {card.id!r} already has an environment at {target}; add --force to rebuild it")
    say = log or (lambda _message: None)
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    try:
        say(f"creating a virtual environment for {card.id} in {target}")
        venv = [sys.executable, "-m", "venv", str(building)]
        if system_site_packages:
            venv.insert(3, "--system-site-packages")
        if installer == "uv":
            venv.insert(3, "--without-pip")
        _run(venv, card, "creating the virtual environment")
        python = _python_in(building)
        if system_site_packages:
            _inherit_parent_site(python)
        if requirements:
            say(f"installing {len(requirements)} requirements: {' '.join(requirements)}")
            constraints = building / "build-constraints.txt"  # e.g. an old setuptools for sdists that need pkg_resources
            constraints.write_text("".join(f"{c}\n" for c in _build_constraints(card)), encoding="utf-8")
            env = {**os.environ, "PIP_CONSTRAINT": str(constraints), "UV_BUILD_CONSTRAINT": str(constraints)}
            if installer == "uv":
                _run(["uv", "pip", "install", "--python", str(python), *requirements], card, "installing requirements", env)
            else:
                _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *requirements],
                     card, "installing requirements", env)
        marker = {"model": card.id, "upstream_id": card.upstream_id, "requirements": requirements,
                  "python": ".".join(map(str, sys.version_info[:3])), "installer": installer,
                  "system_site_packages": system_site_packages, "created": datetime.now(timezone.utc).isoformat()}
        (building / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    say(f"environment of {card.id} ready: {target}")
    return target


def _build_constraints(card: ModelCard) -> list[str]:
    """The card's ``environment.build_constraints``: pins for the build environments of packages built from source."""
    spec = card.extra.get("environment")
    values = spec.get("build_constraints", []) if isinstance(spec, dict) else []
    return [str(v) for v in values] if isinstance(values, list) else []


def _run(command: list[str], card: ModelCard, what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    except OSError as exc:
        raise MediganError(f"model {card.id!r}: {what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout or "").strip().splitlines()[-12:])
        raise MediganError(f"model {card.id!r}: {what} failed (exit {done.returncode}); nothing was kept. Last output:\n{tail}")


def _inherit_parent_site(python: Path) -> None:
    """Make the new environment see this interpreter's site-packages too (a venv inside a venv otherwise sees only
    the base interpreter's). Read only: nothing is ever written there."""
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", query], capture_output=True, text=True, check=True).stdout.strip()
    parents = dict.fromkeys(p for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]) if p)
    # "import" lines of a .pth run at start-up: addsitedir also reads the .pth files there (editable installs, layers)
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    Path(site, PARENT_PTH).write_text(lines, encoding="utf-8")


def list_envs() -> list[dict[str, Any]]:
    """Every built environment in the cache: model, folder, requirements, Python, when it was built."""
    root = cache_root() / ENVS_FOLDER
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        marker = _marker(folder)
        if marker:
            out.append({**marker, "path": str(folder)})
    return out


def remove_env(card: ModelCard) -> bool:
    """Delete the model's environment (and any half-built one); False when there was none."""
    target = env_dir(card)
    leftovers = list(target.parent.glob(f".{target.name}.building-*")) if target.parent.is_dir() else []
    for folder in leftovers:
        shutil.rmtree(folder, ignore_errors=True)
    if not target.exists():
        return bool(leftovers)
    shutil.rmtree(target)
    return True
