"""The report's HTML page and the reports index (shared/report/pages.py, charts.py): structure
checked by parsing (sections, charts as inline SVG), hostile text escaped, and no external
reference of any kind; report.html written once beside the Markdown and index.html rewritten
with every run, newest first, linked relatively."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from shared.platform import storage
from shared.report import metrics, pages
from shared.report.metrics import RunMetrics, Score
from shared.report.stage import store_report
from shared.report.weekly import build_report
from tests.report.test_report import ALL_OK, BENCH_MODEL, BENCH_PASS, NOW, STARTED, run_dict, sync_record
from tests.report.test_report_bucket import backend, report  # noqa: F401  (the bucket fixture)

HOSTILE = "<script>alert(1)</script>"
SECTION_IDS = ["summary", "stages", "upgrades", "catalog", "drift", "benchmark", "research", "safety", "history"]


class Page(HTMLParser):
    """What a browser would see of a page: tags, every attribute, and the text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.style if self._in_style else self.text).append(data)

    def ids(self, tag: str) -> list[str]:
        return [a.get("id") or "" for t, a in self.tags if t == tag]

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)


def hostile_report():
    """A fixed report whose benchmark measured a model named like a script, and whose research
    found a feed item titled like one, with a javascript: URL."""
    run = run_dict(ALL_OK)
    run["stages"]["benchmark"]["summary"] = {**BENCH_PASS, "models": {
        "sim/steady": BENCH_MODEL, HOSTILE: {**BENCH_MODEL, "score": 40.0, "cost_usd": 0.002}}}
    run["stages"]["research_digest"]["status"] = "succeeded"
    run["stages"]["research_digest"]["summary"] = {"findings": 1, "top": [
        {"title": f"Paper {HOSTILE}", "url": "https://arxiv.org/abs/1", "impact": "high", "topic": "x"},
        {"title": "<img src=x onerror=alert(2)>", "url": "javascript:alert(3)", "impact": "low", "topic": "y"}]}
    return build_report(run, sync_record(), NOW)


def history_of(weeks: int, models: tuple[str, ...] = ("sim/steady", HOSTILE)) -> list[RunMetrics]:
    """Synthetic run metrics, one per week back from STARTED, newest first."""
    out = []
    for w in range(weeks):
        scores = [Score(model=m, score=60.0 + w % 7 + i, n=24) for i, m in enumerate(models)]
        scores += [Score(model=m, category="coding", score=50.0 + w % 5, n=4) for m in models]
        out.append(RunMetrics(run_id=f"weekly-{w}", started_at=STARTED - timedelta(weeks=w), safe=w % 3 != 0,
                              safe_label="SAFE=true" if w % 3 else "SAFE=false", cycle_duration_s=700.0 + w,
                              sync_duration_s=12.0 + w % 4, stage_durations_s={"catalog_sync": 40.0 + w},
                              benchmark_scores=scores, upgrade_attempts=2, upgrade_promotions=w % 3,
                              upgrade_success_rate=(w % 3) / 2, simulated=w == 1))
    return out


def external_references(html: str, page: Page) -> list[str]:
    """Every src/href/url(...)/@import target that leaves the page (http, https, //, or any
    scheme other than an in-page fragment or a relative path)."""
    targets = [v for _, attrs in page.tags for k, v in attrs.items()
               if k.lower() in ("src", "href", "xlink:href", "srcset", "action", "poster", "data") and v]
    css = "".join(page.style) + " ".join(a.get("style") or "" for _, a in page.tags)
    targets += re.findall(r"url\(\s*['\"]?([^'\")]*)", css) + re.findall(r"@import\s+['\"]?([^'\";]*)", css)
    return [t for t in targets if re.match(r"\s*(https?:|//|[a-z][a-z0-9+.-]*:)", t, re.I)]


@pytest.fixture(scope="module")
def page_html() -> str:
    return pages.render_html(hostile_report(), history_of(12))


def test_the_page_has_the_reports_sections_and_the_history_charts(page_html):
    page = Page(page_html)
    assert [s for s in page.ids("section")] == SECTION_IDS
    text = " ".join(page.text)
    assert "SAFE=true" in text and "Every required check ran and passed." in text
    figures = page.ids("figure")
    assert figures == ["chart-score-overall", "chart-score-coding", "chart-durations", "chart-stages",
                       "chart-upgrades"]
    assert page.count("svg") == len(figures)             # every chart drawn, inline
    assert page.count("path") > 10                      # with lines in it
    assert "Benchmark score per routed model: coding" in text


