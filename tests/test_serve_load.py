"""`medigan serve` under load on 127.0.0.1: 20 concurrent clients, bounded in requests and time.

Every client searches, reads a card, asks once for more samples than the server allows (refused: 400), starts a run
(retrying while the server is at --max-runs: 429), follows it, and checks every file against the manifest and the
ZIP. No request may fail beyond those configured limits, and no sample may be lost or written twice."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from collections import Counter

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from serving import Server  # noqa: E402
from test_serve import PLUGIN  # noqa: E402

pytestmark = pytest.mark.slow

CLIENTS = 20
SAMPLES = 5
MAX_RUNS = 4
MAX_SAMPLES = 64
#: The most requests one client may send, and the seconds the whole test may take.
MAX_REQUESTS = 120
DEADLINE = 180.0


def _client(url: str, number: int, log: list, errors: list, runs: dict, deadline: float) -> None:
    sent = 0

    def call(method: str, path: str, kind: str, **kwargs):
        nonlocal sent
        sent += 1
        assert sent <= MAX_REQUESTS, f"client {number} sent more than {MAX_REQUESTS} requests"
        response = http.request(method, path, **kwargs)
        log.append((kind, response.status_code))
        return response

    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            assert call("GET", "/api/models", "search", params={"q": "model", "modality": "ct"}).status_code == 200
            assert call("GET", "/api/models/fast-model", "card").json()["id"] == "fast-model"
            too_many = call("POST", "/api/runs", "over-limit", json={"model": "fast-model", "num_samples": MAX_SAMPLES + 1})
            assert too_many.status_code == 400 and "more than this server allows" in too_many.json()["error"]
            body = {"model": "fast-model", "num_samples": SAMPLES, "seed": number, "batch_size": 2}
            while True:
                started = call("POST", "/api/runs", "start", json=body)
                if started.status_code != 429:
                    break
                assert time.monotonic() < deadline, "no run slot came free in time"
                time.sleep(0.2 + 0.02 * number)
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]
            while (run := call("GET", f"/api/runs/{run_id}", "follow").json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, run
                time.sleep(0.25)
            assert run["status"] == "done", run
            records = call("GET", f"/api/runs/{run_id}/manifest", "manifest").json()["records"]
            for record in records:
                data = call("GET", f"/api/runs/{run_id}/files/{record['files']['image']}", "file").content
                assert hashlib.sha256(data).hexdigest() == record["sha256"]["image"]
            archive = call("GET", f"/api/runs/{run_id}/zip", "zip").content
            with zipfile.ZipFile(io.BytesIO(archive)) as z:
                images = sorted(n for n in z.namelist() if "/images/" in n)
            runs[number] = (run_id, [r["index"] for r in records], [r["seed"] for r in records], len(images))
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(f"client {number}: {type(exc).__name__}: {exc}")


def test_twenty_concurrent_clients(tmp_path, site):
    site.add("servetest", PLUGIN)
    started = time.monotonic()
    deadline = started + DEADLINE
    log: list = []
    errors: list = []
    runs: dict = {}
    with Server(tmp_path / "runs", "--max-runs", str(MAX_RUNS), "--max-samples", str(MAX_SAMPLES),
                env=site.env(MEDIGAN_TEST_DELAY="0")) as server:
        threads = [threading.Thread(target=_client, args=(server.url, i, log, errors, runs, deadline)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(1.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "clients still running at the deadline"
        listed = httpx.get(server.url + "/api/runs").json()["runs"]
    assert errors == []
    statuses = Counter(log)
    allowed = {("search", 200), ("card", 200), ("over-limit", 400), ("start", 202), ("start", 429), ("follow", 200),
               ("manifest", 200), ("file", 200), ("zip", 200)}
    assert set(statuses) <= allowed, statuses
    assert statuses[("start", 202)] == CLIENTS and statuses[("over-limit", 400)] == CLIENTS
    # every run: its own folder, exactly its samples, once each
    assert len(runs) == CLIENTS and len({run_id for run_id, *_ in runs.values()}) == CLIENTS
    for run_id, indices, _seeds, zipped in runs.values():
        assert indices == list(range(SAMPLES)) and zipped == SAMPLES
        lines = (tmp_path / "runs" / run_id / "output" / "manifest.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["index"] for line in lines) == list(range(SAMPLES))
    assert sorted(r["id"] for r in listed) == sorted(run_id for run_id, *_ in runs.values())
    assert all(r["status"] == "done" and r["done"] == SAMPLES for r in listed)
    assert time.monotonic() - started < DEADLINE
