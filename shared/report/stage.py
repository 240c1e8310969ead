"""reporter function logic: the last weekly stage writes the report and closes the run."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.config import get_settings
from shared.cycle import runs
from shared.cycle.protocol import StageResult, run_stage
from shared.log import get_logger, log_context
from shared.messages import ReportPublished, RunContext, StageDone
from shared.pipeline import load_manifest
from shared.platform import pubsub, storage
from shared.platform.events import EventMeta
from shared.report import layout
from shared.report.weekly import (WeeklyReport, build_report, drift_section, render_markdown, report_json,
                                  upgrade_section)

log = get_logger(__name__)
STAGE = "reporter"


def handle_stage_done(done: StageDone, meta: EventMeta) -> None:
    ctx = done.run
    with log_context(run_id=ctx.run_id, stage=STAGE):
        run_stage(ctx, STAGE, lambda started: StageResult(status="succeeded", summary=write_report(ctx, started)))


def latest_drift() -> dict[str, Any] | None:
    """The newest drift check (the report's entry for it)."""
    from shared.catalog.store import repository

    return repository().latest_drift_check()


def gather_upgrades(run: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The run's plan (its top changes), its upgrade outcome and the week's upgrades."""
    from datetime import timedelta

    from shared.planning import plans
    from shared.serving import store as serving_store

    store, serving = plans.repository(), serving_store.repository()
    plan = store.get(run["run_id"])
    top = [{**c.model_dump(mode="json", include={"id", "kind", "target", "decision", "decision_rule", "risk",
                                                 "priority", "rationale", "evidence", "simulated"})}
           for c in (plan.changes if plan else []) if c.id in (plan.top if plan else [])]
    upgrade = serving.upgrade(run["run_id"]) or (run.get("stages") or {}).get("upgrade", {}).get("summary") or {}
    return upgrade_section(upgrade, top, serving.upgrades_since(now - timedelta(days=7)),
                           len(store.reviews("pending")))


def store_report(bucket: str, report: WeeklyReport) -> WeeklyReport:
    """Write the run's report objects once, then move reports/latest.json to it if it is the
    newest run. A redelivery finds them written and keeps them (and returns the stored report,
    so the run record says what its report says); latest.json only moves forward."""
    md_path, json_path = layout.report_paths(report)
    report.paths = {"markdown": f"gs://{bucket}/{md_path}", "json": f"gs://{bucket}/{json_path}"}
    meta = layout.object_metadata(report)
    if not storage.create_once(bucket, json_path, report_json(report), layout.JSON_TYPE, meta):
        report = WeeklyReport.model_validate_json(storage.read_bytes(bucket, json_path))
        log.info("weekly report already written: kept", json=report.paths["json"])
    storage.create_once(bucket, md_path, render_markdown(report).encode(), layout.MARKDOWN_TYPE, meta)
    pointer = layout.latest_pointer(report)
    if not storage.replace_if(bucket, layout.LATEST_PATH, lambda current: layout.advance_latest(current, pointer),
                              layout.JSON_TYPE):
        log.info("reports/latest.json points at a newer run: left", run_id=report.run_id)
    return report


def write_report(ctx: RunContext, started: datetime) -> dict[str, Any]:
    """Build the report from the run record as it stands, write it to the bucket, publish
    ReportPublished; returns the run fields it produced (paths, SAFE and its flags, reasons).
    Also used by the dead-letter consumer for a run that ends in failure."""
    run = runs.get_run(ctx.run_id)
    if run is None:
        raise LookupError(f"weekly run {ctx.run_id} not found")
    from shared.catalog.sync import load_record, model_details

    sync_run_id = (((run.get("stages") or {}).get("catalog_sync") or {}).get("summary") or {}).get("sync_run_id")
    sync = load_record(sync_run_id) if sync_run_id else None
    report = build_report(run, sync, started, model_details(sync.added) if sync else {},
                          gather_upgrades(run, started), drift_section(latest_drift()))
    bucket = get_settings().require_reports_bucket()
    report = store_report(bucket, report)
    from shared.report import metrics, pages

    metrics.record(report)      # once per run; this run is in its own history
    html_uri = pages.store_html(bucket, report, metrics.repository().history(until=report.started_at))
    md_uri, json_uri = report.paths["markdown"], report.paths["json"]
    flags = {"safe": report.safe, "safe_label": report.safe_label, "simulated": report.simulated,
             "demo": report.demo}   # the flags stand next to every `safe`
    log.info("weekly report written", markdown=md_uri, html=html_uri, safe_label=report.safe_label,
             reasons=report.reasons)
    pubsub.publish(load_manifest().output_topic(STAGE), ReportPublished(
        run=ctx, markdown_uri=md_uri, json_uri=json_uri, reasons=report.reasons, **flags),
        run_id=ctx.run_id)
    # as the last stage's summary these complete the run (it ran to its report; SAFE and the
    # reasons say how it went)
    return {"report": {"markdown": md_uri, "json": json_uri, "html": html_uri}, **flags, "reasons": report.reasons}