def test_hostile_text_is_escaped_and_nothing_runs(page_html):
    page = Page(page_html)
    assert HOSTILE not in page_html and "<img src=x" not in page_html
    assert page.count("script") == 0 and page.count("img") == 0 and page.count("iframe") == 0
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]      # no event handler
    text = "".join(page.text)
    assert HOSTILE in text                               # shown as text: in the table and the chart legend
    assert "javascript:alert(3)" in text and "<img src=x onerror=alert(2)>" in text
    assert page.count("a") == 0                          # an outside URL is never a link


def test_no_external_reference_of_any_kind(page_html):
    page = Page(page_html)
    assert external_references(page_html, page) == []
    assert page.count("link") == 0 and "@font-face" not in page_html and "@import" not in page_html
    # the scan itself catches what it must
    bad = '<img src="https://x/a.png"><a href="//x">x</a><div style="background:url(http://x/b)"></div>'
    assert len(external_references(bad, Page(bad))) == 3


def test_a_field_the_report_gains_later_is_shown_and_missing_ones_do_not_break_it():
    data = json.loads(hostile_report().model_dump_json())
    data["alerts"] = {"sent": [{"channel": "slack", "status": "ok"}]}     # a later addition
    del data["research"], data["upgrades"]                               # fields a report may lack
    data["benchmark"] = {"status": "failed", "error": "budget refused"}
    page = Page(pages.render_html(data, []))
    assert page.ids("section") == ["summary", "stages", "catalog", "drift", "benchmark", "alerts", "safety", "history"]
    text = " ".join(page.text)
    assert "Alerts" in text and "slack" in text and "budget refused" in text
    assert page.count("svg") == 0 and "no benchmark scores in this period" in text


def test_charts_mark_simulated_runs_and_leave_gaps_where_nothing_was_measured():
    from shared.report import charts

    hist = list(reversed(history_of(3, models=("a/one",))))
    hist[1] = hist[1].model_copy(update={"benchmark_scores": []})
    assert charts.labels(hist) == ["2026-02-15", "2026-02-22*", "2026-03-01"]
    assert charts.score_series(hist, None) == {"a/one": [62.0, None, 60.0]}
    assert charts.score_series(hist, "coding") == {"a/one": [52.0, None, 50.0]}


# --- metrics from a fixed report ------------------------------------------------------------

def test_metrics_extracted_from_a_fixed_report():
    rep = hostile_report()
    rep.upgrades = {"result": "promoted", "week": {"upgrades": 2, "candidates": 4, "promoted": 3,
                                                   "rolled_back": 1, "success_rate": 0.75}}
    m = metrics.extract(rep)
    assert (m.run_id, m.started_at, m.safe, m.safe_label) == ("wk-test-1", STARTED, True, "SAFE=true")
    assert m.cycle_duration_s == 750.0 and m.sync_duration_s == 12.5
    assert m.stage_durations_s["catalog_sync"] == 42.0 and m.stage_durations_s["reporter"] is None
    assert (m.models_added, m.models_removed, m.models_repriced) == (0, 0, 0)
    assert {(s.model, s.category, s.score, s.n) for s in m.benchmark_scores} == {
        ("sim/steady", None, 71.5, 24), ("sim/steady", "coding", 75.0, 4),
        (HOSTILE, None, 40.0, 24), (HOSTILE, "coding", 75.0, 4)}
    assert m.benchmark_cost_usd == pytest.approx(0.0032) and m.benchmark_verdict == "pass"
    assert (m.upgrade_result, m.upgrade_attempts, m.upgrade_promotions, m.upgrade_rollbacks,
            m.upgrade_success_rate) == ("promoted", 4, 3, 1, 0.75)
    assert m.alerts_sent is None


def test_metrics_of_a_report_without_sync_benchmark_or_upgrades_are_none_not_zero():
    rep = build_report(run_dict({"catalog_sync": "failed"}), None, NOW)
    m = metrics.extract(rep)
    assert m.safe is False and m.sync_duration_s is None and m.models_added is None
    assert m.benchmark_scores == [] and m.benchmark_cost_usd is None
    assert (m.upgrade_attempts, m.upgrade_promotions, m.upgrade_rollbacks, m.upgrade_success_rate) == (0, 0, 0, None)


