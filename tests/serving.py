"""A `medigan serve` process for the tests that need a real server (browser, restart, load)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


class Server:
    """``python -m medigan_host serve --port 0 ...`` in its own process; ``url`` once it listens."""

    def __init__(self, runs: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.log = log or runs.parent / f"serve-{time.monotonic_ns()}.log"
        self.handle = open(self.log, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "medigan_host", "serve", "--port", "0", "--runs", str(runs), *args],
                                        stdout=self.handle, stderr=subprocess.STDOUT, env=env or dict(os.environ))
        deadline = time.monotonic() + 60
        self.url = ""
        while not self.url:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", self.log.read_text(errors="replace"))
            if found:
                self.url = f"http://127.0.0.1:{found.group(1)}"
            elif self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"medigan serve did not start: {self.log.read_text(errors='replace')[-2000:]}")
            else:
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine loses power or the OOM killer strikes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
        self.handle.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.handle.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
