"""dead_letters function logic: a message that failed every delivery attempt ends its weekly run.

Pub/Sub forwards a message to the dead-letter topic after the subscription's
max_delivery_attempts, with the source subscription in its attributes. Each dead letter is kept
(shared/platform/message_log.py: function, attempts, attributes, the redacted payload, the record
it named) so an operator can read and replay it. When it belonged to a weekly run, the stage it carried is
marked failed, the report is written with that failure in it, and the run ends `failed`: a run
never stays `running` because its message died.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.cycle import runs
from shared.log import get_logger
from shared.messages import (BenchmarkMessage, CatalogSyncRequest, ResearchScanRequest, RunContext,
                             StageDone, WeeklyCycleRequest)
from shared.platform import message_log
from shared.platform.events import EventMeta
from shared.platform.leases import TERMINAL
from shared.redaction import redact

log = get_logger(__name__)
# a log-based metric counts these lines (terraform/monitoring.tf): change both together
DEAD_LETTER_LOG = "message dead-lettered after every delivery attempt"


class AnyMessage(BaseModel):
    """A dead letter's body: any JSON object (it is validated against its function's contract below)."""
    model_config = ConfigDict(extra="allow")


def source_function(meta: EventMeta) -> str | None:
    """`projects/p/subscriptions/<function>-push` → `<function>` (the local stack and Terraform
    name push subscriptions this way)."""
    sub = meta.attributes.get("CloudPubSubDeadLetterSourceSubscription", "")
    name = sub.rsplit("/", 1)[-1]
    return name[:-len("-push")] if name.endswith("-push") else None


def weekly_stage_of(function: str | None, body: dict[str, Any]) -> tuple[RunContext, str] | None:
    """(run, stage) when the dead message carried a weekly-chain stage's work."""
    try:
        if function == "catalog_sync":
            req = CatalogSyncRequest.model_validate(body)
            return (req.run, "catalog_sync") if req.run else None
        if function in ("research_digest", "planner", "upgrade", "reporter"):
            return StageDone.model_validate(body).run, function
        if function == "benchmark":
            from shared.bench import fanout
            msg = BenchmarkMessage.model_validate(body).root
            if isinstance(msg, StageDone):
                return msg.run, "benchmark"
            bench = fanout.load_bench(getattr(msg, "bench_id", None) or "") or {}
            if bench.get("weekly_ctx"):
                return RunContext.model_validate(bench["weekly_ctx"]), "benchmark"
            return None
        if function in ("weekly_cycle", "research_scan"):
            (WeeklyCycleRequest if function == "weekly_cycle" else ResearchScanRequest).model_validate(body)
            return None
    except ValidationError as exc:
        log.error("dead letter does not match its function's contract", function=function, error=str(exc)[:300])
    return None


def handle_dead_letter(message: AnyMessage, meta: EventMeta) -> None:
    body = message.model_dump()
    function = source_function(meta)
    attempts = meta.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount")
    found = weekly_stage_of(function, body)
    record = {"function": function, "delivery_attempts": attempts, "attributes": meta.attributes,
              "published_at": meta.publish_time, "topic": _trigger_topic(function),
              "run_id": found[0].run_id if found else None, "stage": found[1] if found else None}
    message_log.keep_dead_letter(meta.message_id, record, body)
    log.error(DEAD_LETTER_LOG, function=function, attempts=attempts,
              dead_letter_id=meta.message_id, run_id=record["run_id"], stage=record["stage"])
    if found:
        ctx, stage = found
        end_run_in_failure(ctx, stage, f"its message was dead-lettered after {attempts or 'all'} delivery "
                                       f"attempts (dead_letters/{meta.message_id})")


def _trigger_topic(function: str | None) -> str | None:
    """The topic the dead message was first published to (its function's trigger)."""
    from shared.pipeline import load_manifest

    try:
        return load_manifest().function(function).trigger_topic if function else None
    except (KeyError, ValueError):
        return None


def end_run_in_failure(ctx: RunContext, stage: str, reason: str) -> None:
    """Mark `stage` failed, write the report with the failure in it, end the run `failed`."""
    from shared.report.stage import write_report

    repo = runs.repository()
    run = repo.get(ctx.run_id)
    if run is None or run.get("status") != "running":
        log.warning("dead letter for a run that is not running; nothing to end", run_id=ctx.run_id,
                    status=(run or {}).get("status"))
        return
    now = datetime.now(timezone.utc)
    if ((run.get("stages") or {}).get(stage) or {}).get("status") not in TERMINAL:
        repo.update_stages(ctx.run_id, {stage: {"status": "failed", "error": reason, "finished_at": now}})
    try:
        fields = write_report(ctx, now)
    except Exception as exc:     # the run still ends: a failed run without a report says why
        log.error("report for the failed run could not be written", exc_info=True)
        fields = {"report_error": redact(f"{exc.__class__.__name__}: {exc}")[:500]}
    repo.finish_run(ctx.run_id, "failed", {**fields, "failure": f"{stage}: {reason}"})
    log.error("weekly run ended in failure", run_id=ctx.run_id, stage=stage, reason=reason)
