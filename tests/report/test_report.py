"""The weekly report's pure parts (shared/report/weekly.py): how the policy's SAFE decision and
checks are reported, Markdown, paths and JSON (the rules themselves: tests/test_policy.py).
Building a report is pure: the records are passed in, nothing is read from Firestore."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared.catalog.sync import SyncRecord
from shared.report import weekly
from shared.report.weekly import (
    MARKDOWN_LIST_LIMIT,
    REQUIRED_CHECKS,
    build_report,
    render_markdown,
    report_json,
)

STARTED = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)
NOW = STARTED + timedelta(minutes=12, seconds=30)
CHAIN = ["catalog_sync", "research_digest", "benchmark", "planner", "upgrade", "reporter"]
REQUIRED = [s for s, _ in REQUIRED_CHECKS]


BENCH_MODEL = {"cases": 24, "scored": 24, "errored": 0, "score": 71.5, "score_ci95": [60.1, 82.9],
               "pass_rate": 0.7083, "latency_avg_s": 0.05, "latency_p95_s": 0.09, "cost_usd": 0.0012,
               "routing_categories": ["programming"], "state": "pass",
               "categories": {"coding": {"n": 4, "score": 75.0, "ci95": [20.0, 100.0]}},
               "regression": {"state": "pass", "level": "ok",
                              "text": "+0.0 points vs baseline 70.8 on 24 paired cases (ok; …): no regression"}}
BENCH_PASS = {"bench_id": "wk-test-1.benchmark-pre", "phase": "pre", "suite": "builtin-v1@v1", "status": "complete",
              "verdict": "pass", "simulated": False, "llm_base_url": "https://openrouter.ai/api/v1", "units": 24,
              "shards": 1, "models": {"sim/steady": BENCH_MODEL}, "estimate": {"usd_upper_bound": 0.01},
              "results_prefix": "gs://b/bench/results/wk-test-1.benchmark-pre/",
              "thresholds": {"alert_points": 5, "critical_points": 15, "alpha": 0.05, "max_error_rate": 0.1}}


def run_dict(statuses: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
    """A synthetic weekly_runs document."""
    statuses = statuses or {}
    stages = {name: {"status": statuses.get(name, "not_implemented")} for name in CHAIN}
    stages["catalog_sync"].setdefault("duration_s", 42.0)
    stages["reporter"] = {"status": statuses.get("reporter", "running")}
    if stages["benchmark"]["status"] == "succeeded":
        stages["benchmark"]["summary"] = BENCH_PASS
    if stages["upgrade"]["status"] == "succeeded":
        stages["upgrade"]["summary"] = {"result": "promoted", "post_benchmark": BENCH_PASS,
                                        "post_change": {"promote": True, "text": "no regression"}}
    return {"run_id": "wk-test-1", "started_at": STARTED, "chain": CHAIN, "stages": stages,
            "options": {"full": True, "dry_run": False, "benchmarks": True, **options}}


def sync_record(**kw: Any) -> SyncRecord:
    """A synthetic sync record without added models (so no Firestore lookups)."""
    base: dict[str, Any] = dict(sync_run_id="sync-test-1", mode="full", started_at=STARTED,
                                source="http://127.0.0.1/api/v1", status="succeeded", added=[],
                                counts={"seen": 100}, duration_s=12.5)
    base.update(kw)
    return SyncRecord(**base)


ALL_OK = {s: "succeeded" for s in REQUIRED}


# --- SAFE rules -------------------------------------------------------------------------------

def test_only_catalog_sync_done_is_unsafe_with_one_reason_per_missing_stage():
    """Stages not implemented are failed checks, each with its own reason."""
    report = build_report(run_dict({"catalog_sync": "succeeded"}), sync_record(), NOW)
    assert report.safe is False
    assert report.reasons == [
        f"{s}: the {s} stage is not implemented yet: this check did not run"
        for s in ["research_digest", "benchmark", "planner", "upgrade"]]
    assert [c.outcome for c in report.checks] == ["passed"] + ["did not run"] * 4
    assert [(c.name, c.passed) for c in report.checks] == [
        ("catalog_sync", True), ("research_digest", False), ("benchmark", False),
        ("planner", False), ("upgrade", False)]


def test_all_required_stages_succeeded_is_safe():
    """All five checks passed and a clean sync → SAFE=true, no reasons."""
    report = build_report(run_dict(ALL_OK), sync_record(), NOW)
    assert report.safe is True and report.reasons == []
    assert all(c.passed for c in report.checks)
    assert [c.detail for c in report.checks if c.name not in ("benchmark", "upgrade")] == ["ran and passed"] * 3
    assert report.safe_label == "SAFE=true" and not report.demo and not report.simulated
    md = render_markdown(report)
    assert "`SAFE=true`" in md and "SAFE=false" not in md
    assert "Every required check ran and passed.\n" in md and "DEMO" not in md


def simulated_run(**options: Any) -> dict[str, Any]:
    run = run_dict(ALL_OK, **options)
    sim = {**BENCH_PASS, "simulated": True, "llm_base_url": "http://127.0.0.1:1/v1",
           "simulated_because": ["LLM base URL listed in SIMULATOR_BASE_URLS"]}
    run["stages"]["benchmark"]["summary"] = sim
    run["stages"]["upgrade"]["summary"] = {"result": "promoted", "post_benchmark": sim,
                                           "post_change": {"promote": True, "text": "no regression"}}
    return run


def test_simulated_benchmark_is_not_safe_outside_demo():
    """Simulated models prove nothing about real ones: SAFE=false outside a run marked demo."""
    report = build_report(simulated_run(), sync_record(), NOW)
    assert report.safe is False and report.simulated is True
    assert report.safe_label == "SAFE=false (simulated models)"
    assert report.reasons[0].startswith("benchmark: the benchmark ran against simulated models")
    md = render_markdown(report)
    assert "`SAFE=false (simulated models)`" in md and "**SIMULATED**" in md


def test_demo_run_reads_safe_true_demo_simulated():
    report = build_report(simulated_run(demo=True), sync_record(), NOW)
    assert report.safe is True and report.demo is True
    md = render_markdown(report)
    assert "`SAFE=true (DEMO: simulated models)`" in md
    assert "This is a **DEMO** run: the benchmark measured simulated models" in md


def test_first_week_baseline_is_reported_as_such_not_as_a_pass():
    run = run_dict(ALL_OK)
    run["stages"]["benchmark"]["summary"] = {**BENCH_PASS, "verdict": "baseline_established", "models": {
        "sim/steady": {**BENCH_MODEL, "state": "baseline_established", "regression": {
            "state": "baseline_established", "text": "baseline established (first complete run …)"}}}}
    report = build_report(run, sync_record(), NOW)
    assert report.safe is False
    md = render_markdown(report)
    assert "| BASELINE ESTABLISHED | baseline established, not yet compared, for sim/steady (programming)" in md


def test_benchmarks_disabled_is_unsafe():
    """benchmarks=false fails the benchmark check even if the stage 'succeeded'."""
    report = build_report(run_dict(ALL_OK, benchmarks=False), sync_record(), NOW)
    assert report.safe is False
    assert report.reasons == ["benchmark: benchmarks were disabled for this run (benchmarks=false): "
                              "nothing was measured"]
    assert report.checks[2].outcome == "did not run"


def test_dry_run_is_unsafe():
    """A dry run is never SAFE, with a reason saying so; the Markdown says DRY RUN."""
    report = build_report(run_dict(ALL_OK, dry_run=True), sync_record(dry_run=True), NOW)
    assert report.safe is False and report.dry_run is True
    assert report.reasons == ["dry run: catalog changes were computed but not applied"]
    assert "**DRY RUN**" in render_markdown(report)


def test_sync_errors_fail_catalog_check():
    """Isolated sync errors fail the catalog_sync check, quoting the first error."""
    report = build_report(run_dict(ALL_OK), sync_record(status="partial",
                                                        errors=["endpoints a/x: HTTP 500", "endpoints a/y: boom"]),
                          NOW)
    assert report.safe is False
    cs = report.checks[0]
    assert cs.name == "catalog_sync" and cs.passed is False
    assert cs.detail == "sync finished with 2 isolated errors: endpoints a/x: HTTP 500 …"
    assert report.reasons == [f"catalog_sync: {cs.detail}"]


def test_failed_stage_reason_carries_error():
    """A failed stage's error appears in its reason; a missing stage is 'pending'."""
    run = run_dict(ALL_OK)
    run["stages"]["planner"] = {"status": "failed", "error": "no plan"}
    del run["stages"]["upgrade"]
    report = build_report(run, sync_record(), NOW)
    assert report.reasons == ["planner: stage failed: no plan", "upgrade: stage pending"]


