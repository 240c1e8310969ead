"""The weekly report: what changed, what was measured, and SAFE=true|false with reasons.

The report states only what the run record and the sync record hold. Which checks pass and
whether the run is SAFE is decided by shared/policy.py; a stage that did not run is never an
assumed pass. Building it is pure: the reporter (shared/report/stage.py) reads the records and
passes them in, so the report is tested without emulators.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared import policy
from shared.catalog.sync import SyncRecord
from shared.text import markdown_templates

REPORT_VERSION = 3      # 3: six sections (summary, top upgrades, catalog, benchmark before/after, research,
#                          safety); 2: SAFE label, demo/simulated flags, check outcomes (shared/policy.py)
MARKDOWN_LIST_LIMIT = 60  # longer lists are cut in Markdown; the JSON report keeps all
REQUIRED_CHECKS = policy.REQUIRED_CHECKS


class WeeklyReport(BaseModel):
    report_version: int = REPORT_VERSION
    run_id: str
    generated_at: datetime
    started_at: datetime | None
    options: dict[str, Any]
    dry_run: bool
    safe: bool
    safe_label: str
    demo: bool
    simulated: bool
    reasons: list[str]
    checks: list[policy.Check]
    stages: list[dict[str, Any]]
    summary: dict[str, Any]
    catalog: dict[str, Any]
    research: dict[str, Any] = {}
    benchmark: dict[str, Any] = {}
    upgrades: dict[str, Any] = {}
    drift: dict[str, Any] = {}
    paths: dict[str, str] = {}


def capability_list(caps: Any) -> list[str]:
    """A catalog model's capabilities as short words (tools, vision, reasoning, json, free...)."""
    if not isinstance(caps, dict):
        return []
    words = {"tools": "tools", "structured_output": "structured output", "reasoning": "reasoning",
             "vision": "vision", "free": "free", "dynamic_pricing": "dynamic pricing"}
    out = [word for key, word in words.items() if caps.get(key) is True]
    inputs = [m for m in caps.get("input_modalities") or [] if isinstance(m, str) and m != "text"]
    return out + [f"input: {m}" for m in inputs]


def regression_alerts(benchmark: dict[str, Any]) -> list[dict[str, Any]]:
    """Models whose pre-change run dropped to the alert or critical level against their baseline."""
    out = []
    for model, m in (benchmark.get("models") or {}).items():
        verdict = m.get("regression") or {}
        if verdict.get("level") in ("alert", "critical"):
            out.append({"model": model, "level": verdict["level"], "state": verdict.get("state"),
                        "routing_categories": m.get("routing_categories") or [], "text": verdict.get("text")})
    return sorted(out, key=lambda a: (a["level"] != "critical", a["model"]))


def before_after(upgrade: dict[str, Any]) -> list[dict[str, Any]]:
    """Each changed route per benchmark category: the pre score (what it served), the post score
    (what the candidate serves), the change with its CI, the verdict with p-value and MDE."""
    rows = []
    for c in (upgrade.get("post_change") or {}).get("comparisons") or []:
        v = c.get("verdict") or {}
        rows.append({"route": c.get("route"), "category": c.get("category"), "before": c.get("before"),
                     "after": c.get("after"), "pre": v.get("baseline_pass_rate"), "post": v.get("current_pass_rate"),
                     "delta": v.get("delta_points"), "ci": v.get("delta_ci95"), "p_value": v.get("p_value"),
                     "mde": v.get("mde_points"), "n": v.get("n"), "state": v.get("state"), "level": v.get("level")})
    return rows


DRIFT_FINDINGS_SHOWN = 20


def drift_section(record: dict[str, Any] | None) -> dict[str, Any]:
    """The newest drift check as the report shows it (shared/catalog/drift.py writes the record)."""
    if not record:
        return {}
    findings = record.get("findings") or []
    return {"check_id": record.get("check_id"), "result": record.get("result"),
            "finished_at": str(record.get("finished_at")), "counts": record.get("counts") or {},
            "checks": {n: (c or {}).get("status") for n, c in (record.get("checks") or {}).items()},
            "findings": findings[:DRIFT_FINDINGS_SHOWN], "more": max(0, len(findings) - DRIFT_FINDINGS_SHOWN)}


def upgrade_section(upgrade: dict[str, Any], top: list[dict[str, Any]], week: list[dict[str, Any]],
                    pending: int) -> dict[str, Any]:
    """The report's upgrade facts: the top changes with their evidence, what this run's upgrade
    did (applied, waiting and why, post-change verdict or rollback) and the week's metrics over
    every upgrade (weekly and operators' applies)."""
    metrics = [u.get("metrics") or {} for u in week if u.get("result") != "measuring"]
    attempted = sum(m.get("candidates") or 0 for m in metrics)
    promoted = sum(m.get("promoted") or 0 for m in metrics)
    return {"result": upgrade.get("result"), "promoted_version": upgrade.get("promoted_version"),
            "applied": upgrade.get("applied") or [], "waiting": upgrade.get("waiting") or {},
            "post_change": (upgrade.get("post_change") or {}).get("text"),
            "before_after": before_after(upgrade),
            "post_bench_id": (upgrade.get("post_benchmark") or {}).get("bench_id"),
            "rollback": upgrade.get("rollback"), "reviews_pending": pending,
            "top": [{**c, "evidence_text": "; ".join(f"{k} {', '.join(ids)}"
                                                     for k, ids in (c.get("evidence") or {}).items())
                     or "none recorded"} for c in top],
            "week": {"upgrades": len(metrics), "candidates": attempted, "promoted": promoted,
                     "rolled_back": sum(m.get("rolled_back") or 0 for m in metrics),
                     "success_rate": round(promoted / attempted, 4) if attempted else None}}


