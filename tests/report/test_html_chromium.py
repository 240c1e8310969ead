"""The report page in a real browser: headless Chromium loads it from a file, with a network log.
The charts must be in the DOM it built, the console must stay silent (no script, no error), and
the page must request nothing. A page with an outside image and a failing script is checked the
same way first, so the test can see what it is looking for.

Needs the Debian package `chromium` (.ci/run installs it); skips where it is absent, fails in CI."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.report import pages
from tests.report.test_html import hostile_report, history_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-extensions", "--enable-logging=stderr", "--v=0"]


@pytest.fixture(autouse=True)
def chromium_present():
    if CHROMIUM is None:
        message = "chromium is not installed (apt-get install chromium); this test opens the report in it"
        if os.environ.get("CI"):
            pytest.fail(message + " [CI is set: .ci/run installs it]", pytrace=False)
        pytest.skip(message)


def load(page: Path, tmp: Path) -> tuple[str, list[str], list[str]]:
    """(the DOM Chromium built, its console lines, the URLs the page itself requested)."""
    netlog = tmp / f"{page.stem}.netlog.json"
    done = subprocess.run([CHROMIUM, *FLAGS, f"--log-net-log={netlog}", f"--user-data-dir={tmp / 'profile'}",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    # the browser's own background requests have no initiating origin; the page's have one
    requested = [e["params"]["url"] for e in log["events"] if e["type"] == start
                 and (e.get("params") or {}).get("initiator", "not an origin") != "not an origin"]
    return done.stdout, console, requested


def test_the_check_sees_a_script_error_and_an_outside_request(tmp_path: Path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><img src="http://203.0.113.1/a.png">'
                   '<script>console.error("boom")</script>')
    _, console, requested = load(bad, tmp_path)
    assert any('"boom"' in line for line in console)
    assert requested == ["http://203.0.113.1/a.png"]


def test_the_report_page_renders_its_charts_silently_and_requests_nothing(tmp_path: Path):
    page = tmp_path / "report.html"
    page.write_text(pages.render_html(hostile_report(), history_of(12)), encoding="utf-8")
    dom, console, requested = load(page, tmp_path)
    assert console == [] and requested == []
    assert dom.count("<svg") == 5 and dom.count('class="chart"') == 5
    assert "<script>alert(1)</script>" not in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
