"""The host's structure (docs/architecture.md): no import cycles at any depth, every module in a layer, one path per
module, at most 20 top-level modules, the layer contracts of pyproject.toml kept, the hooks documented, the generator
Protocols checked."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import card

import medigan_host
from medigan_host import hookspecs

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "medigan_host"
PYPROJECT = REPO / "pyproject.toml"

#: The most modules the top level (the core) may hold; a new concern goes into a feature subpackage.
MAX_TOP_LEVEL = 20
FEATURES = {"catalog", "cli", "compat", "devkit", "evaluation", "formats", "generation", "pipelines", "serve", "viz"}
#: Core packages: a core concern too large for one file, counted as one top-level module; its modules are core.
CORE_PACKAGES = {"weights"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The medigan_host modules ``name`` imports: at module level, inside functions and under TYPE_CHECKING (a
    type-only import in a ring is still a ring: the modules cannot be read, moved or tested apart)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def known(dotted: str) -> str:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "medigan_host":
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in modules else known(target))
        elif isinstance(node, ast.Import):
            found.update(known(alias.name) for alias in node.names if alias.name.split(".")[0] == "medigan_host")
    found.discard(name)
    found.discard("")
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_host_has_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_check_covers_subpackages_and_type_only_imports(tmp_path):
    """Every module of every subpackage is in the graph with its relative imports, and an import under
    TYPE_CHECKING counts: the ring compat.generate -> compat.generators -> compat.torch -> compat.generate, closed
    by a type-only import, was found this way."""
    graph = _graph()
    assert set(graph) == set(_modules())
    assert {f"medigan_host.{p.parent.name}.{p.stem}" for p in PACKAGE.glob("*/*.py") if p.stem != "__init__"} <= set(graph)
    assert "medigan_host.compat.generate" in graph["medigan_host.compat.torch"]
    assert "medigan_host.formats.base" in graph["medigan_host.formats.dicom"]
    ring = tmp_path / "medigan_host" / "sub"
    ring.mkdir(parents=True)
    (ring / "__init__.py").write_text("")
    (ring / "a.py").write_text("from .b import x\n")
    (ring / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n")
    modules = {"medigan_host.sub": ring / "__init__.py", "medigan_host.sub.a": ring / "a.py", "medigan_host.sub.b": ring / "b.py"}
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == [["medigan_host.sub.a", "medigan_host.sub.b"]]


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _core_in_contract() -> set[str]:
    text = PYPROJECT.read_text(encoding="utf-8")
    block = text[text.index('name = "The core imports no feature"'):]
    sources = block[block.index("source_modules"):block.index("forbidden_modules")]
    forbidden = block[block.index("forbidden_modules"):block.index("]", block.index("forbidden_modules"))]
    assert set(re.findall(r'"medigan_host\.(\w+)"', forbidden)) == FEATURES
    return set(re.findall(r'"medigan_host\.(\w+)"', sources))


def test_every_top_level_module_is_core():
    """A module at the top level (or a core package, counted as one) is core, declared in the forbidden contract
    (and so checked by it, with every module of a core package); there are at most MAX_TOP_LEVEL of them; every
    other subpackage is a feature in both contracts."""
    top = ({p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__", "_version"}) | CORE_PACKAGES
    assert top == _core_in_contract()
    assert len(top) <= MAX_TOP_LEVEL, f"{len(top)} top-level modules: {sorted(top)}"
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == FEATURES | CORE_PACKAGES
    assert not {p.stem for p in PACKAGE.glob("*.py")} & CORE_PACKAGES


def test_one_path_per_module():
    """No module replaces itself in sys.modules with another (an alias is a second name for one thing and a trap
    for monkeypatching), and no module of the host is importable at a second path."""
    for path in PACKAGE.rglob("*.py"):
        assert "sys.modules[__name__]" not in path.read_text(encoding="utf-8"), path
    for old in ("writers", "readers", "dicom_format", "contract", "testing", "scaffold", "weights_server", "visualize",
                "distributed", "compat_torch", "torch", "tf"):
        assert importlib.util.find_spec(f"medigan_host.{old}") is None, old


def test_the_import_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts (also run as `lint-imports` by the nox tests session)."""
    pytest.importorskip("importlinter", reason="import-linter is in the test extra; the nox tests session installs it")
    import subprocess

    # in its own process: import-linter configures logging, which would silence the host's loggers in later tests
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, no_cache=True, no_logo=True))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