def test_no_sync_record():
    """Without a sync record the catalog is unavailable and the Markdown says so."""
    report = build_report(run_dict({"catalog_sync": "failed"}), None, NOW)
    assert report.catalog == {"available": False}
    assert report.summary == {"research_findings": None, "research_proposals": None, "cycle_duration_s": 750.0}
    assert report.reasons[0] == "catalog_sync: stage failed"
    md = render_markdown(report)
    assert "No catalog sync record is available for this run" in md
    assert "Raw payloads: none archived" in md


# --- Markdown ---------------------------------------------------------------------------------

def test_unsafe_markdown_lists_reasons():
    """Unsafe: the literal `SAFE=false` and every reason as a bullet."""
    report = build_report(run_dict({"catalog_sync": "succeeded"}), sync_record(), NOW)
    md = render_markdown(report)
    assert "`SAFE=false`" in md and "`SAFE=true`" not in md
    for reason in report.reasons:
        assert f"- {reason}\n" in md
    assert "| research_digest | not_implemented | — |" in md
    assert "| catalog_sync | succeeded | 42.0 s |" in md
    assert "| reporter | writing this report | — |" in md
    assert "Not measured: the benchmark stage is not_implemented. No score is reported." in md


@pytest.mark.parametrize("value, shown", [
    ("0.0000025", "$2.5/M"), ("-1", "dynamic"), (None, "—"), ("0.000015", "$15/M"),
    ("0.00000003", "$0.03/M"), ("0.01", "$10000/M"),
])
def test_price_filter(value, shown):
    """USD per token → USD per million tokens; '-1' is dynamic; None is a dash."""
    assert weekly._price(value) == shown


