"""History charts of the weekly report as inline SVG (pygal, no browser, no JavaScript).

pygal always adds a <script> (its tooltip config) and comments naming its web site; both are
removed from the tree, so a chart is pure SVG that requests nothing and runs nothing. Text in a
chart (model names are outside input) is escaped by the XML serializer. pygal is imported inside
the functions: the reporter pays its import only when it renders (perf/import_time.py).
"""
from __future__ import annotations

from typing import Any

from shared.report.metrics import RunMetrics

MAX_CATEGORY_CHARTS = 12
WIDTH, HEIGHT = 860, 340


def _svg(chart: Any) -> str:
    import xml.etree.ElementTree as ET

    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            tag = child.tag if isinstance(child.tag, str) else ""
            if child.tag is ET.Comment or tag.rsplit("}", 1)[-1] in ("script", "a"):
                parent.remove(child)
    return ET.tostring(tree, encoding="unicode")


def _line(title: str, labels: list[str], series: dict[str, list[float | None]], y_title: str,
          y_range: tuple[float, float] | None = None) -> str:
    import pygal

    many = len(labels) > 14     # a long history: lines only (a dot per point quadruples the SVG)
    chart = pygal.Line(js=[], disable_xml_declaration=True, width=WIDTH, height=HEIGHT, title=title,
                       y_title=y_title, legend_at_bottom=True, truncate_legend=48, x_label_rotation=30,
                       show_minor_x_labels=not many, x_labels_major_every=4 if many else None,
                       show_dots=not many, range=y_range, include_x_axis=y_range is None,
                       allow_interruptions=True, no_data_text="no data")
    chart.x_labels = labels
    for name, values in series.items():
        chart.add(name, values)
    return _svg(chart)


def labels(history: list[RunMetrics]) -> list[str]:
    """One x label per run, oldest first: its day; `*` marks a run whose benchmark was simulated."""
    return [f"{m.started_at:%Y-%m-%d}{'*' if m.simulated else ''}" for m in history]


def score_series(history: list[RunMetrics], category: str | None) -> dict[str, list[float | None]]:
    """Per model, its score in `category` (None: overall) at each run (None where not measured)."""
    models = sorted({s.model for m in history for s in m.benchmark_scores if s.category == category})
    table = [{s.model: s.score for s in m.benchmark_scores if s.category == category} for m in history]
    return {model: [row.get(model) for row in table] for model in models}


def categories(history: list[RunMetrics]) -> list[str]:
    return sorted({s.category for m in history for s in m.benchmark_scores if s.category is not None})


def history_charts(history: list[RunMetrics]) -> list[dict[str, str]]:
    """The charts of a history (newest first, as the repository returns it): {id, title, svg}
    or, where nothing was measured, {id, title, empty: why}."""
    runs = list(reversed(history))
    x = labels(runs)
    out: list[dict[str, str]] = []

    def add(key: str, title: str, series: dict[str, list[float | None]], y_title: str,
            y_range: tuple[float, float] | None = None, empty: str = "nothing measured") -> None:
        if any(v is not None for values in series.values() for v in values):
            out.append({"id": key, "title": title, "svg": _line(title, x, series, y_title, y_range)})
        else:
            out.append({"id": key, "title": title, "empty": empty})

    no_scores = "no benchmark scores in this period"
    add("score-overall", "Benchmark score per routed model (all categories)", score_series(runs, None),
        "points", (0, 100), no_scores)
    for cat in categories(runs)[:MAX_CATEGORY_CHARTS]:
        add(f"score-{cat}", f"Benchmark score per routed model: {cat}", score_series(runs, cat), "points",
            (0, 100), no_scores)
    add("durations", "Cycle and catalog sync duration",
        {"cycle (start to report)": [m.cycle_duration_s for m in runs],
         "catalog sync": [m.sync_duration_s for m in runs]}, "seconds")
    stages = sorted({s for m in runs for s, d in m.stage_durations_s.items() if d is not None})
    add("stages", "Stage durations", {s: [m.stage_durations_s.get(s) for m in runs] for s in stages}, "seconds")
    add("upgrades", "Upgrade success rate (promoted / candidates, 7 days to each run)",
        {"success rate": [None if m.upgrade_success_rate is None else round(100 * m.upgrade_success_rate, 1)
                          for m in runs]}, "%", (0, 100), "no upgrade candidates in this period")
    return out
