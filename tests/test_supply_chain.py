"""Supply chain: no unpickling of untrusted data, weights verified before use, no run-time `pip install`, and no code
from a card is ever run. Planted pickles carry a ``__reduce__`` that would create a marker file if unpickled."""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, card, run_cli
from reliability_log import case

import medigan_host
from medigan_host import FrameworkMissingError, ModelCard, WeightsError, hookimpl
from medigan_host.weights import fetch_weights, model_folder, sha256_of


class Payload:
    """Unpickling this creates ``marker``: proof that code inside a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


# -- 1. the sources: nothing that unpickles, evaluates or installs at run time ---------------------------------------
#: Code that ships and runs: the host (and its ``medigan`` import package), the plugins' packages and the plugin
#: template (training scripts run offline).
SOURCES = [REPO / "medigan_host", REPO / "medigan", *sorted((REPO / "plugins").glob("*/src")), REPO / "cookiecutter-template"]
UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("dill", "load"), ("dill", "loads"),
              ("cloudpickle", "load"), ("cloudpickle", "loads"), ("joblib", "load"), ("marshal", "load"),
              ("marshal", "loads"), ("shelve", "open"), ("yaml", "unsafe_load"), ("jit", "load"), ("pd", "read_pickle"),
              ("pandas", "read_pickle")}
EXECUTORS = {"eval", "exec", "compile", "__import__"}
PROCESS_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "run"), ("subprocess", "Popen"), ("subprocess", "call"),
                 ("subprocess", "check_call"), ("subprocess", "check_output"), ("pip", "main")}


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def problems_in(tree: ast.AST) -> list[str]:
    """Unsafe calls in one module: unpicklers, eval/exec, torch.load without weights_only=True, np.load without
    allow_pickle=False, yaml.load without a safe loader, and processes that run pip."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"line {node.lineno}"
        if isinstance(func, ast.Name) and func.id in EXECUTORS:
            found.append(f"{where}: {func.id}()")
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value.id if isinstance(func.value, ast.Name) else func.value.attr if isinstance(func.value, ast.Attribute) else ""
        pair = (owner, func.attr)
        if pair in UNPICKLERS:
            found.append(f"{where}: {owner}.{func.attr}()")
        if pair == ("torch", "load") and not _is_true(_keyword(node, "weights_only")):
            found.append(f"{where}: torch.load without weights_only=True")
        if func.attr == "load" and owner in ("np", "numpy") and not _is_false(_keyword(node, "allow_pickle")):
            found.append(f"{where}: np.load without allow_pickle=False")
        if any(_is_true(k.value) for k in node.keywords if k.arg in ("allow_pickle", "trust_remote_code")):
            found.append(f"{where}: {func.attr}(..., {next(k.arg for k in node.keywords if _is_true(k.value))}=True)")
        if pair == ("yaml", "load") and "Safe" not in ast.dump(node):
            found.append(f"{where}: yaml.load without SafeLoader")
        if pair in PROCESS_CALLS and re.search(r"\bpip\b|ensurepip|install", ast.dump(node)):
            found.append(f"{where}: {owner}.{func.attr}() running pip/install")
    return found


#: The same checks on text, for template files that are not Python until rendered.
TEXT_PATTERNS = [r"\b(pickle|dill|cloudpickle|marshal)\.(loads?|Unpickler)\b", r"\bjoblib\.load\b", r"\bread_pickle\b",
                 r"\btorch\.load\((?![^)]*weights_only=True)", r"\b(np|numpy)\.load\((?![^)]*allow_pickle=False)",
                 r"(allow_pickle|trust_remote_code)=True", r"(?<![.\w])(eval|exec|compile|__import__)\(",
                 r"\bjit\.load\b", r"\byaml\.(unsafe_)?load\((?![^)]*Safe)", r"[\"']pip[\"'],\s*[\"']install|pip install[^`]*[\"']\s*[,)]"]


def problems_in_text(text: str) -> list[str]:
    return [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for pattern in TEXT_PATTERNS
            for m in re.finditer(pattern, text)]


def python_files() -> list[Path]:
    return sorted(p for root in SOURCES for p in root.rglob("*.py") if "__pycache__" not in p.parts)


#: The one unpickler allowed, and why: TorchScript is read only from a file whose sha256 equals a pinned, known copy of
#: the reference InceptionV3 (``place_reference`` checks the digest before ``_convert_and_store`` and ``feature_check``
#: run), the same trust as any pinned weights file. Anything else found in that module still fails.
PINNED_TORCHSCRIPT = {"medigan_host/evaluation/reference.py": {"_convert_and_store", "feature_check"}}


