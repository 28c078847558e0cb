"""`--engine ray --address`: a run joins a Ray cluster that is already running, and leaves it running.

A module of its own: the cluster here is started by another process, while `test_distributed.py` runs Ray inside
the test process.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_distributed import MODEL, assert_same_run, manifest

import medigan_host

#: A Ray head in its own process: prints its address, then keeps the cluster up until its stdin closes.
HEAD = textwrap.dedent("""
    import sys
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    print(ray.get_runtime_context().gcs_address, flush=True)
    sys.stdin.read()
    ray.shutdown()
""")


@pytest.fixture(scope="module")
def cluster():
    """(address, environment of a client that holds the cluster's token): token authentication, as docs/performance.md
    recommends for a shared cluster."""
    pytest.importorskip("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        yield address, env
    finally:
        head.stdin.close()  # the head shuts its cluster down and exits
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()


@pytest.mark.ray
@pytest.mark.slow
def test_run_joins_an_existing_cluster_and_leaves_it_running(cluster, tmp_path):
    cluster_address, env = cluster
    medigan_host.generate(MODEL, 23, tmp_path / "local", seed=4, batch_size=4)
    command = [sys.executable, "-m", "medigan_host", "generate", MODEL, "-n", "23", "-o", str(tmp_path / "run"), "--seed",
               "4", "--batch-size", "4", "--engine", "ray", "--address", cluster_address, "--workers", "2"]
    for _ in range(2):  # the second run finds the cluster still there (the first did not stop it)
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr
        assert_same_run(tmp_path / "run", tmp_path / "local")
        assert manifest(tmp_path / "run") == manifest(tmp_path / "local")
        command += ["--overwrite"]


@pytest.mark.ray
def test_unreachable_address_is_a_clear_error(tmp_path):
    pytest.importorskip("ray")
    done = subprocess.run([sys.executable, "-m", "medigan_host", "generate", MODEL, "-n", "2", "-o", str(tmp_path / "run"),
                           "--engine", "ray", "--address", "127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "cannot connect to the Ray cluster at '127.0.0.1:9': nothing answers" in done.stderr
    assert "Traceback" not in done.stderr
    assert not Path(tmp_path / "run" / "manifest.jsonl").exists()
