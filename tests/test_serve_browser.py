"""`medigan serve` in a real headless Chromium: search, open a card, generate 8 images, see them, download the ZIP.

Needs Debian's chromium (CI installs it; the test skips without one) and the serve extra. Screenshots at a phone
and a desktop width go to pytest's temporary folder, or to ``MEDIGAN_SCREENSHOTS`` when it names a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("websockets")

from browser import Chromium, find_chromium  # noqa: E402
from serving import Server  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    return binary


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MEDIGAN_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_browser_search_card_generate_and_zip(tmp_path, chromium_binary):
    shots = _shots(tmp_path)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with Server(tmp_path / "runs") as server, Chromium(chromium_binary, tmp_path / "profile") as page:
        page.allow_downloads(downloads)
        page.open(server.url + "/")
        total = page.wait_for("document.querySelectorAll('#model-list > li').length", what="the model list")
        assert total >= 4
        page.screenshot(shots / "models-desktop.png", 1280)
        page.screenshot(shots / "models-phone.png", 390)

        # the keyboard: skip link first, then the header's links, then the search field; every focus ring drawn
        order = []
        for _ in range(6):
            page.press("Tab")
            order.append(page.focused())
        assert order[0]["text"] == "Skip to content"
        assert [f["text"] for f in order[1:5]] == ["medigan", "Models", "Runs", "API"]
        assert order[5]["id"] == "q" and order[5]["label"] == "Search"
        assert all(f["outline"].startswith("solid") for f in order), order

        # search: type into the field, the list narrows to the matching models
        page.type("head ct")
        page.wait_for("location.hash.includes('q=head') && document.querySelector('#model-list a[href=\"#/models/ct-head-phantom\"]')"
                      " && document.querySelectorAll('#model-list > li').length < " + str(total), what="the search results")
        assert page.evaluate("document.activeElement.id") == "q"  # typing is not interrupted by the new results
        first = page.evaluate("document.querySelector('#model-list h2 a').getAttribute('href')")
        assert first == "#/models/ct-head-phantom"

        # open the card by keyboard: Tab from the search field reaches the first result after the filters and button
        for _ in range(10):
            page.press("Tab")
            if page.focused()["href"] == "#/models/ct-head-phantom":
                break
        assert page.focused()["href"] == "#/models/ct-head-phantom"
        page.press("Enter")
        page.wait_for("location.hash === '#/models/ct-head-phantom' && document.querySelector('h1') "
                      "&& document.activeElement === document.querySelector('h1')", what="the card")
        page.wait_for("(() => { const i = document.getElementById('grid'); return i && i.complete && i.naturalWidth > 0; })()",
                      timeout=60, what="the sample grid")
        assert page.evaluate("document.getElementById('grid').alt").startswith("8 samples of")
        card = page.evaluate("Object.fromEntries([...document.querySelectorAll('.card-table tr')].map("
                             "r => [r.cells[0].textContent, r.cells[1].textContent]))")
        assert card["id"] == "ct-head-phantom" and card["modality"] == "ct"
        labels = page.evaluate("[...document.querySelectorAll('form.generate label')].map(l => l.textContent)")
        assert labels[:2] == ["Number of images", "Seed"] and "Format" in labels and "Condition: lesion" in labels
        assert page.evaluate("[...document.querySelectorAll('form.generate input, form.generate select')]"
                             ".every(e => e.labels && e.labels.length === 1)")
        page.screenshot(shots / "card-desktop.png", 1280)

        # generate 8 images: fill the form and press Enter on the Generate button
        page.evaluate("document.getElementById('g-n').value = '8'; document.getElementById('g-seed').value = '3'; "
                      "document.getElementById('g-c-lesion').value = 'present'; true")
        page.evaluate("document.querySelector('form.generate button[type=submit]').focus()")
        page.press("Enter")
        run_id = page.wait_for("location.hash.startsWith('#/runs/') && location.hash.slice(7)", what="the run page")
        page.wait_for("document.getElementById('run-state') && document.getElementById('run-state').textContent === 'done'",
                      timeout=120, what="the run to finish")
        assert page.evaluate("document.getElementById('run-progress').value") == 8
        page.wait_for("document.querySelectorAll('#samples img').length === 8 && "
                      "[...document.querySelectorAll('#samples img')].every(i => i.complete && i.naturalWidth === 256)",
                      timeout=60, what="the 8 images")
        folder = page.evaluate("document.getElementById('run-folder').textContent")
        assert Path(folder) == (tmp_path / "runs" / run_id / "output").resolve()
        page.screenshot(shots / "run-desktop.png", 1280)
        page.screenshot(shots / "run-phone.png", 390)
        assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth")  # no sideways scrolling

        # download the ZIP by its link, and check it against the manifest
        page.evaluate("document.getElementById('zip-link').click(); true")
        deadline = time.monotonic() + 60
        name = f"medigan-run-{run_id}.zip"
        while not (downloads / name).is_file():
            assert time.monotonic() < deadline, sorted(p.name for p in downloads.iterdir())
            time.sleep(0.1)
        time.sleep(0.2)
    manifest = [json.loads(line) for line in (Path(folder) / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in manifest) == list(range(8))
    assert {r["condition"]["lesion"] for r in manifest} == {"present"}
    with zipfile.ZipFile(downloads / name) as archive:
        names = set(archive.namelist())
        listed = {f"{run_id}/{rel}": digest for r in manifest for kind, rel in r["files"].items()
                  for digest in [r["sha256"][kind]]}
        assert set(listed) <= names
        assert names - set(listed) == {f"{run_id}/{n}" for n in ("manifest.jsonl", "run.json", "metadata.jsonl")}
        for member, digest in listed.items():
            assert hashlib.sha256(archive.read(member)).hexdigest() == digest, member
        assert archive.read(f"{run_id}/manifest.jsonl") == (Path(folder) / "manifest.jsonl").read_bytes()
    for shot in shots.glob("*.png"):
        assert shot.stat().st_size > 5000, shot


def test_browser_image_to_image_run_from_uploaded_files(tmp_path, chromium_binary):
    import numpy as np

    from medigan_host.formats.base import png_bytes

    rng = np.random.default_rng(1)
    files = []
    for i in range(3):
        files.append(tmp_path / f"slice{i}.png")
        files[-1].write_bytes(png_bytes(rng.integers(900, 1200, (256, 256, 1), dtype=np.uint16)))
    with Server(tmp_path / "runs") as server, Chromium(chromium_binary, tmp_path / "profile") as page:
        page.open(server.url + "/#/models/ct-lowdose-sim")
        page.wait_for("document.getElementById('g-inputs')", what="the inputs field")
        assert page.evaluate("document.getElementById('g-inputs').labels[0].textContent") == "Inputs (image)"
        page.set_files("#g-inputs", files)
        page.evaluate("document.getElementById('g-c-dose').value = 'tenth'; "
                      "document.querySelector('form.generate button[type=submit]').click(); true")
        run_id = page.wait_for("location.hash.startsWith('#/runs/') && location.hash.slice(7)", what="the run page")
        page.wait_for("document.getElementById('run-state') && document.getElementById('run-state').textContent === 'done'",
                      timeout=120, what="the run to finish")
        page.wait_for("document.querySelectorAll('#samples img').length === 3 && "
                      "[...document.querySelectorAll('#samples img')].every(i => i.complete && i.naturalWidth === 256)",
                      timeout=60, what="the 3 images")
    request = json.loads((tmp_path / "runs" / run_id / "request.json").read_text())
    assert request["num_samples"] == 3 and request["inputs"] == 3 and request["condition"] == {"dose": "tenth"}
