"""``medigan new``: render the plugin template with cookiecutter, and the answer checks its hooks share.

The template lives in ``cookiecutter-template/`` of the source tree and ships inside the wheel as
``medigan_host/cookiecutter-template``. Its pre-generation hook and its Jinja filters call the functions here, so
an answer is checked the same way whether it came from ``medigan new --set`` or from a prompt.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..cards import ModelCard
from ..errors import CardError, MediganError, MediganUsageError

TEMPLATE_NAME = "cookiecutter-template"
FRAMEWORK_CHOICES = ("pytorch", "tensorflow", "onnx", "numpy")
_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$")
_CONDITION_SPEC = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=\s*(.+?)\s*$")


def template_dir() -> Path:
    """The bundled template: inside the installed package, or at the root of a source checkout."""
    here = Path(__file__).resolve().parents[1]  # the medigan_host package (this module is in its devkit/)
    for candidate in (here / TEMPLATE_NAME, here.parent / TEMPLATE_NAME):
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    raise MediganError(f"the plugin template is missing from this installation (looked in {here / TEMPLATE_NAME}); "
                       "reinstall medigan-host, or pass --template with a folder or git URL of the template")


def template_variables(template: Path) -> dict[str, Any]:
    """The questions a local template asks (its cookiecutter.json, without private keys)."""
    data = json.loads((template / "cookiecutter.json").read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}


def parse_settings(items: Iterable[str], known: Iterable[str] | None = None) -> dict[str, str]:
    """``["model_id=my-gan", "channels=3"]`` → dict; unknown keys (when ``known`` is given) are usage errors."""
    known = set(known) if known is not None else None
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MediganUsageError(f"--set {item!r} is not of the form key=value, e.g. --set model_id=my-gan")
        if known is not None and key not in known:
            raise MediganUsageError(f"--set {key}: the template has no such question; it asks: {', '.join(sorted(known))}")
        if key in out:
            raise MediganUsageError(f"--set {key} is given twice; give each answer once")
        out[key] = value.strip()
    return out


def parse_image_size(text: str) -> list[int]:
    """``"64x64"`` → ``[64, 64]``; ``"32x64x64"`` for a volume (depth x height x width)."""
    parts = re.split(r"\s*[x×,]\s*", str(text).strip().lower())
    if len(parts) not in (2, 3) or not all(p.isdigit() and 4 <= int(p) <= 4096 for p in parts):
        raise MediganUsageError(f"image_size {text!r} must be HxW (e.g. 64x64) or DxHxW for volumes (e.g. 32x64x64), "
                                "each between 4 and 4096")
    return [int(p) for p in parts]


def parse_condition_spec(text: str) -> dict[str, list[str]]:
    """``"lesion=absent|present; density=a|b|c|d"`` → ``{"lesion": ["absent", "present"], ...}``; empty → ``{}``."""
    out: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in str(text).split(";"))):
        match = _CONDITION_SPEC.match(part)
        values = [v.strip() for v in match.group(2).split("|")] if match else []
        if not match or len(values) < 2 or not all(values):
            raise MediganUsageError(f"conditions {part!r} must read name=value1|value2[|...] with a lower-case name and at "
                                    "least two values; separate conditions with ';', e.g. lesion=absent|present;density=a|b")
        if match.group(1) in out:
            raise MediganUsageError(f"condition {match.group(1)!r} is given twice in {text!r}")
        out[match.group(1)] = values
    return out


def card_from_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The model card the template writes into the plugin, from the rendered answers; invalid answers raise."""
    name = str(answers["plugin_name"])
    if not _PLUGIN_NAME.match(name):
        raise MediganUsageError(f"plugin_name {name!r} must be 2-42 characters a-z, 0-9 and '-', starting with a letter "
                                "(it becomes the distribution medigan-plugin-<name>)")
    framework = str(answers["framework"])
    if framework not in FRAMEWORK_CHOICES:
        raise MediganUsageError(f"framework {framework!r} must be one of {', '.join(FRAMEWORK_CHOICES)}")
    channels = str(answers["channels"]).strip()
    if not channels.isdigit():
        raise MediganUsageError(f"channels {channels!r} must be a whole number from 1 to 64")
    size = parse_image_size(answers["image_size"])
    conditions = parse_condition_spec(answers["conditions"])
    what = f"{answers['modality']} {answers['anatomy']}".strip()
    card = {
        "id": str(answers["model_id"]).strip(),
        "name": f"{answers['architecture']} for {what} ({'x'.join(map(str, size))}), untrained placeholder",
        "version": "0.1.0",
        "description": (
            f"UNTRAINED PLACEHOLDER: a tiny randomly initialised {answers['architecture']} ({framework}) that produces "
            f"{'x'.join(map(str, size))} {what} {'volumes' if len(size) == 3 else 'images'} with {channels} channel(s) in "
            "the shape this card declares, so that the plugin installs and passes `medigan check` before any training. "
            "Its samples are noise, not anatomy: replace the network with a trained one and update this card."
        ),
        "framework": framework,
        "modality": str(answers["modality"]).strip().lower(),
        "anatomy": str(answers["anatomy"]).strip(),
        "architecture": str(answers["architecture"]).strip(),
        "dataset": str(answers["dataset"]).strip(),
        "image_size": size,
        "channels": int(channels),
        "outputs": str(answers["outputs"]),
        "conditions": conditions,
        "license": str(answers["license"]),
        "tags": ["untrained", "placeholder", "template"],
        "untrained": True,
    }
    if card["outputs"] == "image+mask":
        card["mask_labels"] = {"0": "background", "1": "foreground"}
    try:
        ModelCard.from_dict(card)
    except CardError as exc:
        raise MediganUsageError(f"the answers make an invalid model card: {exc}") from None
    return card


