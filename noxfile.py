"""Test sessions. `python3 -m nox` runs every session in `nox.options.sessions`; `nox -l` lists them.

Each framework gets its own environment, as users install them: the host and the phantoms never need a framework.
Tests that need a framework carry the pytest marker of the same name (`torch`, `tensorflow`, `onnx`) and skip
when it is not installed.
"""

from __future__ import annotations

import nox

#: A framework session joins this list once it has tests (pytest exits 5, a failure, when a session selects none).
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

PHANTOMS = "./plugins/medigan-plugin-phantoms"
TEST_DEPS = ["pytest>=8", "pillow>=10"]
#: The CPU wheel of torch; any other spec pulls a multi-GB CUDA build.
TORCH_PIN = "torch==2.13.0"
TENSORFLOW_PIN = "tensorflow-cpu>=2.16"
ONNXRUNTIME_PIN = "onnxruntime>=1.17"

#: Plugins and test folders per framework session (each plugin's own tests live in plugins/<name>/tests).
TORCH_PLUGINS: list[str] = []
TENSORFLOW_PLUGINS: list[str] = []
ONNX_PLUGINS: list[str] = []


def _plugin_tests(plugins: list[str]) -> list[str]:
    return [f"{p}/tests" for p in plugins]


@nox.session
def tests(session: nox.Session) -> None:
    """The host and the embedded phantoms plugin, installed as a user would (no framework)."""
    session.install(".", PHANTOMS, *TEST_DEPS)
    session.run("pytest", "tests", f"{PHANTOMS}/tests", *session.posargs)


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
def tensorflow(session: nox.Session) -> None:
    """TensorFlow/Keras plugins and the host's tf.data pipeline."""
    session.env.update({"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"})
    _framework_session(session, [TENSORFLOW_PIN], TENSORFLOW_PLUGINS, "tensorflow")


@nox.session
def onnx(session: nox.Session) -> None:
    """ONNX plugins on onnxruntime alone: no torch, no tensorflow."""
    _framework_session(session, [ONNXRUNTIME_PIN], ONNX_PLUGINS, "onnx")
    session.run("python", "-c", "import importlib.util as u, sys; sys.exit(bool(u.find_spec('torch') or u.find_spec('tensorflow')))")