def test_price_changes_rendered_per_million():
    """Price changes render with the price filter."""
    changes = [{"model_id": "a/m", "changes": {"prompt": {"old": "0.0000025", "new": "-1"},
                                              "image": {"old": None, "new": "0.001"}}}]
    md = render_markdown(build_report(run_dict(ALL_OK), sync_record(price_changes=changes), NOW))
    assert "### Price changes (1)" in md
    assert "- `a/m`: prompt $2.5/M → dynamic; image — → $1000/M" in md


def test_long_removed_list_is_cut():
    """More than MARKDOWN_LIST_LIMIT removed models: the first ones listed, then '… and N more'."""
    removed = [f"a/m{i:03d}" for i in range(MARKDOWN_LIST_LIMIT + 7)]
    report = build_report(run_dict(ALL_OK), sync_record(deactivated=removed), NOW)
    md = render_markdown(report)
    assert f"### Removed models ({MARKDOWN_LIST_LIMIT + 7})" in md
    assert md.count("(marked inactive)") == MARKDOWN_LIST_LIMIT
    assert f"- `a/m{MARKDOWN_LIST_LIMIT - 1:03d}` (marked inactive)" in md
    assert f"`a/m{MARKDOWN_LIST_LIMIT:03d}`" not in md
    assert "- … and 7 more (the JSON report lists all)" in md
    # the JSON keeps all
    assert json.loads(report_json(report))["catalog"]["removed"] == removed


def test_list_at_limit_is_not_cut():
    """Exactly MARKDOWN_LIST_LIMIT entries: no '… and N more' line."""
    removed = [f"a/m{i:03d}" for i in range(MARKDOWN_LIST_LIMIT)]
    md = render_markdown(build_report(run_dict(ALL_OK), sync_record(deactivated=removed), NOW))
    assert md.count("(marked inactive)") == MARKDOWN_LIST_LIMIT and "more (the JSON report" not in md


