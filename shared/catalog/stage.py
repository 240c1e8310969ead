"""catalog_sync function logic: a standalone sync, or the weekly chain's first stage."""
from __future__ import annotations

from datetime import datetime

from shared.catalog.sync import run_sync
from shared.config import get_settings
from shared.cycle.protocol import StageResult, run_stage
from shared.log import get_logger, log_context
from shared.messages import JOB_FINISHED, CatalogSyncRequest
from shared.platform.events import EventMeta, note_delivery

log = get_logger(__name__)
STAGE = "catalog_sync"


def handle_sync_request(request: CatalogSyncRequest, meta: EventMeta) -> None:
    settings = get_settings()
    if request.run is None:
        sync_run_id = request.request_id or f"msg-{meta.message_id}"
        note_delivery(meta, STAGE, "sync_run", sync_run_id)
        with log_context(stage=f"sync-{request.mode}", sync_run_id=sync_run_id):
            run_sync(settings, request.mode, sync_run_id, dry_run=request.dry_run)
        return

    ctx = request.run

    def work(started: datetime) -> StageResult:
        rec = run_sync(settings, request.mode, f"{ctx.run_id}.{STAGE}",
                       dry_run=request.dry_run or ctx.options.dry_run, weekly_run_id=ctx.run_id)
        summary = {"sync_run_id": rec.sync_run_id, "mode": rec.mode, "sync_status": rec.status,
                   "counts": rec.counts, "errors": len(rec.errors)}
        ok = rec.status in JOB_FINISHED
        return StageResult(status="succeeded" if ok else "failed", summary=summary, error=rec.error)

    with log_context(run_id=ctx.run_id, stage=STAGE):
        run_stage(ctx, STAGE, work)
