"""`medigan serve`: every API endpoint, the token, the limits, remote-code refusal, path tricks, and a server killed
mid-run that completes the run on restart, byte-identical to an uninterrupted one."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from medigan_host.serve.app import create_app  # noqa: E402
from medigan_host.serve.config import ServeConfig  # noqa: E402

TOKEN = "s3cret-token-for-tests-0123"

#: Fast models, a slow one (sleeps per batch, so a run can be cancelled or killed half-way) and a remote-code one.
PLUGIN = '''
import os, time
import numpy as np
from medigan_host import hookimpl, latents

def card(model_id, **extra):
    return {"id": model_id, "name": model_id, "version": "1.0.0", "description": "a test model", "framework": "numpy",
            "modality": "ct", "image_size": [16, 16], "channels": 1, "license": "MIT", **extra}

class Gen:
    def __init__(self, card):
        self.card = card
    def generate(self, seeds, *, condition=None, inputs=None):
        if self.card.id == "slow-model":
            time.sleep(float(os.environ.get("MEDIGAN_TEST_DELAY", "0.3")))
        z = latents(seeds, 16 * 16)
        return {"images": (1 / (1 + np.exp(-z))).reshape(len(seeds), 16, 16, 1).astype(np.float32)}

def load(card, device):
    return Gen(card)

@hookimpl
def medigan_register_models(register):
    register(card("fast-model", conditions={"lesion": ["absent", "present"]}), load)
    register(card("slow-model"), load)
    register(card("remote-model", remote_code=True, remote_code_source="https://example.org/record/1 (model.py)"), load)
'''


@pytest.fixture
def models(site, host):
    site.add("servetest", PLUGIN)
    host()
    return site


def client(tmp_path: Path, **options) -> TestClient:
    config = ServeConfig.checked(tmp_path / "runs", **options)
    return TestClient(create_app(config), base_url="http://127.0.0.1:8000")


def wait(c: TestClient, run_id: str, timeout: float = 60, **headers) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = c.get(f"/api/runs/{run_id}", headers=headers).json()
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def without_times(manifest: bytes) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in manifest.decode().splitlines()]


# ---------------------------------------------------------------------------------------------------- the API


def test_server_openapi_and_every_route_described(tmp_path):
    with client(tmp_path) as c:
        server = c.get("/api/server").json()
        assert server["limits"]["max_samples"] == 1000 and server["trust_remote_code"] is False
        assert server["token_required"] is False and server["engine"] == "local"
        document = c.get("/api/openapi.json").json()
        assert document["openapi"].startswith("3.1")
        routes = {(route.path, method.lower()) for route in c.app.app.routes for method in route.methods - {"HEAD"}
                  if route.path.startswith("/api/")}
        described = {(path.replace("{path}", "{path:path}").replace("{index}", "{index:int}"), method)
                     for path, item in document["paths"].items() for method in item}
        assert routes == described


def test_page_and_static_files(tmp_path):
    with client(tmp_path) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "://" not in page.text.replace("http://www.w3.org", "")  # nothing from another site
        for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")):
            response = c.get(f"/static/{name}")
            assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
            assert "://" not in response.text.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace is a name
        for path in ("/static/", "/static/../app.py", "/static/index.html", "/static/..%2fapp.py", "/static/app.py"):
            assert c.get(path).status_code == 404, path  # no directory listing, no other file


def test_models_search_filters_and_card(tmp_path, models):
    with client(tmp_path) as c:
        everything = c.get("/api/models").json()
        ids = [m["id"] for m in everything["results"]]
        assert {"fast-model", "slow-model", "remote-model", "ct-head-phantom"} <= set(ids)
        assert everything["total"] == len(ids) and "ct" in everything["facets"]["modality"]
        found = c.get("/api/models", params={"q": "head", "modality": "ct"}).json()
        assert found["results"][0]["id"] == "ct-head-phantom"
        assert all(m["modality"] == "ct" for m in found["results"])
        numpy_only = c.get("/api/models", params=[("framework", "numpy"), ("outputs", "image+mask")]).json()["results"]
        assert numpy_only and all(m["framework"] == "numpy" and m["outputs"] == "image+mask" for m in numpy_only)
        assert c.get("/api/models", params={"conditional": "true"}).json()["results"]
        for bad in ({"framework": "fortran"}, {"colour": "red"}, {"conditional": "maybe"}, {"limit": "0"}):
            response = c.get("/api/models", params=bad)
            assert response.status_code == 400 and response.json()["error"], bad
        card = c.get("/api/models/fast-model").json()
        assert card["card"]["id"] == "fast-model" and "png" in card["formats"] and card["default_format"] == "png"
        assert card["runnable"] is True and card["needs_inputs"] is False
        remote = c.get("/api/models/remote-model").json()
        assert remote["runnable"] is False and "--trust-remote-code" in remote["refused"]
        missing = c.get("/api/models/fast-modle")
        assert missing.status_code == 404 and "fast-model" in missing.json()["error"]


def test_grid_png(tmp_path, models):
    with client(tmp_path) as c:
        grid = c.get("/api/models/fast-model/grid.png", params={"n": 4, "seed": 2})
        assert grid.status_code == 200 and grid.headers["content-type"] == "image/png" and grid.content[:4] == b"\x89PNG"
        assert c.get("/api/models/fast-model/grid.png", params={"n": 4, "seed": 2}).content == grid.content
        assert c.get("/api/models/fast-model/grid.png", params={"n": 99}).status_code == 400
        assert c.get("/api/models/remote-model/grid.png").status_code == 403
        assert c.get("/api/models/ct-lowdose-sim/grid.png").status_code == 400  # image-to-image: no grid without inputs


def test_run_lifecycle_files_manifest_zip_and_events(tmp_path, models):
    with client(tmp_path) as c:
        started = c.post("/api/runs", json={"model": "fast-model", "num_samples": 6, "seed": 5, "condition": {"lesion": "present"},
                                            "batch_size": 4})
        assert started.status_code == 202, started.text
        run = started.json()
        assert started.headers["location"] == f"/api/runs/{run['id']}"
        events = c.get(f"/api/runs/{run['id']}/events")
        assert events.headers["content-type"].startswith("text/event-stream")
        states = [json.loads(line[6:]) for line in events.text.splitlines() if line.startswith("data: ")]
        assert states[-1]["status"] == "done" and states[-1]["done"] == 6
        done = wait(c, run["id"])
        assert done["status"] == "done" and done["result"]["generated"] == 6
        assert c.get("/api/runs").json()["runs"][0]["id"] == run["id"]
        folder = Path(done["folder"])
        assert folder == (tmp_path / "runs" / run["id"] / "output").resolve()

        records = c.get(f"/api/runs/{run['id']}/manifest").json()["records"]
        assert [r["index"] for r in records] == list(range(6))
        assert {r["condition"]["lesion"] for r in records} == {"present"}
        files = c.get(f"/api/runs/{run['id']}/files").json()["files"]
        paths = {f["path"]: f for f in files}
        assert set(paths) == {"run.json", "manifest.jsonl", "metadata.jsonl", *(f"images/{i:06d}.png" for i in range(6))}
        for record in records:
            image = c.get(f"/api/runs/{run['id']}/files/{record['files']['image']}")
            assert image.headers["content-type"] == "image/png"
            assert hashlib.sha256(image.content).hexdigest() == record["sha256"]["image"]
            preview = c.get(f"/api/runs/{run['id']}/preview/{record['index']}.png")
            assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG"
        assert c.get(f"/api/runs/{run['id']}/files/manifest.jsonl").headers["content-type"] == "application/jsonl"
        assert c.get(f"/api/runs/{run['id']}/files/run.json").json()["model"] == "fast-model"
        assert c.get(f"/api/runs/{run['id']}/preview/99.png").status_code == 404

        archive = c.get(f"/api/runs/{run['id']}/zip")
        assert archive.headers["content-type"] == "application/zip"
        assert f"medigan-run-{run['id']}.zip" in archive.headers["content-disposition"]
        with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
            assert z.testzip() is None
            assert {name.split("/", 1)[1] for name in z.namelist()} == set(paths)
            for rel in paths:
                assert z.read(f"{run['id']}/{rel}") == (folder / rel).read_bytes()

        # the same run as `medigan generate` writes it
        from medigan_host.cli import cli

        out = tmp_path / "cli"
        result = CliRunner().invoke(cli, ["generate", "fast-model", "-n", "6", "--seed", "5", "--condition", "lesion=present",
                                          "-o", str(out)])
        assert result.exit_code == 0, result.output
        for rel in paths:
            if rel != "manifest.jsonl":
                assert (out / rel).read_bytes() == (folder / rel).read_bytes(), rel
        assert without_times((out / "manifest.jsonl").read_bytes()) == without_times((folder / "manifest.jsonl").read_bytes())


def test_bad_run_requests_get_one_line_errors_and_write_nothing(tmp_path, models):
    with client(tmp_path, max_samples=50) as c:
        cases = [
            ({"model": "fast-model", "num_samples": 51}, 400, "at most|more than this server allows"),
            ({"model": "fast-model", "num_samples": 0}, 400, "at least 1"),
            ({"model": "fast-model", "num_samples": "8"}, 400, "whole number"),
            ({"model": "fast-model"}, 400, "how many samples"),
            ({"model": "fast-model", "num_samples": 2, "seed": -1}, 400, "seed"),
            ({"model": "fast-model", "num_samples": 2, "condition": {"lesion": "maybe"}}, 400, "lesion"),
            ({"model": "fast-model", "num_samples": 2, "format": "gif"}, 400, "gif"),
            ({"model": "fast-model", "num_samples": 2, "output": "/etc"}, 400, "unknown field 'output'"),
            ({"model": "fast-model", "num_samples": 2, "batch_size": 0}, 400, "batch_size"),
            ({"model": "no-such-model", "num_samples": 2}, 404, "unknown model"),
            ({"model": "remote-model", "num_samples": 2}, 403, "--trust-remote-code"),
            ({"model": "fast-model", "num_samples": 2, "inputs": [{"name": "a.png", "data": "AAAA"}]}, 400, "input"),
            ([1, 2], 400, "JSON object"),
        ]
        for body, status, words in cases:
            response = c.post("/api/runs", json=body)
            assert response.status_code == status, (body, response.text)
            message = response.json()["error"]
            assert "\n" not in message and any(w in message for w in words.split("|")), (body, message)
        assert c.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
        form = c.post("/api/runs", data={"model": "fast-model"})
        assert form.status_code == 400 and "application/json" in form.json()["error"]
        assert c.get("/api/runs").json()["runs"] == []
        assert [p.name for p in (tmp_path / "runs").iterdir()] == [".medigan-serve.lock"]  # no run folder


def test_remote_code_model_runs_only_on_a_trusting_server(tmp_path, models, monkeypatch):
    monkeypatch.setenv("MEDIGAN_TRUST_REMOTE_CODE", "1")  # the environment does not open the server's gate
    with client(tmp_path) as c:
        refused = c.post("/api/runs", json={"model": "remote-model", "num_samples": 2})
        assert refused.status_code == 403 and "remote-model" in refused.json()["error"]
    monkeypatch.delenv("MEDIGAN_TRUST_REMOTE_CODE")
    with client(tmp_path, trust_remote_code=True) as c:
        run = c.post("/api/runs", json={"model": "remote-model", "num_samples": 2}).json()
        assert wait(c, run["id"])["status"] == "done"
        assert c.get("/api/models/remote-model/grid.png", params={"n": 2}).status_code == 200


def test_image_to_image_run_with_uploaded_inputs(tmp_path):
    from medigan_host.formats.base import png_bytes

    rng = np.random.default_rng(0)
    pictures = [png_bytes(rng.integers(0, 65535, (256, 256, 1), dtype=np.uint16)) for _ in range(3)]
    inputs = [{"name": f"slice{i}.png", "data": base64.b64encode(data).decode()} for i, data in enumerate(pictures)]
    with client(tmp_path) as c:
        card = c.get("/api/models/ct-lowdose-sim").json()
        assert card["needs_inputs"] is True
        started = c.post("/api/runs", json={"model": "ct-lowdose-sim", "inputs": inputs, "condition": {"dose": "quarter"}})
        assert started.status_code == 202, started.text
        run = wait(c, started.json()["id"])
        assert run["status"] == "done" and run["num_samples"] == 3 and run["inputs"] == 3, run
        assert len(c.get(f"/api/runs/{run['id']}/manifest").json()["records"]) == 3
        wrong = c.post("/api/runs", json={"model": "ct-lowdose-sim", "inputs": inputs, "num_samples": 2})
        assert wrong.status_code == 400 and "one input per sample" in wrong.json()["error"]
        trick = [{"name": "../../evil.png", "data": inputs[0]["data"]}]  # the name gives the format only, never a path
        assert c.post("/api/runs", json={"model": "ct-lowdose-sim", "inputs": trick}).status_code == 202
        assert not (tmp_path / "evil.png").exists() and not (tmp_path / "runs" / "evil.png").exists()
        no_inputs = c.post("/api/runs", json={"model": "ct-lowdose-sim", "num_samples": 2})
        assert no_inputs.status_code == 400 and "inputs" in no_inputs.json()["error"]


def test_cancel_then_resume_completes_byte_identical(tmp_path, models, monkeypatch):
    monkeypatch.setenv("MEDIGAN_TEST_DELAY", "0.15")
    with client(tmp_path) as c:
        run = c.post("/api/runs", json={"model": "slow-model", "num_samples": 24, "batch_size": 2}).json()
        deadline = time.monotonic() + 30
        while c.get(f"/api/runs/{run['id']}").json()["done"] < 4:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        cancelled = c.post(f"/api/runs/{run['id']}/cancel")
        assert cancelled.status_code == 202
        stopped = wait(c, run["id"])
        assert stopped["status"] == "cancelled" and 4 <= stopped["done"] < 24, stopped
        assert c.post(f"/api/runs/{run['id']}/cancel").status_code == 409
        assert c.get(f"/api/runs/{run['id']}/zip").status_code == 409
        assert len(c.get(f"/api/runs/{run['id']}/manifest").json()["records"]) == stopped["done"]
        monkeypatch.setenv("MEDIGAN_TEST_DELAY", "0")
        assert c.post(f"/api/runs/{run['id']}/resume").status_code == 202
        finished = wait(c, run["id"])
        assert finished["status"] == "done" and finished["resumed"] == 1
        assert finished["result"]["already_done"] == stopped["done"]
        assert c.post(f"/api/runs/{run['id']}/resume").status_code == 409
        whole = c.post("/api/runs", json={"model": "slow-model", "num_samples": 24, "batch_size": 2}).json()
        wait(c, whole["id"])
    resumed, uninterrupted = folder_bytes(Path(finished["folder"])), folder_bytes(Path(whole["folder"]))
    assert resumed.keys() == uninterrupted.keys()
    for rel in resumed:
        if rel != "manifest.jsonl":
            assert resumed[rel] == uninterrupted[rel], rel
    assert sorted(without_times(resumed["manifest.jsonl"]), key=lambda r: r["index"]) == without_times(uninterrupted["manifest.jsonl"])


def test_path_tricks_in_run_ids_and_file_paths(tmp_path, models):
    (tmp_path / "secret.txt").write_text("not yours")
    with client(tmp_path) as c:
        run = c.post("/api/runs", json={"model": "fast-model", "num_samples": 1}).json()
        wait(c, run["id"])
        rid = run["id"]
        for bad_id in ("..", "...", "%2e%2e", "..%2F..%2Fsecret.txt", "20261205T124500-1a2b3c4d", rid + "x", rid.upper(),
                       rid + "%00", "%2Fetc%2Fpasswd", "~root", "C:%5Cwindows", rid + "%2F..%2F" + rid):
            for suffix in ("", "/files", "/manifest", "/zip", "/files/run.json"):
                response = c.get(f"/api/runs/{bad_id}{suffix}")
                assert response.status_code == 404, (bad_id, suffix, response.text)
        for bad_path in ("../request.json", "..%2Frequest.json", "images/../../state.json", "%2e%2e/state.json",
                         "/etc/passwd", "images", "images/", ".medigan.lock", "images/.000000.png.tmp", "../../secret.txt",
                         "images/000000.png%00", "IMAGES/000000.png", "images//000000.png", "run.json/"):
            response = c.get(f"/api/runs/{rid}/files/{bad_path}")
            assert response.status_code == 404, (bad_path, response.status_code)
            assert "not yours" not in response.text
        assert c.get(f"/api/runs/{rid}/files/images/000000.png").status_code == 200
        # the paths as they reach the server, unnormalised (an HTTP client may resolve dot segments before sending)
        from medigan_host.serve.runs import RunNotFound

        manager = c.app.app.state.manager
        for raw in ("./run.json", "images/./000000.png", "images/000000.png/.", "images/../run.json", "../request.json",
                    "images\\000000.png", str(Path(run["folder"]) / "run.json"), "images/000000.png\x00"):
            with pytest.raises(RunNotFound):
                manager.file(rid, raw)
        for raw_id in ("../" + rid, rid + "/", rid + "\n", " " + rid):
            with pytest.raises(RunNotFound):
                manager.get(raw_id)


def test_limits_concurrent_runs_and_request_size(tmp_path, models, monkeypatch):
    monkeypatch.setenv("MEDIGAN_TEST_DELAY", "0.2")
    with client(tmp_path, max_runs=2, max_request_bytes=4096) as c:
        first = [c.post("/api/runs", json={"model": "slow-model", "num_samples": 4, "batch_size": 1}) for _ in range(2)]
        assert [r.status_code for r in first] == [202, 202]
        third = c.post("/api/runs", json={"model": "fast-model", "num_samples": 1})
        assert third.status_code == 429 and "--max-runs 2" in third.json()["error"] and third.headers["retry-after"]
        big = c.post("/api/runs", json={"model": "fast-model", "num_samples": 1, "inputs": [{"name": "a.png", "data": "A" * 8000}]})
        assert big.status_code == 413 and "larger than" in big.json()["error"]
        chunks = (b"x" * 1024 for _ in range(8))  # no Content-Length: counted as it arrives
        streamed = c.post("/api/runs", content=chunks, headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and "larger than" in streamed.json()["error"]
        for response in first:
            assert wait(c, response.json()["id"])["status"] == "done"
        assert c.post("/api/runs", json={"model": "fast-model", "num_samples": 1}).status_code == 202


def test_token_required_on_every_request(tmp_path, models):
    with client(tmp_path, token=TOKEN) as c:
        for path in ("/", "/static/app.js", "/api/server", "/api/models", "/api/openapi.json", "/api/runs"):
            response = c.get(path)
            assert response.status_code == 401, path
        assert c.post("/api/runs", json={"model": "fast-model", "num_samples": 1}).status_code == 401
        assert c.get("/api/server", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
        assert c.get("/?token=wrong-token-wrong-token", follow_redirects=False).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/api/server", headers=auth).json()["token_required"] is True
        started = c.post("/api/runs", json={"model": "fast-model", "num_samples": 1}, headers=auth)
        assert started.status_code == 202
        wait(c, started.json()["id"], **auth)
        # the page: /?token=… sets an HttpOnly, SameSite=Strict cookie, then every request of the page carries it
        opened = c.get(f"/?token={TOKEN}", follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/"
        cookie = opened.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert c.get("/").status_code == 200 and c.get("/api/models").status_code == 200
    with client(tmp_path, host="0.0.0.0", token=TOKEN) as c:  # behind a token, any Host header is fine
        assert c.get("/api/server", headers={"Authorization": f"Bearer {TOKEN}", "Host": "lab-server:8000"}).status_code == 200


def test_loopback_only_answers_loopback_host_names(tmp_path):
    with client(tmp_path) as c:
        assert c.get("/api/server", headers={"Host": "localhost:8000"}).status_code == 200
        assert c.get("/api/server", headers={"Host": "[::1]:8000"}).status_code == 200
        rebound = c.get("/api/server", headers={"Host": "attacker.example:8000"})
        assert rebound.status_code == 421 and "127.0.0.1" in rebound.json()["error"]


def test_config_refuses_unsafe_or_wrong_settings(tmp_path, monkeypatch):
    from medigan_host.errors import MediganUsageError

    monkeypatch.delenv("MEDIGAN_SERVE_TOKEN", raising=False)
    with pytest.raises(MediganUsageError, match="--token or MEDIGAN_SERVE_TOKEN"):
        ServeConfig.checked(tmp_path, host="0.0.0.0")
    with pytest.raises(MediganUsageError, match="at least 16"):
        ServeConfig.checked(tmp_path, host="0.0.0.0", token="short")
    monkeypatch.setenv("MEDIGAN_SERVE_TOKEN", TOKEN)
    assert ServeConfig.checked(tmp_path, host="0.0.0.0").token == TOKEN
    with pytest.raises(MediganUsageError, match="ray engine"):
        ServeConfig.checked(tmp_path, workers=2)
    (tmp_path / "file").write_text("x")
    with pytest.raises(MediganUsageError, match="is a file"):
        ServeConfig.checked(tmp_path / "file")


def test_serve_command_errors_are_one_line(tmp_path, monkeypatch):
    from medigan_host.cli import cli

    monkeypatch.delenv("MEDIGAN_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "give a token with --token" in result.output
    assert not (tmp_path / "runs").exists()
    result = CliRunner().invoke(cli, ["serve", "--workers", "2", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "--engine ray" in result.output
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "medigan serve --port 8000 --runs runs/" in help_text and "--trust-remote-code" in help_text


@pytest.mark.slow
def test_server_killed_mid_run_completes_it_on_restart_byte_identical(tmp_path, models):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    from serving import Server

    env = models.env(MEDIGAN_TEST_DELAY="0.25")
    runs = tmp_path / "runs"
    server = Server(runs, env=env)
    try:
        run = httpx.post(server.url + "/api/runs", json={"model": "slow-model", "num_samples": 24, "batch_size": 2}).json()
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/api/runs/{run['id']}").json()["done"] < 6:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        server.kill()
    output = runs / run["id"] / "output"
    written = len((output / "manifest.jsonl").read_text().splitlines())
    assert 6 <= written < 24
    assert json.loads((runs / run["id"] / "state.json").read_text())["status"] == "running"

    with Server(runs, env=models.env(MEDIGAN_TEST_DELAY="0")) as again:
        deadline = time.monotonic() + 60
        while (state := httpx.get(f"{again.url}/api/runs/{run['id']}").json())["status"] != "done":
            assert state["status"] in ("queued", "running") and time.monotonic() < deadline, state
            time.sleep(0.05)
        assert state["resumed"] == 1 and state["result"]["already_done"] >= written
        whole = httpx.post(again.url + "/api/runs", json={"model": "slow-model", "num_samples": 24, "batch_size": 2}).json()
        while httpx.get(f"{again.url}/api/runs/{whole['id']}").json()["status"] != "done":
            time.sleep(0.05)
    resumed, uninterrupted = folder_bytes(output), folder_bytes(runs / whole["id"] / "output")
    assert resumed.keys() == uninterrupted.keys()
    for rel in resumed:
        if rel != "manifest.jsonl":
            assert resumed[rel] == uninterrupted[rel], rel
    records = without_times(resumed["manifest.jsonl"])
    assert sorted(r["index"] for r in records) == list(range(24))  # nothing lost, nothing twice
    assert sorted(records, key=lambda r: r["index"]) == without_times(uninterrupted["manifest.jsonl"])


@pytest.mark.ray
def test_ray_engine_runs_are_ordinary_run_folders(tmp_path):
    """`medigan serve --engine ray`: runs go to Ray workers, as `medigan generate --engine ray`, into the same folder."""
    pytest.importorskip("ray")
    import medigan_host

    with client(tmp_path, engine="ray", workers=2) as c:
        run = c.post("/api/runs", json={"model": "ct-head-phantom", "num_samples": 12, "seed": 4, "batch_size": 4}).json()
        second = c.post("/api/runs", json={"model": "ct-head-phantom", "num_samples": 4, "seed": 5}).json()
        done = wait(c, run["id"], timeout=300)
        assert done["status"] == "done" and done["result"]["engine"] == "ray", done
        assert wait(c, second["id"], timeout=300)["status"] == "done"  # two runs at once share the server's Ray
    medigan_host.generate("ct-head-phantom", 12, tmp_path / "local", seed=4, batch_size=4)
    served, local = folder_bytes(Path(done["folder"])), folder_bytes(tmp_path / "local")
    assert served.keys() == local.keys()
    for rel in served:
        if rel != "manifest.jsonl":
            assert served[rel] == local[rel], rel
    assert without_times(served["manifest.jsonl"]) == without_times(local["manifest.jsonl"])


@pytest.mark.slow
def test_ctrl_c_stops_runs_after_their_batch_and_the_next_start_completes_them(tmp_path, models):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    from serving import Server

    runs = tmp_path / "runs"
    server = Server(runs, env=models.env(MEDIGAN_TEST_DELAY="0.25"))
    try:
        from medigan_host.cli import cli

        refused = CliRunner().invoke(cli, ["serve", "--port", "0", "--runs", str(runs)])
        assert refused.exit_code == 2 and "another medigan serve uses the runs folder" in refused.output
        run = httpx.post(server.url + "/api/runs", json={"model": "slow-model", "num_samples": 40, "batch_size": 2}).json()
        while httpx.get(f"{server.url}/api/runs/{run['id']}").json()["done"] < 2:
            time.sleep(0.05)
    finally:
        server.stop()  # SIGINT, as Ctrl+C
    assert server.process.returncode == 0
    state = json.loads((runs / run["id"] / "state.json").read_text())
    assert state["status"] == "queued" and state["done"] < 40  # stopped, to be resumed: not cancelled, not failed
    with Server(runs, env=models.env(MEDIGAN_TEST_DELAY="0")) as again:
        deadline = time.monotonic() + 60
        while (now := httpx.get(f"{again.url}/api/runs/{run['id']}").json())["status"] != "done":
            assert time.monotonic() < deadline, now
            time.sleep(0.05)
    records = without_times((runs / run["id"] / "output" / "manifest.jsonl").read_bytes())
    assert sorted(r["index"] for r in records) == list(range(40))


def test_runs_beyond_max_runs_after_a_restart_wait_their_turn_and_can_be_cancelled_while_queued(tmp_path, models, monkeypatch):
    monkeypatch.setenv("MEDIGAN_TEST_DELAY", "0.2")
    with client(tmp_path, max_runs=2) as c:
        ids = [c.post("/api/runs", json={"model": "slow-model", "num_samples": 8, "batch_size": 2}).json()["id"] for _ in range(2)]
        deadline = time.monotonic() + 30
        while not all(c.get(f"/api/runs/{i}").json()["done"] >= 2 for i in ids):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    states = [json.loads((tmp_path / "runs" / i / "state.json").read_text())["status"] for i in ids]
    assert states == ["queued", "queued"]  # the server stopped: both wait for the next start
    with client(tmp_path, max_runs=1) as c:
        runs = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert sorted(r["status"] for r in runs.values()) in (["queued", "running"], ["queued", "queued"])
        waiting = next(i for i in sorted(ids, reverse=True) if c.get(f"/api/runs/{i}").json()["status"] == "queued")
        cancelled = c.post(f"/api/runs/{waiting}/cancel")
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"  # at once: it had not started
        other = next(i for i in ids if i != waiting)
        assert wait(c, other)["status"] == "done"
        assert c.get(f"/api/runs/{waiting}").json()["status"] == "cancelled"  # its old turn in the queue did nothing
        monkeypatch.setenv("MEDIGAN_TEST_DELAY", "0")
        assert c.post(f"/api/runs/{waiting}/resume").status_code == 202
        assert wait(c, waiting)["status"] == "done"
        for run_id in ids:
            assert [r["index"] for r in c.get(f"/api/runs/{run_id}/manifest").json()["records"]] == list(range(8))


@pytest.mark.parametrize(("model", "fmt", "kind"), [
    ("ct-head-phantom", "png16", "image/png"), ("ct-head-phantom", "npy", "application/octet-stream"),
    ("ct-head-phantom", "tiff", "image/tiff"), ("ct-head-phantom", "dicom", "application/dicom"),
    ("ct-head-phantom", "nifti-gz", "application/gzip"), ("mri-brain-phantom-3d", None, "application/octet-stream"),
])
def test_every_format_is_served_with_its_content_type_and_previewed(tmp_path, model, fmt, kind):
    for module in {"tiff": ["tifffile"], "dicom": ["pydicom"], "nifti-gz": ["nibabel"]}.get(fmt, []):
        pytest.importorskip(module)
    with client(tmp_path) as c:
        body = {"model": model, "num_samples": 2, **({"format": fmt} if fmt else {})}
        started = c.post("/api/runs", json=body)
        assert started.status_code == 202, started.text
        run = wait(c, started.json()["id"])
        assert run["status"] == "done", run
        record = c.get(f"/api/runs/{run['id']}/manifest").json()["records"][1]
        for kind_of_file, rel in record["files"].items():
            response = c.get(f"/api/runs/{run['id']}/files/{rel}")
            assert response.headers["content-type"] == kind, (kind_of_file, rel)
            assert hashlib.sha256(response.content).hexdigest() == record["sha256"][kind_of_file]
            inline = kind.startswith("image/")
            assert response.headers["content-disposition"].startswith("inline" if inline else "attachment")
        preview = c.get(f"/api/runs/{run['id']}/preview/1.png")
        assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG", preview.text[:200]
        if model == "mri-brain-phantom-3d":
            assert c.get(f"/api/models/{model}/grid.png", params={"n": 2}).status_code == 200
