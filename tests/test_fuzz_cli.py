"""Property-based fuzzing of the command line: any arguments end in exit 0, 1 (run-time failure) or 2 (usage
error) with a message, never a traceback; nothing is written outside the output folder asked for."""

from __future__ import annotations

import itertools
import pickle
import string
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_log import case, fuzz_examples

from medigan_host.cli import cli

FUZZ = settings(max_examples=fuzz_examples(), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_counter = itertools.count()

JUNK_TEXT = st.sampled_from(["", " ", "-", "--", "-1", "0", "1e9", "nan", "../x", "/", "\x00", "é", "a=b", "=", "x" * 200,
                             "ct-head-phantom", "1", "99", "png", "npy", "cpu", "cuda", "cuda:7", "mps", "fid"]) | st.text(max_size=8)
MODELS = st.sampled_from(["ct-head-phantom", "mammo-breast-phantom", "ct-lowdose-sim", "mri-brain-phantom-3d", "2"]) | JUNK_TEXT


class _Planted:
    """Unpickling this would create a marker file: the CLI must never unpickle inputs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Inputs files a user might pass: valid, garbage, pickled, empty."""
    root = tmp_path_factory.mktemp("cli-inputs")
    out = {"valid.npy": root / "valid.npy", "garbage.npy": root / "garbage.npy", "pickle.npy": root / "pickle.npy",
           "empty": root / "empty", "garbage.png": root / "pngs" / "garbage.png", "missing": root / "missing.npy"}
    np.save(out["valid.npy"], np.random.default_rng(0).random((2, 64, 64, 1), dtype=np.float32))
    out["garbage.npy"].write_bytes(b"\x93NUMPY garbage")
    out["pickle.npy"].write_bytes(pickle.dumps(_Planted(root / "pwned")))
    out["empty"].mkdir()
    out["garbage.png"].parent.mkdir()
    out["garbage.png"].write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out["marker"] = root / "pwned"
    return out


@st.composite
def generate_args(draw, files: dict[str, Path], out_root: Path) -> list[str]:
    args = ["generate", draw(MODELS), "-o", str(out_root / f"out{next(_counter)}" / draw(st.text(string.ascii_lowercase, max_size=4)))]
    options = {
        "-n": st.integers(-2, 4).map(str) | JUNK_TEXT, "--seed": st.integers(-5, 2**64).map(str) | JUNK_TEXT,
        "--batch-size": st.integers(-1, 5).map(str) | JUNK_TEXT, "--format": st.sampled_from(["png", "png16", "npy", "gif"]) | JUNK_TEXT,
        "--condition": st.sampled_from(["density=c", "lesion=present", "density", "=c", "dose=0.25"]) | JUNK_TEXT,
        "--inputs": st.sampled_from(["valid.npy", "garbage.npy", "pickle.npy", "empty", "garbage.png", "missing"]),
        "--device": st.sampled_from(["cpu", "auto", "cuda", "cuda:3", "mps", "tpu"]) | JUNK_TEXT,
    }
    for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=5, unique=True)):
        value = draw(options[name])
        if name == "--inputs":
            value = str(files[value] if value != "garbage.png" else files[value].parent)
        args += [name, value]
    args += draw(st.lists(st.sampled_from(["--resume", "--overwrite", "--json"]), max_size=2, unique=True))
    return args


OTHER_COMMANDS = st.one_of(
    st.tuples(st.just("info"), MODELS).map(list),
    st.tuples(st.just("search"), JUNK_TEXT, st.sampled_from(["--modality", "--tag", "--limit"]), JUNK_TEXT).map(list),
    st.tuples(st.just("rank"), st.just("--metric"), JUNK_TEXT, st.sampled_from(["--order", "--framework"]), JUNK_TEXT).map(list),
    st.tuples(st.just("fetch"), MODELS).map(list),
    st.tuples(st.just("cache"), st.just("clear"), MODELS).map(list),
    st.lists(st.sampled_from(["list", "plugins", "--json", "--version", "-h", "cache", "nonsense", "--bogus"]), min_size=1, max_size=3),
)


@FUZZ
@given(data=st.data())
def test_any_arguments_end_in_a_message_and_exit_0_1_or_2(files, tmp_path_factory, data):
    out_root = tmp_path_factory.getbasetemp() / "cli-out"
    args = data.draw(generate_args(files, out_root) | OTHER_COMMANDS, label="args")
    env = {"MEDIGAN_CACHE_DIR": str(out_root / "cache"), "MEDIGAN_OFFLINE": "1"}
    result = CliRunner().invoke(cli, args, env=env, prog_name="medigan")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"medigan {args!r} raised {result.exception!r}") from result.exception
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code:
        assert result.output.strip(), f"medigan {args!r} failed without saying why"
    assert not files["marker"].exists(), "an inputs file was unpickled"
    written = [p for p in out_root.rglob("*") if p.is_file()] if out_root.exists() else []
    assert all(p.is_relative_to(out_root) for p in written)
    case("bad input: CLI arguments", "random subcommands, options and values (generate, info, search, rank, fetch, cache)",
         f"exit {result.exit_code} with a message, no traceback" if result.exit_code else "exit 0")