def test_catalog_sections_rendered():
    """Summary figures, rankings, unavailable models, errors and warnings are shown."""
    rankings = {
        "programming": {"movements": {"first_snapshot": False,
                                      "entered": [{"model_id": "a/x", "rank": 3}], "left": [],
                                      "moved_up": [{"model_id": "a/y", "from": 4, "to": 1}], "moved_down": []}},
        "legal": {"movements": {"first_snapshot": True, "entered": [], "left": [], "moved_up": [],
                                "moved_down": []}},
    }
    rec = sync_record(deactivated=["a/gone"], reactivated=["a/back"], rankings=rankings,
                      endpoints={"unavailable": ["a/down"]}, warnings=["w1"],
                      categories={"added": ["marketing/seo"], "reactivated": [], "deactivated": ["old"]},
                      raw_archive=["gs://b/raw/x/models.json"])
    report = build_report(run_dict({"catalog_sync": "succeeded"}), rec, NOW)
    assert report.summary["models_seen"] == 100
    assert report.summary["models_removed"] == 1 and report.summary["models_reactivated"] == 1
    assert report.summary["categories_with_ranking_movements"] == 1
    assert report.summary["category_changes"] == 2
    assert report.summary["models_unavailable"] == 1
    assert report.summary["cycle_duration_s"] == 750.0
    assert report.catalog["first_rankings"] == ["legal"]
    md = render_markdown(report)
    assert "- **programming**: entered `a/x` at #3; `a/y` up #4→#1;" in md
    assert "First snapshot (no earlier ranking to compare): legal" in md
    assert "- `a/down`\n" in md
    assert "- `a/back`\n" in md
    assert "- added: marketing/seo\n- reactivated: none\n- deactivated: old" in md
    assert "### Warnings\n- w1" in md
    assert "Raw payloads: gs://b/raw/x/models.json" in md
    assert "| Models in feed | 100 |" in md


# --- JSON ---------------------------------------------------------------------------

def test_report_json_round_trips():
    """report_json is valid JSON carrying safe, reasons and checks."""
    report = build_report(run_dict({"catalog_sync": "succeeded"}, dry_run=True), sync_record(), NOW)
    body = json.loads(report_json(report))
    assert body["safe"] is False
    assert body["reasons"] == report.reasons and len(body["reasons"]) == 5
    assert body["reasons"][-1] == "dry run: catalog changes were computed but not applied"
    assert body["run_id"] == "wk-test-1" and body["report_version"] == 3
    assert body["safe_label"] == "SAFE=false" and body["simulated"] is False and body["demo"] is False
    assert body["started_at"] == "2026-03-01T03:00:00Z"
    assert [c["name"] for c in body["checks"]] == REQUIRED
    assert weekly.WeeklyReport.model_validate(body) == report


def test_benchmark_results_section_and_regression_check():
    """A passing benchmark shows its table; a regression fails with the policy's text."""
    report = build_report(run_dict(ALL_OK), sync_record(), NOW)
    md = render_markdown(report)
    assert "**SIMULATED**" not in md and "| `sim/steady` | programming | 71.5 (60.1–82.9) | 71% | 0/24 |" in md
    bad = run_dict(ALL_OK)
    bad["stages"]["benchmark"]["summary"] = {**BENCH_PASS, "verdict": "regression", "models": {"sim/steady": {
        **BENCH_MODEL, "state": "regression",
        "regression": {"state": "regression", "level": "critical", "text": "−20.0 points vs baseline 90.0 …"}}}}
    report = build_report(bad, sync_record(), NOW)
    assert report.safe is False
    assert report.reasons == ["benchmark: 1 of 1 models failed: sim/steady: −20.0 points vs baseline 90.0 …"]


def test_added_models_come_from_the_details_passed_in():
    """The reporter passes the catalog documents of added models; the builder reads nothing."""
    details = {"a/new": {"id": "a/new", "name": "New Model", "pricing": {"prompt": "0.000001",
                                                                        "completion": "0.000002"},
                         "context_length": 128000,
                         "capabilities": {"tools": True, "vision": True, "reasoning": False, "free": "yes",
                                          "input_modalities": ["text", "image", 7]}}}
    report = build_report(run_dict(ALL_OK), sync_record(added=["a/new", "a/gone"]), NOW, details)
    assert report.catalog["added"] == [
        {"id": "a/new", "name": "New Model", "pricing": {"prompt": "0.000001", "completion": "0.000002"},
         "context_length": 128000, "capabilities": ["tools", "vision", "input: image"]},   # "yes" is not True
        {"id": "a/gone", "name": None, "pricing": None, "context_length": None, "capabilities": []}]
    assert ("- `a/new` — New Model (prompt $1/M, completion $2/M); context 128000 tokens; tools, vision, "
            "input: image") in render_markdown(report)


