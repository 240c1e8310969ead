"""The weekly report as one self-contained HTML page, and the reports index (reports/index.html).

Rendered from the same WeeklyReport as the Markdown, read through its JSON so a section the
report gains later is shown (generically) without a change here. Everything in a report may be
outside input (model names, feed titles, model output): the templates autoescape, links to
outside URLs are never made (a URL is shown as text), and the page requests nothing: inline CSS,
inline SVG charts (shared/report/charts.py), no script, no web font, no remote image.
"""
from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from typing import Any

import jinja2

from shared.report.metrics import RunMetrics

HTML_TYPE = "text/html; charset=utf-8"
INDEX_PATH = "reports/index.html"
HTML_NAME = "report.html"
# top-level fields shown in the page's header or safety section, not as sections of their own
HEADER_FIELDS = {"report_version", "run_id", "generated_at", "started_at", "options", "dry_run", "safe",
                 "safe_label", "demo", "simulated", "reasons", "checks", "paths"}
# the Markdown's sections, in its order; any other top-level field follows under its own name
SECTIONS = [("summary", "1. Summary"), ("stages", "Stages"), ("upgrades", "2. Top 3 upgrades"),
            ("catalog", "3. Model catalog changes"), ("drift", "3. Drift check"), ("benchmark", "4. Benchmark results"),
            ("research", "5. Research highlights")]     # 6. Safety status closes the page
_NAME = re.compile(r"reports/(\d{4}-\d{2}-\d{2})/([^/]+)/report\.(md|json|html)|reports/(\d{4}-\d{2}-\d{2})\.(md|json)")


