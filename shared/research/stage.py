"""research_scan and research_digest function logic."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from shared.config import get_settings
from shared.cycle.protocol import StageResult, run_stage
from shared.log import get_logger, log_context
from shared.messages import JOB_FINISHED, ResearchScanRequest, StageDone
from shared.platform.events import EventMeta, note_delivery
from shared.research import blackboard as bb
from shared.research.store import ResearchStore, ScanRecord, repository

log = get_logger(__name__)
DIGEST_STAGE = "research_digest"
DIGEST_DAYS = 7
DIGEST_TOP = 10
# scan counts that are a level, not an amount: the week's figure is the largest, not the sum
LEVEL_COUNTS = frozenset({"catalog_model_families"})
# the LLM judge's per-scan counts (JudgeStats) summed over the week
JUDGE_COUNTS = ("borderline", "asked", "judged", "invalid", "failed", "cached", "decided", "flipped",
                "skipped_budget", "skipped_max_items", "skipped_time")


def handle_scan_request(request: ResearchScanRequest, meta: EventMeta) -> None:
    from shared.research.scan import run_scan  # parsers and templates: only the scan needs them

    scan_id = request.scan_id or f"scan-{meta.message_id}"
    note_delivery(meta, "research_scan", "research_scan", scan_id)
    with log_context(stage="research-scan", scan_id=scan_id):
        run_scan(get_settings(), scan_id, request.as_of)


def week_digest(now: datetime, days: int = DIGEST_DAYS, store: ResearchStore | None = None) -> dict[str, Any]:
    """What the research agent produced in the last `days` days, for the weekly report. A scan
    still running (even one only claimed) counts among the scans, not the finished ones."""
    store = store or repository()
    since = now - timedelta(days=days)
    scans = store.scans_since(since)
    finished = [s for s in scans if isinstance(s, ScanRecord) and s.status in JOB_FINISHED]
    findings = store.findings_since(since)
    top = sorted(findings, key=lambda d: (-bb.IMPACT_RANK.get(d.get("impact"), 0), -d.get("relevance", 0), d["id"]))
    proposals = store.proposals_since(since)
    counts: dict[str, int] = {}
    for s in finished:
        for k, v in s.counts.items():
            counts[k] = max(counts.get(k, 0), int(v)) if k in LEVEL_COUNTS else counts.get(k, 0) + int(v)
    source_errors = sorted({f"{src.name}: {src.error}" for s in finished
                            for src in s.sources if src.status == "error"})
    judge = judge_week([s.judge for s in finished if isinstance(s.judge, dict)])
    return {
        **({"judge": judge} if judge else {}),
        "since": since, "scans": len(scans), "scans_finished": len(finished),
        "scan_ids": sorted(s.scan_id for s in finished),
        "counts": counts, "findings": len(findings),
        "by_impact": {k: sum(1 for f in findings if f.get("impact") == k) for k in ("high", "medium", "low")},
        "top": [{"id": f["id"], "title": f["title"], "url": f["url"], "impact": f.get("impact"),
                 "relevance": round(f.get("relevance", 0), 2), "topic": f.get("top_topic")}
                for f in top[:DIGEST_TOP]],
        "proposals": [{"id": p["id"], "type": p["type"], "title": p["title"],
                       "catalog_model_id": p.get("catalog_model_id")} for p in
                      sorted(proposals, key=lambda p: p["id"])],
        "source_errors": source_errors[:20],
        "findings_files": sorted({s.findings_uri for s in finished if s.findings_uri}),
    }


def judge_week(stats: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The LLM judge's week: its counts and spend summed over the scans it ran in (None: it ran in
    none). `simulated` when any of those scans asked a simulator (its answers decided nothing)."""
    if not stats:
        return None

    def number(value: Any) -> float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

    out: dict[str, Any] = {k: int(sum(number(s.get(k)) for s in stats)) for k in JUDGE_COUNTS}
    out.update(scans=len(stats), cost_usd=round(sum(number(s.get("cost_usd")) for s in stats), 6),
               simulated=any(s.get("simulated") is True for s in stats),
               models=sorted({str(s["model"])[:200] for s in stats if s.get("model")}))
    return out


def handle_digest(done: StageDone, meta: EventMeta) -> None:
    ctx = done.run

    def work(started: datetime) -> StageResult:
        digest = week_digest(datetime.now(timezone.utc))
        ok = digest["scans_finished"] > 0
        error = None if ok else f"no research scan finished in the last {DIGEST_DAYS} days"
        return StageResult(status="succeeded" if ok else "failed", summary=digest, error=error)

    with log_context(run_id=ctx.run_id, stage=DIGEST_STAGE):
        run_stage(ctx, DIGEST_STAGE, work)
