"""One isolated virtual environment per model, for models that run their own code (``medigan env``).

A card's ``environment`` field lists the pinned requirements of the model's own code and the modules that prove them
(``{"requirements": ["torch==2.13.0", ...], "imports": ["torch", ...], "python": ">=3.9,<3.13", "notes": "..."}``).
``medigan env create MODEL`` builds a virtual environment for it in the cache (``<cache>/envs/<model id>``), never
touching the environment medigan itself runs in, and nothing is installed without that command (or its explicit
equivalents, ``--create-env`` and ``install_dependencies=True``, both only with trust given).

The default installer is uv (a dependency of medigan): every environment installs from one shared uv cache in
``<cache>/envs/.uv-cache`` (``UV_CACHE_DIR`` overrides it) with hard links (``UV_LINK_MODE`` overrides it), so torch
and the other large wheels are stored once on disk whatever the number of environments. ``--installer pip`` uses
``python -m venv`` and pip. Package sources are the installers' own settings: ``UV_FIND_LINKS``/``PIP_FIND_LINKS``,
``UV_INDEX_URL``/``PIP_INDEX_URL``, ``UV_EXTRA_INDEX_URL``/``PIP_EXTRA_INDEX_URL`` (each pip setting is handed to uv
when its uv twin is unset, and the other way round).

After installing, every module the card lists under ``imports`` is imported inside the new environment; an import
that fails leaves the environment marked *broken* (``medigan env list``), and the build fails with the import errors
and the installed versions. The environment is built beside its final place and renamed into it when its packages
installed, so a failed or interrupted install never leaves an environment that is later taken for good.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .cards import ModelCard
from .errors import MediganError, MediganUsageError
from .weights import cache_root

ENVS_FOLDER = "envs"
#: The uv cache every environment installs from (hard links: a wheel shared by environments is stored once).
UV_CACHE_FOLDER = ".uv-cache"
#: Written last into a finished environment: what was asked for, with what, when, and what its import check found.
MARKER = "medigan-env.json"
#: A file in the environment's site-packages that adds the parent interpreter's site-packages (--system-site-packages).
PARENT_PTH = "_medigan_parent_site.pth"
INSTALLERS = ("uv", "pip")
DEFAULT_INSTALLER = "uv"
#: Seconds the import check may take (a first import of torch on a loaded machine takes tens of seconds).
CHECK_TIMEOUT_ENV = "MEDIGAN_ENV_CHECK_TIMEOUT"
#: pip's settings and their uv twins: each is handed to the other installer when only one of them is set.
SOURCE_SETTINGS = (("PIP_FIND_LINKS", "UV_FIND_LINKS"), ("PIP_INDEX_URL", "UV_INDEX_URL"),
                   ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"))
STATES = ("ok", "broken", "stale", "missing")

__all__ = ["EnvironmentBrokenError", "EnvironmentMissingError", "check_env", "create_env", "env_card", "env_dir",
           "env_python", "env_state", "installer_environment", "list_envs", "missing_steps", "remove_env",
           "require_env", "requirements_of", "uv_binary"]

#: Run by the environment's own Python: import each module, record the error of those that fail and the installed
#: version of each requirement; the result goes to a file (imported modules may print to stdout).
_CHECK_SCRIPT = r"""
import importlib, importlib.metadata as md, json, sys, traceback, warnings
warnings.simplefilter("ignore")
modules, dists, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
errors = {}
for name in modules:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        errors[name] = (traceback.format_exception_only(type(exc), exc)[-1].strip())[:500]
versions = {}
for dist in dists:
    try:
        versions[dist] = md.version(dist)
    except Exception:
        versions[dist] = None
with open(out, "w", encoding="utf-8") as f:
    json.dump({"errors": errors, "versions": versions}, f)
"""


class EnvironmentMissingError(MediganError):
    """The model's environment has not been built (or no longer matches its card): the message gives the command."""


class EnvironmentBrokenError(MediganError):
    """The model's environment installed, but a module its card lists does not import there."""


def env_dir(card: ModelCard) -> Path:
    """``<cache>/envs/<model id>``: where the environment of ``card``'s model lives."""
    return cache_root() / ENVS_FOLDER / card.id


