"""`medigan gallery`: a static page that opens offline; checked in headless Chromium when one is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import card

BROKEN_PLUGIN = '''
from medigan_host import hookimpl

def load(card, device):
    raise RuntimeError("weights went missing")

@hookimpl
def medigan_register_models(register):
    register(CARD, load)
'''


@pytest.fixture(autouse=True)
def _agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")


def invoke(*args: str):
    from medigan_host.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


class _Links(HTMLParser):
    """Every URL-valued attribute and every script of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "srcset", "poster", "data", "action")]


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """The gallery of the phantoms (module scope: built once)."""
    matplotlib = pytest.importorskip("matplotlib")

    matplotlib.use("Agg")
    folder = tmp_path_factory.mktemp("gallery") / "site"
    result = invoke("gallery", "-o", str(folder), "-n", "4", "--models", "ct-head-phantom,mri-brain-phantom-3d",
                    "--models", "ct-lowdose-sim,mammo-breast-phantom")
    assert result.exit_code == 0, result.output
    return folder


def test_gallery_files_and_statuses(gallery):
    built = json.loads((gallery / "gallery.json").read_text())
    status = {m["model"]: m["status"] for m in built["models"]}
    assert status == {"ct-head-phantom": "shown", "mri-brain-phantom-3d": "shown", "ct-lowdose-sim": "skipped",
                      "mammo-breast-phantom": "shown"}
    for model, state in status.items():
        assert json.loads((gallery / "models" / f"{model}.json").read_text())["id"] == model
        assert (gallery / "models" / f"{model}.png").is_file() == (state == "shown")
    page = (gallery / "index.html").read_text()
    assert "image-to-image model" in page and "mid slices of the three axes" in page and "haemorrhage" in page


def test_gallery_page_is_self_contained(gallery):
    links = _Links()
    links.feed((gallery / "index.html").read_text())
    assert links.scripts == 0
    assert links.urls, "the page links its images and cards"
    for url in links.urls:
        assert "://" not in url and not url.startswith("//"), url
        assert url.startswith("#") or (gallery / url).is_file(), url


def test_gallery_keeps_other_files_and_reports_broken_models(site, host, tmp_path):
    site.add("broken", BROKEN_PLUGIN.replace("CARD", repr(card("broken-model"))))
    host()
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = invoke("gallery", "-o", str(folder))
    assert result.exit_code == 2 and "holds no gallery" in result.output
    assert (folder / "notes.txt").read_text() == "mine"
    folder = tmp_path / "g2"
    result = invoke("gallery", "-o", str(folder), "--models", "broken-model,ct-head-phantom", "-n", "1")
    assert result.exit_code == 0, result.output
    assert "broken-model: failed" in result.output and "weights went missing" in result.output
    assert "weights went missing" in (folder / "index.html").read_text()
    again = invoke("gallery", "-o", str(folder), "--models", "ct-head-phantom", "-n", "1")
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert invoke("gallery", "-o", str(folder), "--models", "ct-head-phantom", "-n", "1", "--overwrite").exit_code == 0
    assert invoke("gallery", "-o", str(tmp_path / "g3"), "--models", "nope").exit_code == 2
    assert not (tmp_path / "g3").exists()


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


#: Appended to a copy of the page: after load, writes each image's decoded size, the resources the page fetched
#: (Resource Timing lists every http(s) fetch) and any Content-Security-Policy violation into the DOM.
_PROBE = """
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src file:; style-src 'unsafe-inline';
 script-src 'unsafe-inline'">
<script>
var violations = [];
document.addEventListener('securitypolicyviolation', function (e) { violations.push(e.blockedURI); });
window.addEventListener('load', function () {
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    images: Array.prototype.map.call(document.images, function (i) {
      return {src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight};
    }),
    resources: performance.getEntriesByType('resource').map(function (r) { return r.name; }),
    violations: violations
  });
  document.body.appendChild(out);
});
</script>
"""


@pytest.mark.slow
def test_gallery_loads_offline_in_headless_chromium(gallery, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    page = (gallery / "index.html").read_text()
    probe = gallery / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + _PROBE, 1))
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={tmp_path / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
             "--virtual-time-budget=10000", "--window-size=1280,2400"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run([*flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120, env=env)
    assert dom.returncode == 0, dom.stderr[-2000:]
    start = dom.stdout.index('<pre id="probe">') + len('<pre id="probe">')
    report = json.loads(dom.stdout[start:dom.stdout.index("</pre>", start)].replace("&quot;", '"').replace("&amp;", "&"))
    shown = json.loads((gallery / "gallery.json").read_text())["models"]
    assert sorted(i["src"] for i in report["images"]) == sorted(m["image"] for m in shown if m["status"] == "shown")
    for image in report["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    assert report["resources"] == [] and report["violations"] == [], report
    shot = tmp_path / "page.png"
    done = subprocess.run([*flags, f"--screenshot={shot}", (gallery / "index.html").as_uri()], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10  # the grids were painted, not a blank page