def test_the_upgrades_section_shows_the_top_changes_the_rollback_and_the_week():
    from shared.report.weekly import render_markdown, upgrade_section

    top = [{"id": "routing_primary-1", "kind": "routing_primary", "target": "technology", "decision": "gated",
            "risk": "MEDIUM", "priority": 40.0, "rationale": "b/two leads technology", "simulated": True,
            "evidence": {"sync_runs": ["sync-1"], "ranking_snapshots": ["snap-9"]}}]
    upgrade = {"result": "rolled back", "applied": [], "waiting": {"routing_primary-1": "gated: risk policy: MEDIUM"},
               "post_change": {"text": "1 of 6 comparisons failed"}, "post_benchmark": {"bench_id": "r.benchmark-post"},
               "rollback": {"candidate_version": 3, "kept_version": 2, "reason": "technology (math): −40 points",
                            "figures": [{"route": "technology", "category": "math", "before": "a/one",
                                         "before_pass_rate": 80.0, "after": "b/two", "after_pass_rate": 40.0,
                                         "delta_points": -40.0, "level": "critical", "n": 20}]},
               "metrics": {"candidates": 2, "promoted": 1, "rolled_back": 1}}
    week = [upgrade, {"result": "promoted", "metrics": {"candidates": 1, "promoted": 1, "rolled_back": 0}},
            {"result": "measuring"}]
    section = upgrade_section(upgrade, top, week, pending=1)
    assert section["week"] == {"upgrades": 2, "candidates": 3, "promoted": 2, "rolled_back": 1, "success_rate": 0.6667}
    md = render_markdown(build_report(run_dict(ALL_OK), sync_record(), NOW, upgrades=section))
    assert "Upgrade: **rolled back**" in md and "serving stays at version 2" in md
    assert "- technology / math: a/one 80.0 → b/two 40.0 (-40.0 points, critical, n = 20)" in md
    assert "1. `routing_primary` technology (MEDIUM, gated, SIMULATED evidence, priority 40.0)" in md
    assert "Evidence: sync_runs sync-1; ranking_snapshots snap-9\n" in md and "success rate 66.7%" in md


def test_six_sections_in_order_with_before_after_alerts_and_honest_costs():
    from copy import deepcopy

    from shared.report.weekly import upgrade_section

    run = run_dict(ALL_OK)
    bench = deepcopy(BENCH_PASS)
    bench["simulated"] = True
    bench["models"]["sim/steady"]["cost_usd"] = 0.0123
    bench["models"]["sim/steady"]["categories"] = {"math": {"n": 4, "score": 100.0, "ci95": [51.0, 100.0]}}
    bench["models"]["sim/bad"] = {**bench["models"]["sim/steady"], "routing_categories": ["legal"],
                                  "regression": {"state": "regression", "level": "critical", "text": "−20.0 points"}}
    run["stages"]["benchmark"]["summary"] = bench
    verdict = {"baseline_pass_rate": 80.0, "current_pass_rate": 70.0, "delta_points": -10.0, "delta_ci95": [-25.0, 4.0],
               "p_value": 0.25, "mde_points": 28.0, "n": 20, "state": "warn", "level": "alert"}
    upgrade = {"result": "promoted", "post_change": {"text": "no regression", "comparisons": [
        {"route": "technology", "category": "math", "before": "a/one", "after": "b/two", "verdict": verdict}]},
        "post_benchmark": {"bench_id": "r.benchmark-post"}}
    md = render_markdown(build_report(run, sync_record(), NOW, upgrades=upgrade_section(upgrade, [], [upgrade], 0)))
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## 1. Summary", "## 2. Top 3 upgrades", "## 3. Model catalog changes", "## 4. Benchmark results",
                     "## 5. Research highlights", "## 6. Safety status"]
    assert "none (simulated)" in md and "$0.0123" not in md and "Nothing was spent" in md
    assert "math 100.0 (51.0–100.0, n=4)" in md                  # a small n shows its wide interval
    assert "- **CRITICAL** `sim/bad` (legal): −20.0 points" in md
    assert "| technology | math | `a/one` → `b/two` | 80.0 | 70.0 | -10.0 (-25.0 to +4.0) | 0.250 | 28.0 | warn (alert) |" in md


def test_no_alert_without_a_baseline_says_nothing_was_compared():
    from copy import deepcopy

    run = run_dict(ALL_OK)
    bench = deepcopy(BENCH_PASS)
    bench["models"]["sim/steady"].update(state="baseline_established",
                                         regression={"state": "baseline_established", "text": "baseline established"})
    run["stages"]["benchmark"]["summary"] = bench
    md = render_markdown(build_report(run, sync_record(), NOW))
    assert "No regression alert, but 1 of 1 model(s) had no baseline yet and were not compared." in md


