"""Every shell example in the README, docs/ and the plugin READMEs runs as written, unless it needs the network,
installs packages, names a placeholder, or needs a model or framework this environment lacks (then it is skipped,
saying which). Examples run in order, one working folder per document, with the files the docs assume the reader
has (``real/``: a folder of real images; ``slices.npy``: CT slices); nothing is written outside ``tmp_path``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "plugins").glob("*/README.md"))]
_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)

#: Why an example is not run, by what it starts with (after environment assignments).
NOT_RUN = {
    "pip": "installs packages", "python3 -m venv": "creates an environment and installs packages",
    "python3 -m pip": "installs packages", "python -m nox": "runs the whole test suite", "python3 -m nox": "runs the whole test suite",
    "bash .ci/run": "runs the whole test suite",
    "cd ": "changes folder for the lines after it, which are not run here", "pytest": "runs a plugin project's own tests after its install",
    "python benchmarks/": "a benchmark that runs for minutes", "python plugins/": "trains or evaluates a model for minutes",
    "python training/": "trains or evaluates a model for minutes",
    "python -m medigan_plugin_dcgan_mammo.convert": "converts a checkpoint you download from Zenodo (network)",
    "medigan env create": "builds a model's environment, installing packages (network)",
    "medigan env check": "needs the environment that `medigan env create` builds",
    "medigan serve": "starts a server that runs until it is stopped (tests/test_serve*.py start it)",
}
#: Words that stand for something the reader fills in.
PLACEHOLDERS = re.compile(r"\b(MODEL|DIR|PATH|DOWNLOADED)\b|s3://|my-models|\.\.\.|…")
#: Examples that need the network in this environment.
NETWORK = {
    "inception-v3-fid": "downloads the InceptionV3 FID weights (network)",
    "medigan generate 1 ": "needs the published checkpoint of 00001, converted once (network)",
}
#: Interactive commands: answered with the defaults (Enter to every question).
INTERACTIVE = ("medigan new",)


@dataclass(frozen=True)
class Example:
    document: Path
    line: int
    command: str
    after_cd: str = ""

    @property
    def id(self) -> str:
        return f"{self.document.relative_to(REPO).as_posix()}:{self.line}"


def examples() -> list[Example]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for block in _BLOCK.finditer(text):
            first = text.count("\n", 0, block.start(1)) + 1
            pending, start, moved = "", 0, False
            for offset, raw in enumerate(block.group(1).splitlines()):
                if not pending:
                    start = first + offset
                pending += raw.rstrip()
                if pending.endswith("\\"):
                    pending = pending[:-1] + " "
                    continue
                command = _strip_comment(pending).strip()
                pending = ""
                if command:
                    found.append(Example(document, start, command, "runs in the project that the skipped lines above "
                                                                   "installed and changed into" if moved else ""))
                    moved = moved or command.startswith("cd ")
    return found


def _strip_comment(line: str) -> str:
    """The command without a trailing `# comment` (a # inside quotes, or inside a word, is kept)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _why_not_run(command: str) -> str | None:
    body = re.sub(r"^(\w+=\S*\s+)+", "", command)
    for prefix, why in NOT_RUN.items():
        if body.startswith(prefix):
            return why
    for word, why in NETWORK.items():
        if word in command:
            return why
    if re.search(r"~/Downloads/", command):
        return "places a file the reader downloaded (network)"
    if PLACEHOLDERS.search(command):
        return "names a placeholder the reader fills in"
    if " --engine ray" in command:
        return "starts Ray (the ray session tests it)"
    return None


def _missing(command: str) -> str | None:
    """What this environment lacks for the models the command names (a plugin, a framework, weights from the
    network), or None."""
    from medigan_host.errors import MediganError
    from medigan_host.frameworks import FRAMEWORK_PACKAGES
    from medigan_host.plugins import get_host

    catalog = get_host().catalog
    for model in _named_models(command):
        try:
            card = catalog.get(model).card
        except (MediganError, LookupError):
            return f"needs the model {model!r}, whose plugin is not installed here"
        module = FRAMEWORK_PACKAGES.get(card.framework, (None,))[0]
        if module and importlib.util.find_spec(module) is None:
            return f"needs {card.framework} for {model!r}, not installed here"
        remote = [e["filename"] for e in card.weights
                  if "doi" in e or "hf" in e or urlsplit(e.get("url", "")).scheme in ("http", "https")]
        if remote and command.split()[1] in _LOADING:
            return f"downloads the weights of {card.id} ({remote[0]}; network)"
    if command.startswith(("medigan show", "medigan gallery")) and importlib.util.find_spec("matplotlib") is None:
        return "needs matplotlib (the viz extra)"
    if command.startswith("medigan new") and importlib.util.find_spec("cookiecutter") is None:
        return "needs cookiecutter (the new extra)"
    return None


#: Commands that load a model (and so need its weights); the others read cards only.
_LOADING = ("generate", "show", "gallery", "evaluate", "fetch", "study")


def _named_models(command: str) -> list[str]:
    """The models a `medigan` command names: its MODEL argument (commands that take one) and `--models` lists."""
    words = shlex.split(command)
    if len(words) < 2 or words[0] != "medigan" or words[1] not in (*_LOADING, "info", "interpolate"):
        return []
    named = [words[2]] if len(words) > 2 and not words[2].startswith("-") and words[1] != "study" else []
    named += [value for option, value in zip(words, words[1:], strict=False) if option == "--models"]
    return [model for word in named for model in word.split(",") if model]


EXAMPLES = examples()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One working folder per document (examples in a document build on each other), and a private weights cache."""
    cache = tmp_path_factory.mktemp("cache")
    made: dict[Path, Path] = {}

    def folder(document: Path) -> Path:
        if document not in made:
            made[document] = tmp_path_factory.mktemp(document.stem.lower())
            (made[document] / "home").mkdir()
            writes = " ".join(e.command + " " for e in EXAMPLES if e.document == document and not e.after_cd
                              and _why_not_run(e.command) is None)
            _reader_files(made[document], writes)
        return made[document]

    folder.cache = cache  # type: ignore[attr-defined]
    return folder


def _reader_files(folder: Path, writes: str) -> None:
    """What the docs assume the reader has: real images in real/ (PNG files), CT slices in slices.npy, and a run in
    synthetic/ (of the breast phantom, like the real images; the README's quick start writes one there). A folder
    that the document's own run examples write (``-o real/`` in ``writes``) is left for them to make."""
    import numpy as np

    import medigan_host as mg
    from medigan_host.formats.writers import png_bytes, to_uint

    if not re.search(r"-o real/?\s", writes):
        (folder / "real").mkdir()
        for batch in mg.generate("mammo-breast-phantom", 24, seed=99, batch_size=24):
            for i, image in enumerate(batch.images):
                (folder / "real" / f"real_{i:03d}.png").write_bytes(png_bytes(to_uint(image, 8)))
    slices = next(iter(mg.generate("ct-head-phantom", 16, seed=5, batch_size=16))).images
    np.save(folder / "slices.npy", slices)
    if not re.search(r"-o synthetic/?\s", writes):
        mg.generate("mammo-breast-phantom", 24, folder / "synthetic", seed=1)


def test_the_examples_are_found():
    assert EXAMPLES[0].document.name == "README.md" and "--resume" in EXAMPLES[0].command
    runnable = [e for e in EXAMPLES if not e.after_cd and _why_not_run(e.command) is None]
    assert len(runnable) >= 25 and {e.document.name for e in runnable} >= {"README.md", "formats.md", "search.md"}


def test_the_quick_start_can_be_run_twice(tmp_path):
    """The README's first command, after its install: a second run leaves the finished run as it is (exit 0)."""
    first_line = EXAMPLES[0].command
    generate = next(part.strip() for part in first_line.split("&&") if part.strip().startswith("medigan generate"))
    why = _missing(generate)
    if why:
        pytest.skip(why)
    for _ in range(2):
        done = _run(generate, tmp_path, tmp_path / "cache")
        assert done.returncode == 0, done.stdout + done.stderr
    assert len(list((tmp_path / "synthetic" / "images").glob("*.png"))) == 16
    assert "/synthetic/" in (REPO / ".gitignore").read_text().splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_runs_as_written(example, folders):
    why = example.after_cd or _why_not_run(example.command) or _missing(example.command)
    if why:
        pytest.skip(f"{example.command[:60]}: {why}")
    folder = folders(example.document)
    done = _run(example.command, folder, folders.cache,
                stdin="\n" * 30 if example.command.startswith(INTERACTIVE) else None)
    assert done.returncode == 0, f"{example.id}: {example.command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr


def _run(command: str, cwd: Path, cache: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    (cwd / "home").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MEDIGAN_PLUGINS", "DISPLAY", "WAYLAND_DISPLAY")}
    # a home of its own: examples that write to ~/src or read ~/.config write nothing outside the test's folder
    env.update({"HOME": str(cwd / "home"), "MEDIGAN_CACHE_DIR": str(cache), "MEDIGAN_OFFLINE": "1", "MPLBACKEND": "Agg",
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])})
    return subprocess.run(command, shell=True, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=600,
                          executable="/bin/bash")
