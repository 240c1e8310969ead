"""Time to render the HTML report with a year of history, and the reporter's import time (perf script).

    .venv/bin/python -m perf.report_render [--repeats 5] [--weeks 52] [--models 6]

The report: a synthetic run with every stage succeeded and a benchmark of `--models` routed
models over the built-in suite's six categories; the history: `--weeks` weekly runs with a score
per model and category, stage and sync durations and upgrade figures (what shared/report/metrics.py
stores). Rendering is timed in-process (median of repeats; the first render, which imports
pygal, is reported apart). The reporter's module load is timed in fresh interpreters the way
functions-framework loads it (perf/load_function.py), and pygal's own import beside it.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.catalog.sync import SyncRecord  # noqa: E402
from shared.report.metrics import RunMetrics, Score  # noqa: E402
from shared.report.weekly import build_report, render_markdown, upgrade_section  # noqa: E402

STARTED = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
CATEGORIES = ["coding", "creative_writing", "factual", "math", "multi_hop", "reasoning"]
CHAIN = ["catalog_sync", "research_digest", "benchmark", "planner", "upgrade", "reporter"]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def report(models: int):
    bench_models = {f"vendor-{i}/model-{i}": {
        "cases": 24, "scored": 24, "errored": 0, "score": 60.0 + i, "score_ci95": [50.0, 70.0], "pass_rate": 0.6,
        "latency_avg_s": 0.5, "latency_p95_s": 0.9, "cost_usd": 0.01, "routing_categories": ["programming"],
        "categories": {c: {"n": 4, "score": 50.0 + i, "ci95": [20.0, 80.0]} for c in CATEGORIES},
        "regression": {"state": "pass", "text": "no regression"}} for i in range(models)}
    bench = {"bench_id": "perf.benchmark-pre", "phase": "pre", "suite": "builtin-v1@v1", "status": "complete",
             "verdict": "pass", "simulated": False, "llm_base_url": "https://llm", "units": 24 * models,
             "shards": 1, "models": bench_models, "estimate": {"usd_upper_bound": 1.0}, "results_prefix": "gs://b/r/",
             "thresholds": {"alert_points": 5, "critical_points": 15, "alpha": 0.05}}
    stages = {s: {"status": "succeeded", "duration_s": 30.0} for s in CHAIN}
    stages["benchmark"]["summary"] = bench
    run = {"run_id": "weekly-2026-W48", "started_at": STARTED, "chain": CHAIN, "stages": stages,
           "options": {"full": True, "dry_run": False, "benchmarks": True}}
    sync = SyncRecord(sync_run_id="sync-perf", mode="full", started_at=STARTED, source="https://feed",
                      status="succeeded", added=[], counts={"seen": 371}, duration_s=14.0)
    week = [{"result": "promoted", "metrics": {"candidates": 3, "promoted": 2, "rolled_back": 1}}]
    upgrades = upgrade_section({"result": "promoted", "promoted_version": 3}, [], week, 0)
    return build_report(run, sync, STARTED + timedelta(minutes=20), {}, upgrades)


def history(weeks: int, models: int) -> list[RunMetrics]:
    out = []
    for w in range(weeks):
        scores = [Score(model=f"vendor-{i}/model-{i}", category=c, score=50.0 + (w + i) % 20, n=4)
                  for i in range(models) for c in [None, *CATEGORIES]]
        out.append(RunMetrics(run_id=f"weekly-{w}", started_at=STARTED - timedelta(weeks=w), safe=True,
                              safe_label="SAFE=true", cycle_duration_s=1200.0 + w, sync_duration_s=14.0 + w % 3,
                              stage_durations_s={s: 30.0 + w % 5 for s in CHAIN}, benchmark_scores=scores,
                              upgrade_attempts=3, upgrade_promotions=2, upgrade_success_rate=0.6667))
    return out


def load_time(repeats: int) -> float:
    """Median module load of the reporter in fresh interpreters, as functions-framework loads it (s)."""
    src = str(REPO / "functions" / "reporter" / "main.py")
    return statistics.median(float(subprocess.run([sys.executable, str(REPO / "perf" / "load_function.py"), src],
                                                  capture_output=True, text=True, cwd=REPO, check=True)
                                   .stdout.split()[1]) for _ in range(repeats))


def pygal_import(repeats: int) -> float:
    code = "import time; t = time.perf_counter(); import pygal; print(time.perf_counter() - t)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                  check=True).stdout) for _ in range(repeats))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--weeks", type=int, default=52)
    p.add_argument("--models", type=int, default=6)
    args = p.parse_args()
    from shared.report.pages import render_html

    rep, hist = report(args.models), history(args.weeks, args.models)
    t = time.perf_counter()
    html = render_html(rep, hist)
    first = time.perf_counter() - t
    times, md_times = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        render_html(rep, hist)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        render_markdown(rep)
        md_times.append(time.perf_counter() - t)
    print(f"machine: {machine()}")
    print(f"render_html, {args.weeks} weeks of history, {args.models} models x {len(CATEGORIES)} categories "
          f"({html.count('<svg')} charts, {len(html) / 1024:.0f} KiB): median {statistics.median(times) * 1000:.0f} ms "
          f"of {args.repeats} (first, with the pygal import: {first * 1000:.0f} ms); "
          f"render_markdown {statistics.median(md_times) * 1000:.1f} ms")
    print(f"reporter module load (fresh interpreters, median of {args.repeats}): "
          f"{load_time(args.repeats) * 1000:.0f} ms; pygal imported lazily at the first render: "
          f"{pygal_import(args.repeats) * 1000:.0f} ms on its own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