def test_a_benchmark_summary_without_verdict_fields_still_renders():
    """Older or partial summaries (a dead-lettered run, an earlier version) lack fields: no crash."""
    run = run_dict(ALL_OK)
    model = {k: v for k, v in BENCH_MODEL.items() if k != "state"}
    model["regression"] = {"text": "compared"}                      # no state, no level
    run["stages"]["benchmark"]["summary"] = {**BENCH_PASS, "models": {"a/m": model}}
    md = render_markdown(build_report(run, sync_record(), NOW))
    assert "No regression alert: no model dropped" in md


def test_the_newest_drift_check_is_in_the_summary_and_section_3():
    from shared.report.weekly import drift_section

    record = {"check_id": "drift-after-s1", "result": "drift", "finished_at": "2026-11-29T04:00:00Z",
              "counts": {"price_mismatch": 1}, "checks": {"openrouter_db": {"status": "ran"}},
              "findings": [{"kind": "price_mismatch", "what": "a/one", "where": "models/a~one",
                            "expected": {"prompt": "1"}, "found": {"prompt": "9"}}] * 25}
    md = render_markdown(build_report(run_dict(ALL_OK), sync_record(), NOW, drift=drift_section(record)))
    assert "| Drift check | drift (`drift-after-s1`, 2026-11-29T04:00:00Z; section 3) |" in md
    assert "**drift**; checks: openrouter_db ran." in md and md.count("- `price_mismatch` a/one") == 20
    assert "… and 5 more (`drift_checks/drift-after-s1` lists all)" in md
    none = render_markdown(build_report(run_dict(ALL_OK), sync_record(), NOW))
    assert "| Drift check | none has run |" in none and "No drift check has run yet" in none


def test_the_research_section_says_what_the_llm_judge_did_and_spent():
    """The judge's week (calls, decisions, spend from the benchmark's ledger) is in the report, and
    a simulated judge is named as one whose answers decided nothing; without a judge, no line."""
    from datetime import timedelta

    from shared.research.stage import week_digest
    from shared.research.store import InMemoryResearchStore, ScanRecord

    store = InMemoryResearchStore()
    for sid, judge in [("s-1", {"model": "openai/gpt-4o-mini", "min_relevance": 6, "asked": 4, "decided": 3,
                                "flipped": 1, "cost_usd": 0.00125, "simulated": True}), ("s-2", None)]:
        rec = ScanRecord(scan_id=sid, as_of=NOW.date(), window_start=NOW - timedelta(days=2), window_end=NOW,
                         config="t", scorer="t", started_at=NOW - timedelta(hours=1), status="succeeded",
                         judge=judge, counts={"fetched": 10})
        store.claim_scan(rec)
        store.finish_scan(rec)
    run = run_dict(ALL_OK)
    run["stages"]["research_digest"]["summary"] = week_digest(NOW, store=store)
    md = render_markdown(build_report(run, sync_record(), NOW))
    assert ("LLM judge (openai/gpt-4o-mini, borderline items only): 4 calls in 1 scan, 3 items decided, 1 against "
            "the scorers, 0 failed, 0 skipped for budget; $0.0013 charged to the benchmark's spend ledger. "
            "SIMULATED: a simulator answered, and its answers decided nothing.") in md
    run["stages"]["research_digest"]["summary"] = {k: v for k, v in week_digest(NOW, store=store).items()
                                                   if k != "judge"}
    assert "LLM judge" not in render_markdown(build_report(run, sync_record(), NOW))


def test_the_research_section_warns_when_the_catalog_gave_no_model_names():
    run = run_dict(ALL_OK)
    digest = {"since": "2026-11-23 00:00 UTC", "scans": 1, "scans_finished": 1, "findings": 0, "proposals": [],
              "by_impact": {"high": 0, "medium": 0, "low": 0}, "top": [], "source_errors": [], "findings_files": []}
    warning = "Catalog model names gave no release evidence this week"
    for counts, warned in [({"fetched": 3, "catalog_model_families": 0}, True),
                           ({"fetched": 3, "catalog_model_families": 38}, False), ({"fetched": 3}, False)]:
        run["stages"]["research_digest"]["summary"] = {**digest, "counts": counts}
        assert (warning in render_markdown(build_report(run, sync_record(), NOW))) is warned, counts