def python_literal(value: Any, indent: int = 0, width: int = 116) -> str:
    """``value`` as Python source: one dict item per line, long strings wrapped in parentheses."""
    pad = " " * (indent + 4)
    if isinstance(value, Mapping) and value:
        items = [f"{pad}{json.dumps(str(k))}: {python_literal(v, indent + 4, width)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(v, indent, width) for v in value) + "]"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        if len(text) + indent <= width - 30:
            return text
        chunks = textwrap.wrap(value, width - indent - 8, drop_whitespace=False)
        return "(\n" + "\n".join(pad + json.dumps(chunk, ensure_ascii=False) for chunk in chunks) + "\n" + " " * indent + ")"
    return repr(value)


def new_plugin(output_dir: str | Path = ".", *, framework: str | None = None, no_input: bool = False,
               settings: Mapping[str, str] | None = None, template: str | None = None) -> Path:
    """Render the plugin template into ``output_dir`` and return the new project folder."""
    try:
        from cookiecutter.exceptions import CookiecutterException, FailedHookException, OutputDirExistsException
        from cookiecutter.main import cookiecutter
    except ImportError:
        from ..frameworks import pip_command

        raise MediganError(f"`medigan new` needs cookiecutter: run `{pip_command('medigan-host[new]')}` and try again") from None
    source = template or str(template_dir())
    context = dict(settings or {})
    if framework is not None:
        context["framework"] = framework
    if template is None:
        parse_settings([f"{k}={v}" for k, v in context.items()], template_variables(Path(source)))
        context = _answers(Path(source), context, ask=not no_input)  # asks only what --framework/--set left open
        try:
            card_from_answers(context)  # a bad answer is a one-line error before anything is written
        except MediganUsageError as exc:
            raise MediganUsageError(f"{exc}; nothing was written").with_traceback(None) from None
        no_input = True
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise MediganUsageError(f"-o {str(out)!r} is a file; give a folder to create the plugin project in")
    created = [folder for folder in (out, *out.parents) if not folder.exists()]
    out.mkdir(parents=True, exist_ok=True)
    try:
        project = Path(cookiecutter(source, no_input=no_input, extra_context=context, output_dir=str(out)))
        _remove_bytecode(project)
        return project
    except OutputDirExistsException:
        name = f"medigan-plugin-{context['plugin_name']}" if "plugin_name" in context else "the plugin project"
        raise MediganUsageError(f"{str(out / name)!r} already exists: nothing was changed; choose another plugin name "
                                "(--set plugin_name=NAME) or another -o folder") from None
    except FailedHookException as exc:
        raise MediganUsageError(f"the template refused the answers (the reason is printed above): {exc}; "
                                "nothing was written") from None
    except CookiecutterException as exc:
        raise MediganError(f"rendering the template failed: {type(exc).__name__}: {exc}") from None
    finally:
        for folder in created:  # the folders made for a project that was not written, innermost first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def host_install_default() -> str:
    """The pip arguments a new plugin's CI installs medigan-host with: the git URL of the clone this host was
    installed from, when that clone has an HTTPS remote (``"medigan-host @ git+https://…"``), else ``medigan-host``
    (PyPI; the plugin's README and ci.yml say what else works)."""
    import subprocess

    from ..frameworks import _clone_root

    root = _clone_root()
    if root is None:
        return "medigan-host"
    try:
        url = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "medigan-host"
    return f'"medigan-host @ git+{url}"' if url.startswith("https://") and " " not in url else "medigan-host"


def _remove_bytecode(project: Path) -> None:
    """Delete the ``__pycache__`` folders a template's hooks left in the project it just created (never committed)."""
    import shutil

    for cache in sorted(project.rglob("__pycache__"), reverse=True):
        if cache.is_dir() and not cache.is_symlink():
            shutil.rmtree(cache, ignore_errors=True)


def _answers(template: Path, given: Mapping[str, str], *, ask: bool) -> dict[str, Any]:
    """Every answer of the bundled template: those given, then each other question asked (or its default)."""
    from cookiecutter.environment import StrictEnvironment
    from cookiecutter.prompt import read_user_choice, read_user_variable, render_variable

    data = json.loads((template / "cookiecutter.json").read_text(encoding="utf-8"))
    prompts = data.get("__prompts__", {})
    questions = [key for key in data if not key.startswith("_")]
    env = StrictEnvironment(context={"cookiecutter": {}})
    answers: dict[str, Any] = {}
    for number, key in enumerate(questions, start=1):
        raw = data[key]
        if key in given:
            answers[key] = given[key]
        elif isinstance(raw, list):
            options = [render_variable(env, option, answers) for option in raw]
            answers[key] = read_user_choice(key, options, prompts, f"  [{number}/{len(questions)}] ") if ask else options[0]
        else:
            default = host_install_default() if key == "host_install" else render_variable(env, raw, answers)
            answers[key] = read_user_variable(key, default, prompts, f"  [{number}/{len(questions)}] ") if ask else default
    return answers
