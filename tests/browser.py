"""A small driver for headless Chromium over the DevTools protocol (a websocket), for the browser tests.

Only Debian's ``chromium`` binary is needed (no chromedriver, no browser download): the browser is started with
``--remote-debugging-port=0``, its port read from ``DevToolsActivePort`` in its profile, and one page is driven with
``Runtime.evaluate``, ``Input.dispatchKeyEvent`` and ``Page.captureScreenshot``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

#: Key codes of the keys the tests press.
KEYS = {"Tab": ("Tab", 9), "Enter": ("Enter", 13), "Escape": ("Escape", 27), " ": ("Space", 32)}


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class BrowserError(AssertionError):
    pass


class Chromium:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, binary: str, profile: Path, *, width: int = 1280, height: int = 900) -> None:
        from websockets.sync.client import connect

        self.profile = profile
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a reused profile: the port of the browser before
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-features=Translate,MediaRouter", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(profile)})
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._connection = None
                self.close()
                raise BrowserError("chromium did not start (no DevToolsActivePort)")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self._connection: Any = None
        try:
            self._connection = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30)
            self.socket = self._connection.__enter__()
            targets = self.send("Target.getTargets", session=False)["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                     session=False)["sessionId"]
            for domain in ("Page", "Runtime"):
                self.send(f"{domain}.enable")
            self.resize(width, height)
        except BaseException:
            self.close()  # never leave a browser behind
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._connection is not None:
                self._connection.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 - closing what may never have opened
            pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    # -- the protocol ----------------------------------------------------------------------------------
    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True, timeout: float = 60) -> Any:
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer to {method} within {timeout} s")
            reply = json.loads(self.socket.recv(timeout=left))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, what: str = "") -> Any:
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.monotonic() + timeout
        probe = f"(() => {{ const v = ({expression}); return v instanceof Node ? true : v; }})()"  # an element is truthy
        while True:
            value = self.evaluate(probe)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout} s waiting for {what or expression}")
            time.sleep(0.1)

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", what="the page to load")

    def press(self, key: str, *, shift: bool = False) -> None:
        code, number = KEYS[key]
        base = {"key": key, "code": code, "windowsVirtualKeyCode": number, "nativeVirtualKeyCode": number,
                "modifiers": 8 if shift else 0}
        text = {"Enter": "\r", " ": " "}.get(key)
        self.send("Input.dispatchKeyEvent", {**base, "type": "keyDown", **({"text": text} if text else {})})
        self.send("Input.dispatchKeyEvent", {**base, "type": "keyUp"})

    def type(self, text: str) -> None:
        self.send("Input.insertText", {"text": text})

    def focused(self) -> dict[str, Any]:
        """What has the keyboard focus: tag, id, text and whether its focus ring is drawn."""
        return self.evaluate("""(() => { const e = document.activeElement; const s = getComputedStyle(e);
          return {tag: e.tagName.toLowerCase(), id: e.id, text: (e.textContent || '').trim().slice(0, 60),
                  href: e.getAttribute('href'), outline: s.outlineStyle + ' ' + s.outlineWidth,
                  label: e.labels && e.labels.length ? e.labels[0].textContent.trim() : null}; })()""")

    def resize(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                          "mobile": width < 600})

    def screenshot(self, path: Path, width: int, height: int = 900, *, full: bool = True) -> Path:
        """A PNG of the page at ``width`` CSS pixels (the whole page height when ``full``)."""
        self.resize(width, height)
        time.sleep(0.3)
        if full:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            self.resize(width, min(int(size["height"]) + 1, 6000))
            time.sleep(0.2)
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        self.resize(width, height)
        return path

    def allow_downloads(self, folder: Path) -> None:
        self.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder), "eventsEnabled": True},
                  session=False)

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Choose ``paths`` in the file input ``selector`` (as a user picking files would)."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise BrowserError(f"no element {selector!r}")
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})