@functools.cache
def _env() -> jinja2.Environment:
    """HTML templates: autoescape always on (the report holds outside text), strict names."""
    return jinja2.Environment(loader=jinja2.PackageLoader("shared.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _title(key: str) -> str:
    return key.replace("_", " ").capitalize()


def sections(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The page's sections from the report's JSON: the known ones in the Markdown's order, then
    every other field the report has (a later addition is shown, not dropped)."""
    known = [(k, t) for k, t in SECTIONS if k in data]
    extra = [(k, _title(k)) for k in data if k not in HEADER_FIELDS and k not in dict(SECTIONS)]
    return [{"key": k, "title": t, "value": data[k]} for k, t in known + extra]


def benchmark_rows(bench: Any) -> list[dict[str, Any]]:
    """The benchmark's per-model table, read defensively (a missing figure shows as —)."""
    models = bench.get("models") if isinstance(bench, dict) else None
    rows = []
    for model, m in (models or {}).items() if isinstance(models, dict) else []:
        m = m if isinstance(m, dict) else {}
        cats = m.get("categories") if isinstance(m.get("categories"), dict) else {}
        rows.append({"model": model, "routing": m.get("routing_categories") or [], "score": m.get("score"),
                     "ci": m.get("score_ci95"), "pass_rate": m.get("pass_rate"), "errored": m.get("errored"),
                     "cases": m.get("cases"), "cost": m.get("cost_usd"),
                     "regression": (m.get("regression") or {}).get("text") if isinstance(m.get("regression"), dict)
                     else None,
                     "categories": [{"name": c, "score": (v or {}).get("score"), "n": (v or {}).get("n")}
                                    for c, v in cats.items() if isinstance(v, dict)]})
    return rows


def render_html(report: Any, history: list[RunMetrics]) -> str:
    """The run's report page; `history`: the run metrics of the weeks before it, newest first
    (shared/report/metrics.py), drawn as charts."""
    from shared.report.charts import history_charts

    data = report if isinstance(report, dict) else report.model_dump(mode="json")
    bench = data.get("benchmark") if isinstance(data.get("benchmark"), dict) else {}
    weeks = {f"{m.started_at:%Y-%m-%d}" for m in history}
    return _env().get_template("weekly.html.j2").render(
        r=data, sections=sections(data), bench_rows=benchmark_rows(bench), charts=history_charts(history),
        bench_rest={k: v for k, v in bench.items() if k != "models"},
        history_runs=len(history), history_days=len(weeks), simulated_in_history=any(m.simulated for m in history))


# --- the index ---------------------------------------------------------------------------------
HEADLINE_KEYS = ("models_added", "models_removed", "price_changes", "cycle_duration_s")


def headline(report: Any) -> dict[str, str]:
    """The few figures the index shows per run, as object metadata of report.html (strings), so
    the index is built from a listing without opening every report."""
    data = report if isinstance(report, dict) else report.model_dump(mode="json")
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
    bench = data.get("benchmark") if isinstance(data.get("benchmark"), dict) else {}
    upgrades = data.get("upgrades") if isinstance(data.get("upgrades"), dict) else {}
    figures = {k: summary.get(k) for k in HEADLINE_KEYS}
    figures.update(benchmark=bench.get("verdict") or bench.get("status"), upgrade=upgrades.get("result"))
    return {k: str(v) for k, v in figures.items() if v is not None}


def index_rows(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run from a listing of reports/ (name, metadata), newest first: day, run id,
    SAFE label, headline figures, and the relative link to its page (its HTML, else its Markdown
    for a report written before the HTML existed)."""
    rows: dict[tuple[str, str | None], dict[str, Any]] = {}
    for obj in objects:
        m = _NAME.fullmatch(obj["name"])
        if not m:
            continue
        day, run_id, fmt = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), None, m.group(5))
        row = rows.setdefault((day, run_id), {"day": day, "run_id": run_id, "safe_label": None, "started_at": "",
                                              "figures": {}, "links": {}})
        meta = obj.get("metadata") or {}
        row["safe_label"] = row["safe_label"] or meta.get("safe_label")
        row["started_at"] = row["started_at"] or meta.get("started_at") or ""
        row["links"][fmt] = obj["name"][len("reports/"):]
        if fmt == "html":
            row["figures"] = {k: meta[k] for k in ("benchmark", "upgrade", *HEADLINE_KEYS) if meta.get(k)}
    for row in rows.values():
        row["link"] = row["links"].get("html") or row["links"].get("md") or row["links"].get("json")
    return sorted(rows.values(), key=lambda r: (r["day"], r["started_at"], r["run_id"] or ""), reverse=True)


def render_index(rows: list[dict[str, Any]], now: datetime | None = None) -> str:
    return _env().get_template("index.html.j2").render(rows=rows, now=now or datetime.now(timezone.utc))


# --- writing to the bucket (the reporter) --------------------------------------------------------
def html_path(report: Any) -> str:
    from shared.report import layout

    return layout.run_folder(report) + HTML_NAME


def store_html(bucket: str, report: Any, history: list[RunMetrics]) -> str:
    """Write the run's report.html once (a redelivery keeps the first), then rewrite
    reports/index.html from the bucket's listing; returns the page's gs:// URI."""
    from shared.platform import storage
    from shared.report import layout

    path = html_path(report)
    if not storage.exists(bucket, path):
        storage.create_once(bucket, path, render_html(report, history).encode(), HTML_TYPE,
                            {**layout.object_metadata(report), **headline(report)})
    update_index(bucket)
    return f"gs://{bucket}/{path}"


def update_index(bucket: str) -> bool:
    """Rewrite reports/index.html from the listing of reports/; the listing is read inside the
    generation-checked write, so a writer that lost a race lists again and includes the winner's
    run. True when written (False: unchanged)."""
    from shared.platform import storage

    def decide(current: bytes | None) -> bytes | None:
        rows = index_rows(storage.list_objects(bucket, "reports/", limit=None))
        page = render_index(rows).encode()
        return None if current is not None and _strip_time(current) == _strip_time(page) else page

    return storage.replace_if(bucket, INDEX_PATH, decide, HTML_TYPE)


def _strip_time(page: bytes) -> bytes:
    return re.sub(rb"<time id=\"generated\">[^<]*</time>", b"", page)