def build_report(run: dict[str, Any], sync: SyncRecord | None, now: datetime,
                 added_details: dict[str, dict[str, Any]] | None = None,
                 upgrades: dict[str, Any] | None = None, drift: dict[str, Any] | None = None) -> WeeklyReport:
    """`added_details`: catalog documents (name, pricing) of the models the sync added;
    `upgrades`: upgrade_section(...) of the run; `drift`: drift_section(newest drift check) (the
    reporter gathers both)."""
    options = run.get("options") or {}
    stages_state = run.get("stages") or {}
    checks = policy.required_checks(stages_state, options, policy.SyncFacts(
        found=sync is not None, status=sync.status if sync is not None else None,
        errors=sync.errors if sync is not None else []))
    bench_summary = (stages_state.get("benchmark") or {}).get("summary") or {}
    decision = policy.decide_safe(checks, options, simulated=bool(bench_summary.get("simulated")))
    stages = []
    for name in run.get("chain") or list(stages_state):
        st = stages_state.get(name) or {}
        status = st.get("status", "pending")
        if name == "reporter" and status == "running":
            status = "writing this report"
        stages.append({"stage": name, "status": status, "duration_s": st.get("duration_s"),
                       "error": st.get("error"), "attempts": st.get("attempts"),
                       "takeovers": st.get("takeovers") or 0})
    catalog: dict[str, Any] = {"available": sync is not None}
    summary: dict[str, Any] = {}
    if sync is not None:
        details = added_details or {}
        rank_moves = {slug: info["movements"] for slug, info in sync.rankings.items()}
        moved = {s: m for s, m in rank_moves.items()
                 if m.get("entered") or m.get("left") or m.get("moved_up") or m.get("moved_down")}
        catalog = {
            "available": True, "sync_run_id": sync.sync_run_id, "mode": sync.mode,
            "status": sync.status, "error": sync.error, "source": sync.source,
            "added": [{"id": i, "name": details.get(i, {}).get("name"),
                       "pricing": details.get(i, {}).get("pricing"),
                       "context_length": details.get(i, {}).get("context_length"),
                       "capabilities": capability_list(details.get(i, {}).get("capabilities"))} for i in sync.added],
            "removed": sync.deactivated, "reactivated": sync.reactivated,
            "price_changes": sync.price_changes, "categories": sync.categories,
            "ranking_movements": moved,
            "first_rankings": sorted(s for s, m in rank_moves.items() if m.get("first_snapshot")),
            "routing_seeded": sync.routing_seeded,
            "unavailable": (sync.endpoints or {}).get("unavailable", []),
            "rejected": [r.model_dump() for r in sync.rejected],
            "errors": sync.errors, "warnings": sync.warnings, "raw_archive": sync.raw_archive,
        }
        summary = {
            "models_seen": sync.counts.get("seen"),
            "models_added": len(sync.added), "models_removed": len(sync.deactivated),
            "models_reactivated": len(sync.reactivated), "price_changes": len(sync.price_changes),
            "category_changes": sum(len(v) for v in sync.categories.values()),
            "categories_with_ranking_movements": len(moved),
            "models_unavailable": len(catalog["unavailable"]),
            "rejected_entries": len(sync.rejected),
            "sync_duration_s": sync.duration_s,
        }
    digest_state = stages_state.get("research_digest") or {}
    research = {"status": digest_state.get("status", "pending"), "error": digest_state.get("error"),
                **(digest_state.get("summary") or {})}
    if research.get("since") is not None:
        since = research["since"]
        research["since"] = since.strftime("%Y-%m-%d %H:%M UTC") if hasattr(since, "strftime") else str(since)
    bench_state = stages_state.get("benchmark") or {}
    benchmark = {"status": bench_state.get("status", "pending"), "error": bench_state.get("error"),
                 **(bench_state.get("summary") or {})}
    benchmark["alerts"] = regression_alerts(benchmark)
    benchmark["not_compared"] = sorted(m for m, v in (benchmark.get("models") or {}).items()
                                       if (v.get("regression") or {}).get("state") == "baseline_established")
    summary["research_findings"] = research.get("findings")
    summary["research_proposals"] = len(research.get("proposals") or []) if "proposals" in research else None
    started = run.get("started_at")
    summary["cycle_duration_s"] = round((now - started).total_seconds(), 1) if started else None
    return WeeklyReport(run_id=run["run_id"], generated_at=now, started_at=started, options=options,
                        dry_run=bool(options.get("dry_run")), safe=decision.safe, safe_label=decision.label,
                        demo=decision.demo, simulated=decision.simulated, reasons=decision.reasons,
                        checks=checks, stages=stages, summary=summary, catalog=catalog,
                        research=research, benchmark=benchmark, upgrades=upgrades or {}, drift=drift or {})


_env = markdown_templates("shared.report")


def _price(value: str | None) -> str:
    """USD per token → USD per million tokens, the unit operators read."""
    if value is None:
        return "—"
    if value == "-1":
        return "dynamic"
    from decimal import Decimal

    return f"${(Decimal(value) * 1_000_000).normalize():f}/M"


_env.filters["price"] = _price


def render_markdown(report: WeeklyReport) -> str:
    return _env.get_template("weekly.md.j2").render(r=report.model_dump(mode="json"),
                                                     list_limit=MARKDOWN_LIST_LIMIT)


def report_json(report: WeeklyReport) -> bytes:
    return json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=False).encode()
