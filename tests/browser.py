"""Headless Chromium for the tests that open a page in a real browser (the report page, the
Models page): the Debian package `chromium` (.ci/run installs it by name; nothing is downloaded
at run time). Where it is absent the test skips, and fails when CI is set."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def require_chromium(what: str) -> str:
    """The browser's path, or skip (fail in CI) saying which test needs it for what."""
    if CHROMIUM is None:
        message = f"chromium is not installed (apt-get install chromium); this test opens {what} in it"
        if os.environ.get("CI"):
            pytest.fail(message + " [CI is set: .ci/run installs it]", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


def open_page(url: str, tmp: Path, what: str, extra_flags: tuple[str, ...] = (), timeout_s: float = 180
              ) -> tuple[str, list[str], list[str]]:
    """(the DOM Chromium built, its console lines, the URLs the page itself requested), from a
    network log: the browser's own background requests have no initiating origin; the page's have one."""
    netlog = tmp / "page.netlog.json"
    done = subprocess.run([require_chromium(what), *FLAGS, f"--log-net-log={netlog}",
                           f"--user-data-dir={tmp / 'profile'}", *extra_flags, "--dump-dom", url],
                          capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requested = [e["params"]["url"] for e in log["events"] if e["type"] == start
                 and (e.get("params") or {}).get("initiator", "not an origin") != "not an origin"]
    return done.stdout, console, requested