def _python_in(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _spec(card: ModelCard) -> dict[str, Any]:
    spec = card.extra.get("environment")
    if not isinstance(spec, dict) or not isinstance(spec.get("requirements"), list):
        raise MediganUsageError(f"model {card.id!r} declares no environment on its card (field 'environment' with "
                                "'requirements'); it runs in medigan's own environment and needs no `medigan env`")
    return spec


def _strings(spec: dict[str, Any], key: str) -> list[str]:
    values = spec.get(key, [])
    return [str(v) for v in values] if isinstance(values, list) else []


def requirements_of(card: ModelCard) -> list[str]:
    """The pinned requirements on the card (its ``environment.requirements``)."""
    return [str(r) for r in _spec(card)["requirements"]]


def _recipe(card: ModelCard) -> dict[str, Any]:
    """Everything on the card that decides what gets installed: a change of any of it makes the environment stale."""
    spec = _spec(card)
    return {"requirements": requirements_of(card), "overrides": _strings(spec, "overrides"),
            "build_constraints": _strings(spec, "build_constraints")}


def _distribution(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1) if match else requirement


def env_python(card: ModelCard) -> Path | None:
    """The Python of the model's finished environment, or None when it has not been built."""
    folder = env_dir(card)
    return _python_in(folder) if (folder / MARKER).is_file() and _python_in(folder).exists() else None


def _marker(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _state_of(marker: dict[str, Any], card: ModelCard | None) -> str:
    if not marker:
        return "missing"
    if card is not None and "environment" in card.extra:
        recipe = _recipe(card)
        if any(marker.get(key, [] if key != "requirements" else None) != value for key, value in recipe.items()):
            return "stale"
    check = marker.get("check")
    return "ok" if isinstance(check, dict) and check.get("ok") is True else "broken"


def env_state(card: ModelCard) -> str:
    """``ok`` (built, every listed module imports), ``broken`` (a module does not import), ``stale`` (built for other
    requirements than the card now lists) or ``missing``."""
    return _state_of(_marker(env_dir(card)) if env_python(card) is not None else {}, card)


def _command(card: ModelCard) -> str:
    return f"medigan env create {card.upstream_id or card.id}"


def require_env(card: ModelCard) -> Path:
    """The Python of the model's environment; an error giving the command when it is missing, stale or broken."""
    state = env_state(card)
    also = "".join(f". Then also {step}" for step in missing_steps(card) if step.startswith("place its weights"))
    if state == "missing":
        raise EnvironmentMissingError(f"model {card.id!r} runs in its own environment, which has not been built: run "
                                      f"`{_command(card)}` (it installs {len(requirements_of(card))} pinned requirements "
                                      f"into {env_dir(card)}, nothing into this Python){also}")
    if state == "stale":
        raise EnvironmentMissingError(f"the environment of model {card.id!r} was built for other requirements than its "
                                      f"card now lists: run `{_command(card)} --force` to rebuild it{also}")
    if state == "broken":
        errors = _marker(env_dir(card)).get("check", {}).get("errors", {})
        raise EnvironmentBrokenError(f"the environment of model {card.id!r} is broken: {_describe_errors(errors)}; see "
                                     f"`medigan env check {card.upstream_id or card.id}`, rebuild it with "
                                     f"`{_command(card)} --force`{also}")
    return _python_in(env_dir(card))


def env_card(model: str | int) -> ModelCard:
    """The card ``medigan env`` acts on: ``model``'s, or, when a native model answers to that original id, the card of
    the same upstream model that declares an environment."""
    from .plugins import get_host

    catalog = get_host().catalog
    card = catalog.get(model).card
    if "environment" in card.extra or not card.upstream_id:
        return card
    return next((e.card for e in catalog if e.card.upstream_id == card.upstream_id and "environment" in e.card.extra), card)


def environment_cards() -> list[ModelCard]:
    """Every installed card that declares an environment (``medigan env create --all``)."""
    from .plugins import get_host

    return [e.card for e in get_host().catalog if isinstance(e.card.extra.get("environment"), dict)]


def uv_binary() -> str:
    """The uv executable: the one installed with medigan (the ``uv`` package), else ``uv`` on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise MediganUsageError("uv is not installed (it comes with medigan: `pip install uv`); or build with "
                                "`--installer pip`")
    return found


def installer_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables the installers run with: the shared uv cache with hard links (unless ``UV_CACHE_DIR``
    / ``UV_LINK_MODE`` say otherwise), and each package-source setting of pip handed to uv and back."""
    env = dict(os.environ)
    env.setdefault("UV_CACHE_DIR", str(cache_root() / ENVS_FOLDER / UV_CACHE_FOLDER))
    env.setdefault("UV_LINK_MODE", "hardlink")
    for pip_name, uv_name in SOURCE_SETTINGS:
        if env.get(pip_name) and not env.get(uv_name):
            env[uv_name] = ",".join(env[pip_name].split()) if pip_name == "PIP_FIND_LINKS" else env[pip_name]
        elif env.get(uv_name) and not env.get(pip_name):
            env[pip_name] = " ".join(env[uv_name].split(",")) if uv_name == "UV_FIND_LINKS" else env[uv_name]
    env.update(extra or {})
    return env


def create_env(card: ModelCard, *, system_site_packages: bool = False, installer: str = DEFAULT_INSTALLER,
               force: bool = False, log: Callable[[str], None] | None = None) -> Path:
    """Build the model's environment, install its pinned requirements and import the modules its card lists.

    Returns its folder. ``system_site_packages`` lets the environment also see the packages of the Python running
    medigan (read only: nothing is installed there); useful offline and in tests. ``installer`` is ``uv`` (default,
    shared hard-linked cache) or ``pip``. An import that fails raises :class:`EnvironmentBrokenError` with the
    errors and the installed versions, and leaves the environment in place marked broken.
    """
    recipe = _recipe(card)
    requirements = recipe["requirements"]
    if installer not in INSTALLERS:
        raise MediganUsageError(f"unknown installer {installer!r}; choose one of: {', '.join(INSTALLERS)}")
    _check_python(card)
    uv = uv_binary() if installer == "uv" else None
    target = env_dir(card)
    if env_python(card) is not None and not force:
        raise MediganUsageError(f"model {card.id!r} already has an environment at {target} ({env_state(card)}); add "
                                "--force to rebuild it")
    say = log or (lambda _message: None)
    started = time.monotonic()
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    try:
        say(f"creating a virtual environment for {card.id} in {target} ({installer})")
        if uv is not None:
            venv = [uv, "venv", "--quiet", "--python", sys.executable, str(building)]
            if system_site_packages:
                venv.insert(2, "--system-site-packages")
        else:
            venv = [sys.executable, "-m", "venv", str(building)]
            if system_site_packages:
                venv.insert(3, "--system-site-packages")
        _run(venv, card, "creating the virtual environment", installer_environment())
        python = _python_in(building)
        if system_site_packages:
            _inherit_parent_site(python)
        if requirements:
            say(f"installing {len(requirements)} requirements: {' '.join(requirements)}")
            _install(card, python, uv, building, recipe)
        installed = time.monotonic() - started
        marker = {"model": card.id, "upstream_id": card.upstream_id, **recipe,
                  "imports": _strings(card.extra["environment"], "imports"),
                  "python": ".".join(map(str, sys.version_info[:3])), "installer": installer,
                  "system_site_packages": system_site_packages, "created": datetime.now(timezone.utc).isoformat(),
                  "install_seconds": round(installed, 2)}
        (building / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    say(f"importing {len(marker['imports'])} modules in the new environment")
    result = check_env(card)
    if not result["ok"]:
        raise EnvironmentBrokenError(_broken_message(card, result))
    say(f"environment of {card.id} ready: {target} ({time.monotonic() - started:.1f} s)")
    return target


def _check_python(card: ModelCard) -> None:
    """The card's ``environment.python`` (a version specifier, e.g. ``>=3.10,<3.13``) against the running Python."""
    wanted = _spec(card).get("python")
    if not wanted:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    running = ".".join(map(str, sys.version_info[:3]))
    try:
        ok = running in SpecifierSet(str(wanted))
    except InvalidSpecifier:
        raise MediganUsageError(f"model {card.id!r}: its card's environment.python {wanted!r} is not a version "
                                "specifier; the plugin must fix its card") from None
    if not ok:
        raise MediganUsageError(f"model {card.id!r}: its pinned requirements support Python {wanted}, and medigan runs on "
                                f"{running}; run medigan from a Python in that range to build this environment")


def _install(card: ModelCard, python: Path, uv: str | None, building: Path, recipe: dict[str, Any]) -> None:
    # build constraints: e.g. an old setuptools for sdists whose setup.py imports pkg_resources
    constraints = building / "build-constraints.txt"
    constraints.write_text("".join(f"{c}\n" for c in recipe["build_constraints"]), encoding="utf-8")
    env = installer_environment({"PIP_CONSTRAINT": str(constraints), "UV_BUILD_CONSTRAINT": str(constraints)})
    requirements, overrides = recipe["requirements"], recipe["overrides"]
    if uv is not None:
        command = [uv, "pip", "install", "--python", str(python), *requirements]
        if overrides:  # replaces what any package asks of these (e.g. a torchvision whose wheel pins an older torch)
            listed = building / "overrides.txt"
            listed.write_text("".join(f"{o}\n" for o in overrides), encoding="utf-8")
            command[3:3] = ["--overrides", str(listed)]
        _run(command, card, "installing requirements", env)
        return
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    _run([*pip, *requirements], card, "installing requirements", env)
    if overrides:  # pip has no overrides: put those versions in without their own dependency pins
        _run([*pip, "--no-deps", *overrides], card, "installing the overridden versions", env)


def check_env(card: ModelCard) -> dict[str, Any]:
    """Import every module the card lists inside the model's environment; record the result in its marker.

    Returns ``{"ok", "errors" (module -> error), "versions" (requirement -> installed version), "state"}``."""
    python = env_python(card)
    if python is None:
        raise EnvironmentMissingError(f"model {card.id!r} has no environment to check: run `{_command(card)}`")
    folder = env_dir(card)
    marker = _marker(folder)
    modules = _strings(_spec(card), "imports")
    dists = list(dict.fromkeys(_distribution(r) for r in [*marker.get("requirements", []), *marker.get("overrides", [])]))
    from .weights import _seconds

    timeout = _seconds(CHECK_TIMEOUT_ENV, 600.0)
    with tempfile.TemporaryDirectory(prefix="medigan-env-check-") as scratch:
        out = Path(scratch) / "result.json"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update({"PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"})
        try:
            done = subprocess.run([str(python), "-c", _CHECK_SCRIPT, json.dumps(modules), json.dumps(dists), str(out)],
                                  capture_output=True, text=True, timeout=timeout, cwd=scratch, env=env, check=False)
            data = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else None
        except subprocess.TimeoutExpired:
            data, done = None, None
        if data is None:
            tail = "\n".join(((done.stderr or done.stdout) if done else "").strip().splitlines()[-8:])
            reason = (f"did not finish within {timeout:g} s ({CHECK_TIMEOUT_ENV})" if done is None
                      else f"exited {done.returncode}")
            data = {"errors": {"<interpreter>": f"the import check {reason}: {tail}"}, "versions": {}}
    result = {"ok": not data["errors"], "errors": data["errors"], "versions": data["versions"],
              "checked": datetime.now(timezone.utc).isoformat()}
    marker["check"] = result
    (folder / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return {**result, "state": _state_of(marker, card)}


def _describe_errors(errors: dict[str, str]) -> str:
    return "; ".join(f"import {name} failed: {error}" for name, error in errors.items()) or "its import check failed"


def _broken_message(card: ModelCard, result: dict[str, Any]) -> str:
    versions = ", ".join(f"{name} {version or '(not installed)'}" for name, version in result["versions"].items())
    return (f"the environment of model {card.id!r} installed, but {_describe_errors(result['errors'])}. Installed: "
            f"{versions}. It is kept at {env_dir(card)}, marked broken; adjust the card's pins (or the package "
            f"sources) and rebuild with `{_command(card)} --force`")


def missing_steps(card: ModelCard, *, trusted: bool = True) -> list[str]:
    """Every step still missing before ``card``'s model can run, each a sentence with its command: trust in its code,
    its environment, its weights when they are not cached and downloads are off. Empty when nothing is missing."""
    from .weights import is_offline, model_folder, placement

    steps = []
    if card.extra.get("remote_code") is True and not trusted:
        steps.append("trust its code: add --trust-remote-code (Python: trust_remote_code=True; or set "
                     "MEDIGAN_TRUST_REMOTE_CODE=1)")
    if isinstance(card.extra.get("environment"), dict):
        state = env_state(card)
        if state != "ok":
            force = "" if state == "missing" else " --force"
            steps.append(f"build its environment ({state}): `{_command(card)}{force}` (or --create-env; "
                         "install_dependencies=True in Python)")
    for entry in card.weights:
        if "filename" in entry and not (model_folder(card) / entry["filename"]).is_file() and is_offline():
            steps.append(f"place its weights (downloads are off): {placement(card, entry)}")
    return steps


def archive_cached(card: ModelCard) -> bool:
    """True when every weights file of the card is in the cache (nothing would be downloaded)."""
    from .weights import model_folder

    return bool(card.weights) and all((model_folder(card) / e["filename"]).is_file() for e in card.weights if "filename" in e)


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
    """Every built environment in the cache: model, folder, requirements, Python, when it was built, and its state
    (``ok``, ``broken``, ``stale`` when the card's requirements changed since)."""
    root = cache_root() / ENVS_FOLDER
    if not root.is_dir():
        return []
    cards: dict[str, ModelCard] = {}
    try:
        cards = {card.id: card for card in environment_cards()}
    except MediganError:
        pass
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        marker = _marker(folder)
        if marker:
            out.append({**marker, "path": str(folder), "state": _state_of(marker, cards.get(str(marker.get("model"))))})
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
