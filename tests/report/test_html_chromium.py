"""The report page in a real browser: headless Chromium loads it from a file, with a network log.
The charts must be in the DOM it built, the console must stay silent (no script, no error), and
the page must request nothing. A page with an outside image and a failing script is checked the
same way first, so the test can see what it is looking for.

Needs the Debian package `chromium` (.ci/run installs it); skips where it is absent, fails in CI."""
from __future__ import annotations

from pathlib import Path

import pytest

from shared.report import pages
from tests.browser import open_page, require_chromium
from tests.report.test_html import hostile_report, history_of

WHAT = "the report page"


@pytest.fixture(autouse=True)
def chromium_present():
    require_chromium(WHAT)


def load(page: Path, tmp: Path) -> tuple[str, list[str], list[str]]:
    """(the DOM Chromium built, its console lines, the URLs the page itself requested)."""
    return open_page(page.as_uri(), tmp, WHAT, timeout_s=120)


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