def _enclosing_functions(tree: ast.AST, lines: set[int]) -> set[str]:
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            and any(node.lineno <= line <= node.end_lineno for line in lines)}


def test_sources_never_unpickle_evaluate_or_install():
    files = python_files()
    assert len(files) > 40 and any("medigan_plugin_dcgan_mammo" in str(p) for p in files)
    report = {}
    for path in files:
        text = path.read_text("utf-8")
        name = path.relative_to(REPO).as_posix()
        try:
            tree = ast.parse(text)
            found = problems_in(tree)
        except SyntaxError:  # a template file with {% cookiecutter %} blocks: check its text instead
            found = problems_in_text(text)
        if name in PINNED_TORCHSCRIPT:
            jit = {int(f.split(":")[0].split()[1]) for f in found if f.endswith(": jit.load()")}
            assert jit and _enclosing_functions(tree, jit) == PINNED_TORCHSCRIPT[name], (name, found)
            found = [f for f in found if not f.endswith(": jit.load()")]
        if found:
            report[name] = found
    assert not report, f"unsafe calls: {report}"
    case("supply chain: source scan", "every .py of the host, the plugins' packages and the plugin template (AST)",
         "no unpickling, eval/exec, unsafe torch.load/np.load/yaml.load, or pip at run time", len(files))


def test_the_scanner_finds_what_it_looks_for():
    bad = """
import pickle, torch, numpy as np, subprocess, yaml
pickle.loads(b"")
torch.load("w.pt")
torch.load("w.pt", weights_only=False)
np.load("x.npy")
np.load("x.npy", allow_pickle=True)
eval("1")
subprocess.run([sys.executable, "-m", "pip", "install", "x"])
yaml.load(text)
torch.jit.load("m.pt")
"""
    every_call = set(range(3, 12))
    assert {int(p.split(":")[0].split()[1]) for p in problems_in(ast.parse(bad))} == every_call
    assert {int(p.split(":")[0].split()[1]) for p in problems_in_text(bad)} == every_call
    good = 'torch.load(f, weights_only=True)\nnp.load(f, allow_pickle=False)\nnet.eval()\nyaml.load(t, Loader=yaml.SafeLoader)\n'
    assert problems_in(ast.parse(good)) == [] and problems_in_text(good) == []
    case("supply chain: source scan", "the scanner itself on 9 known-unsafe calls and 4 safe ones (AST and text)",
         "every unsafe call flagged, no safe one", 2)


