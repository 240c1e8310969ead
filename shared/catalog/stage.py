"""catalog_sync function logic: a standalone sync, or the weekly chain's first stage."""
from __future__ import annotations

from datetime import datetime, timezone

from shared.catalog.sync import SyncRecord, run_sync
from shared.config import get_settings
from shared.cycle.protocol import StageResult, run_stage
from shared.log import get_logger, log_context
from shared.messages import JOB_FINISHED, CatalogSyncRequest
from shared.platform.events import EventMeta, note_delivery

log = get_logger(__name__)
STAGE = "catalog_sync"


def serve_first_catalog(rec: SyncRecord) -> None:
    """Serving version 1 comes from the first sync that stored a catalog (later ones change what
    is served only through the planner)."""
    if rec.dry_run or rec.status not in JOB_FINISHED or rec.mode == "rankings":
        return
    from shared.catalog import store as catalog_store
    from shared.serving import store as serving_store
    from shared.serving.bootstrap import ensure_version_one

    try:
        ensure_version_one(catalog_store.repository(), serving_store.repository(), datetime.now(timezone.utc),
                           f"sync:{rec.sync_run_id}")
    except Exception as exc:        # the first plan makes it then; the sync itself succeeded
        log.warning("serving version 1 not made", error=f"{exc.__class__.__name__}: {exc}")


def ask_for_drift_check(rec: SyncRecord) -> None:
    """A full sync that stored a catalog is followed by a drift check (once: its id is the sync's,
    and a redelivered sync is a "duplicate" that asks nothing). The daily check is the fallback."""
    if rec.dry_run or rec.mode != "full" or rec.status not in JOB_FINISHED:
        return
    from shared.catalog.drift_request import request_drift_check

    try:
        request_drift_check(f"drift-after-{rec.sync_run_id}", f"sync:{rec.sync_run_id}")
    except Exception as exc:        # the sync succeeded; the daily drift check still runs
        log.error("drift check after the sync not requested", error=f"{exc.__class__.__name__}: {exc}")


def handle_sync_request(request: CatalogSyncRequest, meta: EventMeta) -> None:
    settings = get_settings()
    if request.run is None:
        sync_run_id = request.request_id or f"msg-{meta.message_id}"
        note_delivery(meta, STAGE, "sync_run", sync_run_id)
        with log_context(stage=f"sync-{request.mode}", sync_run_id=sync_run_id):
            rec = run_sync(settings, request.mode, sync_run_id, dry_run=request.dry_run)
            serve_first_catalog(rec)
            ask_for_drift_check(rec)
        return

    ctx = request.run

    def work(started: datetime) -> StageResult:
        rec = run_sync(settings, request.mode, f"{ctx.run_id}.{STAGE}",
                       dry_run=request.dry_run or ctx.options.dry_run, weekly_run_id=ctx.run_id)
        serve_first_catalog(rec)
        ask_for_drift_check(rec)
        summary = {"sync_run_id": rec.sync_run_id, "mode": rec.mode, "sync_status": rec.status,
                   "counts": rec.counts, "errors": len(rec.errors)}
        ok = rec.status in JOB_FINISHED
        return StageResult(status="succeeded" if ok else "failed", summary=summary, error=rec.error)

    with log_context(run_id=ctx.run_id, stage=STAGE):
        run_stage(ctx, STAGE, work)
