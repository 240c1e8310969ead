"""weekly_cycle function logic: create the run record and ask for the first stage's work."""
from __future__ import annotations

from datetime import datetime, timezone

from shared.cycle import runs
from shared.log import get_logger, log_context
from shared.messages import CatalogSyncRequest, WeeklyCycleRequest
from shared.pipeline import load_manifest
from shared.platform import pubsub
from shared.platform.events import EventMeta, note_delivery

log = get_logger(__name__)


def start_weekly_cycle(request: WeeklyCycleRequest, meta: EventMeta) -> str | None:
    run_id = runs.run_id_for(request, meta.message_id, meta.publish_time or datetime.now(timezone.utc))
    with log_context(run_id=run_id, stage="start"):
        note_delivery(meta, "weekly_cycle", "weekly_run", run_id)
        ctx = runs.create_run(request, run_id, meta.message_id)
        if ctx is None:
            return None
        topic = load_manifest().output_topic("weekly_cycle")
        pubsub.publish(topic, CatalogSyncRequest(
            mode="full" if request.full else "quick", dry_run=request.dry_run, run=ctx,
            requested_by=f"weekly:{request.requested_by}"), run_id=run_id)
        return run_id