# -- 2. planted pickles ------------------------------------------------------------------------------------------------
def _pickled_npy(path: Path, marker: Path) -> Path:
    np.save(path, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    return path


@pytest.mark.parametrize("form", ["object .npy", "raw pickle named .npy", "object .npy in an inputs folder"])
def test_numpy_pickle_given_as_inputs_is_refused(tmp_path, form):
    marker = tmp_path / "pwned"
    if form == "object .npy":
        inputs = _pickled_npy(tmp_path / "evil.npy", marker)
    elif form == "raw pickle named .npy":
        inputs = tmp_path / "evil.npy"
        inputs.write_bytes(pickle.dumps(Payload(marker)))
    else:
        inputs = tmp_path / "folder"
        inputs.mkdir()
        _pickled_npy(inputs / "000.npy", marker)
    result = run_cli("generate", "ct-lowdose-sim", "-o", str(tmp_path / "out"), "--inputs", str(inputs))
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    assert "pickle" in result.stderr.lower() and str(inputs) in result.stderr
    assert not marker.exists()
    case("supply chain: planted pickle", "a pickle with a file-creating __reduce__ given as --inputs "
         "(object .npy, raw pickle, .npy in a folder)", "refused with a clear error; the payload never ran")


def test_tampered_cache_file_with_a_pickle_is_deleted_before_any_loader_sees_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "pwned"
    model = ModelCard.from_dict(card("cached-model", weights={"url": "https://127.0.0.1:9/g.safetensors",
                                                              "sha256": hashlib.sha256(b"the real weights").hexdigest()}))
    planted = model_folder(model) / "g.safetensors"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(WeightsError, match="changed or corrupted on disk, so it was deleted"):
        fetch_weights(model)
    assert not planted.exists() and not marker.exists()
    case("supply chain: tampered cache", "a pickle planted in the weights cache in place of a declared file",
         "sha256 mismatch on load: deleted before any loader, payload never ran")


@pytest.mark.torch
def test_pickle_planted_as_torch_weights_is_refused(tmp_path, monkeypatch):
    """Even a pickle whose sha256 is recorded (an attacker who can write the cache and its records) is refused:
    the PyTorch plugins read weights with safetensors or torch.load(weights_only=True), never with pickle."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    monkeypatch.setenv("MEDIGAN_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save(Payload(marker), evil)
    checked = 0
    try:
        from medigan_plugin_dcgan_mammo import convert
        from medigan_plugin_dcgan_mammo.specs import WEIGHTS_FILE

        from medigan_host.weights import store_weights
    except ImportError:
        pass
    else:
        mammo = medigan_host.get_card("dcgan-mammo-calc-inbreast")
        store_weights(mammo, evil, WEIGHTS_FILE)  # the sha256 record now matches the planted file
        with pytest.raises(WeightsError, match="never unpickles"):
            medigan_host.generate(mammo.id, 1, tmp_path / "out-mammo")
        with pytest.raises(WeightsError, match="refused to load"):
            convert.load_untrusted(evil.read_bytes(), str(evil))
        checked += 2
    try:
        from medigan_plugin_histology_dcgan import torch_model
    except ImportError:
        pass
    else:
        histology = medigan_host.get_card("histology-ihc-dcgan")
        entry = {**histology.weights[0], "url": evil.as_uri(), "sha256": sha256_of(evil), "size": evil.stat().st_size}
        forged = ModelCard.from_dict({**histology.to_dict(), "id": "forged-histology", "weights": [entry]})
        with pytest.raises(WeightsError, match="is not a safetensors file"):  # read as safetensors only, never unpickled
            torch_model.load(forged, "cpu")
        checked += 1
    if not checked:
        pytest.skip("no PyTorch plugin installed")
    assert not marker.exists()
    case("supply chain: planted pickle", "a torch.save pickle with a file-creating __reduce__ as the weights of the "
         "PyTorch plugins (sha256 record forged to match)", "refused by safetensors / weights_only=True; payload never ran",
         checked)


# -- 3. nothing installs, nothing from a card runs ---------------------------------------------------------------------
class _CodeCard:
    """A plugin whose card carries code in every free-text place; none of it may ever run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    @hookimpl
    def medigan_register_models(self, register):
        code = f"__import__('pathlib').Path({str(self.marker)!r}).touch()"
        register(card("code-card", framework="tensorflow", description=code, citation=code,
                      conditions={"mode": [code]}, execution={"package_name": code, "generate_method": code},
                      loader=code, tags=[code]), "medigan_test_missing_module:load")


def test_no_process_starts_and_no_card_code_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # a stand-in another test may have left behind
    medigan_host.register_plugin(_CodeCard(marker), "code-card")
    started: list[str] = []

    def refuse(*args, **kwargs):
        started.append(repr(args)[:200])
        raise AssertionError(f"a process was started: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(os, "system", refuse)
    medigan_host.get_card("code-card").to_dict()
    assert "code-card" in [hit.entry.id for hit in medigan_host.search_models("pathlib touch")]
    code_value = medigan_host.get_card("code-card").conditions["mode"][0]
    with pytest.raises(medigan_host.MediganError) as info:  # tensorflow missing, or else the loader's module
        medigan_host.generate("code-card", 1, tmp_path / "out", condition={"mode": code_value})
    assert isinstance(info.value, FrameworkMissingError) and "pip install" in str(info.value) or _have("tensorflow")
    from medigan_host.compat import Generators

    with pytest.raises(medigan_host.MediganError, match="pip install"):
        Generators().generate("code-card", 1, install_dependencies=True)
    assert not started and not marker.exists()
    case("supply chain: no install, no card code", "a card with code in its text fields, an unknown framework "
         "(tensorflow missing) and install_dependencies=True", "nothing ran, no process started; errors name the pip command")


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_listing_runs_no_process(site):
    result = subprocess.run([sys.executable, "-c", (
        "import subprocess, os, sys\n"
        "def refuse(*a, **k): raise SystemExit('process started: %r' % (a,))\n"
        "subprocess.Popen.__init__ = refuse; os.system = refuse\n"
        "from medigan_host.cli import main\n"
        "for args in (['list'], ['plugins'], ['info', 'ct-head-phantom'], ['search', 'ct'], ['cache', 'list']):\n"
        "    try:\n        main(args)\n    except SystemExit as e:\n        assert not e.code, e.code\n")],
        capture_output=True, text=True, env=site.env(), timeout=120)
    assert result.returncode == 0, result.stderr
    case("supply chain: no install, no card code", "list, plugins, info, search and cache list with process creation "
         "disabled", "no process started", 5)