def _hooks() -> dict[str, list[str]]:
    return {name: list(inspect.signature(function).parameters) for name, function in vars(hookspecs).items()
            if name.startswith("medigan_") and callable(function)}


def test_the_hooks_are_specified():
    assert set(_hooks()) == {"medigan_register_models", "medigan_register_feature_extractors", "medigan_register_writers"}


@pytest.mark.parametrize("hook", sorted(_hooks()))
def test_docs_document_every_hook_and_argument(hook):
    """docs/plugins.md has a section per hook that names each of its arguments, and the hookspec says when it is
    called, what it gets and what it returns."""
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    arguments = _hooks()[hook]
    heading = f"### `{hook}({', '.join(arguments)})`"
    assert heading in text
    section = text[text.index(heading):]
    section = section[: section.find("\n## ", 1) if "\n## " in section else len(section)]
    section = section[: section.find("\n### ", 1) if "\n### " in section[1:] else len(section)]
    for argument in arguments:
        assert f"`{argument}" in section or f"{argument}(" in section
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Called " in doc and ":returns:" in doc and all(f":param {a}:" in doc for a in arguments)


def test_docs_name_what_each_register_callback_takes():
    """The register arguments of each hook (from the host's own implementations) appear in the hooks table."""
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    for hook, registered in {"medigan_register_models": ("card", "loader"),
                             "medigan_register_feature_extractors": ("spec", "loader"),
                             "medigan_register_writers": ("writer",)}.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{hook}("))
        assert all(f"`{name}`" in row for name in registered)


class _NoGenerate:
    pass


class _Latent:
    latent_shape = (4,)

    def generate(self, seeds, *, condition=None, inputs=None):
        return np.zeros((len(seeds), 8, 8, 1), np.uint8)

    def generate_from_latents(self, latents, *, condition=None):
        return np.zeros((len(latents), 8, 8, 1), np.uint8)


class _RaisingLatentShape(_Latent):
    @property
    def latent_shape(self):
        raise RuntimeError("broken plugin property")


def test_the_generator_protocols():
    from medigan_host.protocols import Generator, LatentGenerator, satisfies

    assert satisfies(_Latent(), Generator) and satisfies(_Latent(), LatentGenerator)
    assert not satisfies(_NoGenerate(), Generator)
    assert not satisfies(_RaisingLatentShape(), LatentGenerator)  # a raising property is the plugin's failure
    phantom = medigan_host.load_model("ct-head-phantom")
    assert satisfies(phantom.generator, Generator)


def test_the_host_checks_loaded_generators_against_the_protocols(tmp_path):
    from medigan_host import PluginError, hookimpl, register_plugin, unregister_plugin

    class Plugin:
        @hookimpl
        def medigan_register_models(self, register):
            register(card("protocol-check"), lambda c, d: _NoGenerate())
            register(card("protocol-latent"), lambda c, d: _Latent())
            register(card("protocol-raising"), lambda c, d: _RaisingLatentShape())

    name = register_plugin(Plugin(), name="protocol-plugin")
    try:
        with pytest.raises(PluginError, match="medigan_host.protocols.Generator"):
            medigan_host.load_model("protocol-check")
        assert medigan_host.load_model("protocol-latent").latent_shape == (4,)
        assert medigan_host.load_model("protocol-raising").latent_shape is None
    finally:
        unregister_plugin(name)


def test_medigan_host_import_stays_light():
    """The layout adds no import to `import medigan_host` beyond the core it needs (errors, version)."""
    loaded = {name for name in sys.modules if name.startswith("medigan_host")}
    assert "medigan_host" in loaded
    code = "import sys, medigan_host; print(sorted(m for m in sys.modules if m.startswith('medigan_host')))"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["medigan_host", "medigan_host._version", "medigan_host.errors"]
