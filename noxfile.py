"""Test sessions. `python3 -m nox` runs every session in `nox.options.sessions`; `nox -l` lists them.

Each framework gets its own environment, as users install them: the host and the phantoms never need a framework.
Tests that need a framework carry the pytest marker of the same name (`torch`, `tensorflow`, `onnx`) and skip
when it is not installed.
"""

from __future__ import annotations

import nox

#: A framework session joins this list once it has tests (pytest exits 5, a failure, when a session selects none).
nox.options.sessions = ["tests", "lint", "torch", "template", "onnx", "tensorflow", "ray", "reliability", "hub"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

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
                             "./plugins/medigan-plugin-histology-dcgan[torch,training]", f"{ORIGINAL}[test]"]
TENSORFLOW_PLUGINS: list[str] = ["./plugins/medigan-plugin-cdcgan-histology"]
ONNX_PLUGINS: list[str] = ["./plugins/medigan-plugin-onnx", "./plugins/medigan-plugin-histology-dcgan"]
#: Builds the small test graphs of the ONNX plugin's tests (no torch, no tensorflow).
ONNX_PIN = "onnx>=1.15"
#: The ray session: the default model (ONNX) runs on Ray workers beside the phantoms.
RAY_PLUGINS: list[str] = ["./plugins/medigan-plugin-onnx", "./plugins/medigan-plugin-histology-dcgan"]

#: The hub session: MONAI model-zoo bundles and Hugging Face Hub pipelines on the torch pin, against the fake servers.
HUB_PLUGINS: list[str] = ["./plugins/medigan-plugin-monai[test]", "./plugins/medigan-plugin-diffusers[test]"]


def _plugin_tests(plugins: list[str]) -> list[str]:
    return [f"{p.split('[')[0]}/tests" for p in plugins]  # "./plugins/x[torch]" -> "./plugins/x/tests"


@nox.session
def tests(session: nox.Session) -> None:
    """The host and the embedded phantoms plugin, installed as a user would (no framework; huggingface_hub for the
    Hub weights source)."""
    session.install(".[hub]", PHANTOMS, ORIGINAL, *TEST_DEPS)
    session.run("lint-imports")  # the layer contracts of pyproject.toml [tool.importlinter]
    session.run("pytest", "tests", f"{PHANTOMS}/tests", *session.posargs)
    # its own run: its conftest.py and the host's tests/conftest.py (imported by name) cannot share one process
    session.run("pytest", f"{ORIGINAL}/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the host, the plugins, the tests and the benchmarks."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".", *session.posargs)


def _framework_session(session: nox.Session, pins: list[str], plugins: list[str], marker: str) -> None:
    session.install(*pins)  # first, so nothing else picks another build of the framework
    session.install(".", PHANTOMS, *plugins, *TEST_DEPS, *pins)
    session.run("pytest", "-m", marker, "tests", *session.posargs)
    if plugins:
        session.run("pytest", *_plugin_tests(plugins), *session.posargs)


@nox.session
def torch(session: nox.Session) -> None:
    """PyTorch plugins and the host's torch pipelines, with the CPU build of torch."""
    _framework_session(session, [TORCH_PIN], TORCH_PLUGINS, "torch")


@nox.session
def hub(session: nox.Session) -> None:
    """The MONAI and diffusers plugins and the Hub weights source, with the CPU build of torch (pinned first)."""
    session.install(TORCH_PIN)  # first, so monai and diffusers do not pick another build of torch
    session.install(".[hub,interop]", PHANTOMS, *HUB_PLUGINS, *TEST_DEPS, TORCH_PIN)
    session.run("pytest", "tests/test_weights_hub.py", "tests/test_card_export.py", "tests/test_interop_readers.py",
                *_plugin_tests(HUB_PLUGINS), *session.posargs)


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
    """Distributed generation on a local Ray instance (started once per test module), to folders and fsspec URLs."""
    session.install(".[ray]", PHANTOMS, *RAY_PLUGINS, ONNXRUNTIME_PIN, *TEST_DEPS)
    session.run("pytest", "-m", "ray", "tests", *session.posargs)


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
    for group, (pins, variants) in TEMPLATE_VARIANTS.items():
        venv = root / f"venv-{group}"
        python = str(venv / scripts / "python")
        session.run("python", "-m", "venv", str(venv))
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
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
