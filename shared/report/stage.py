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
from shared.report.weekly import build_report, render_markdown, report_json, report_paths, upgrade_section

log = get_logger(__name__)
STAGE = "reporter"


def handle_stage_done(done: StageDone, meta: EventMeta) -> None:
    ctx = done.run
    with log_context(run_id=ctx.run_id, stage=STAGE):
        run_stage(ctx, STAGE, lambda started: StageResult(status="succeeded", summary=write_report(ctx, started)))


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
                          gather_upgrades(run, started))
    bucket = get_settings().require_reports_bucket()
    md_path, json_path = report_paths(report)
    md_uri = f"gs://{bucket}/{md_path}"
    json_uri = f"gs://{bucket}/{json_path}"
    report.paths = {"markdown": md_uri, "json": json_uri}
    storage.write_bytes(bucket, json_path, report_json(report), "application/json")
    storage.write_bytes(bucket, md_path, render_markdown(report).encode(), "text/markdown; charset=utf-8")
    flags = {"safe": report.safe, "safe_label": report.safe_label, "simulated": report.simulated,
             "demo": report.demo}   # the flags stand next to every `safe`
    log.info("weekly report written", markdown=md_uri, safe_label=report.safe_label, reasons=report.reasons)
    pubsub.publish(load_manifest().output_topic(STAGE), ReportPublished(
        run=ctx, markdown_uri=md_uri, json_uri=json_uri, reasons=report.reasons, **flags),
        run_id=ctx.run_id)
    # as the last stage's summary these complete the run (it ran to its report; SAFE and the
    # reasons say how it went)
    return {"report": {"markdown": md_uri, "json": json_uri}, **flags, "reasons": report.reasons}