def test_metrics_are_recorded_once_and_logged_on_one_line(caplog):
    store = metrics.InMemoryRunMetrics()
    rep = hostile_report()
    with caplog.at_level("INFO"):
        first = metrics.record(rep, store)
        again = metrics.record(rep.model_copy(update={"safe_label": "changed"}), store)
    lines = [r for r in caplog.records if r.getMessage() == metrics.LOG_MESSAGE]
    assert len(lines) == 1
    fields: dict[str, Any] = lines[0].fields
    assert fields["run_id"] == "wk-test-1" and fields["safe_label"] == "SAFE=true"
    assert fields["cycle_duration_s"] == 750.0 and len(fields["benchmark_scores"]) == 4
    assert again == first and store.get("wk-test-1").safe_label == "SAFE=true"


# --- the bucket: report.html once, index.html every time ------------------------------------

def test_report_html_is_written_once_beside_the_others_and_the_index_lists_every_run(backend):  # noqa: F811
    bucket, used = backend
    first = store_report(bucket, report("weekly-2026-W09"))
    uri = pages.store_html(bucket, first, history_of(2))
    assert uri == f"gs://{bucket}/reports/2026-03-01/weekly-2026-W09/report.html"
    assert used.content_type(bucket, "reports/2026-03-01/weekly-2026-W09/report.html") == pages.HTML_TYPE
    written = storage.read_bytes(bucket, "reports/2026-03-01/weekly-2026-W09/report.html")
    assert pages.store_html(bucket, first, []) == uri                              # a redelivery
    assert storage.read_bytes(bucket, "reports/2026-03-01/weekly-2026-W09/report.html") == written
    later = store_report(bucket, report("weekly-2026-W10", timedelta(days=7)))
    pages.store_html(bucket, later, [])
    assert used.content_type(bucket, pages.INDEX_PATH) == pages.HTML_TYPE
    index = storage.read_bytes(bucket, pages.INDEX_PATH).decode()
    page = Page(index)
    links = [a["href"] for t, a in page.tags if t == "a" and a.get("class") == "run"]
    assert links[:2] == ["2026-03-08/weekly-2026-W10/report.html", "2026-03-01/weekly-2026-W09/report.html"]
    assert external_references(index, page) == []
    text = " ".join(page.text)
    assert text.count("SAFE=true") == 2 and "750.0 s" in text and "pass" in text


def test_index_rows_newest_first_with_old_layouts_and_hostile_metadata():
    objs = [{"name": "reports/2026-02-01.md", "metadata": {}},
            {"name": "reports/2026-03-01/a/report.md", "metadata": {"safe_label": "SAFE=false",
                                                                    "started_at": "2026-03-01T03:00:00+00:00"}},
            {"name": "reports/2026-03-01/b/report.html", "metadata": {
                "safe_label": "SAFE=true", "started_at": "2026-03-01T09:00:00+00:00", "upgrade": HOSTILE}},
            {"name": "reports/2026-03-01/b/report.json", "metadata": {}},
            {"name": "reports/latest.json", "metadata": {}}, {"name": "reports/index.html", "metadata": {}}]
    rows = pages.index_rows(objs)
    assert [(r["day"], r["run_id"], r["link"]) for r in rows] == [
        ("2026-03-01", "b", "2026-03-01/b/report.html"), ("2026-03-01", "a", "2026-03-01/a/report.md"),
        ("2026-02-01", None, "2026-02-01.md")]
    html = pages.render_index(rows, NOW)
    assert HOSTILE not in html and HOSTILE in "".join(Page(html).text)
    assert "not recorded" in html                    # the flat report's SAFE label was never stored


def test_the_index_is_not_rewritten_when_nothing_changed(monkeypatch):
    from tests.report.test_report_bucket import MemoryBucket

    fake = MemoryBucket()
    for name in ("write_bytes", "read_versioned", "read_bytes", "exists", "list_objects"):
        monkeypatch.setattr(storage, name, getattr(fake, name))
    store_report("b", report())
    assert pages.update_index("b") is True
    assert pages.update_index("b") is False


def test_the_reporter_loads_without_the_chart_library():
    """pygal is imported at the first render, not at the function's cold start."""
    import subprocess
    import sys

    from shared.pipeline import REPO_ROOT

    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('main', sys.argv[1]); "
            "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pygal' or m.startswith('shared.report.')))")
    out = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT / "functions/reporter/main.py")],
                         capture_output=True, text=True, cwd=REPO_ROOT, check=True).stdout
    assert "pygal" not in out and "shared.report.stage" in out
