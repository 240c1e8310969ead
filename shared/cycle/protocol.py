"""The stage protocol: every weekly-chain stage is one function `work(started) -> StageResult`;
`run_stage` does everything else, the same way for every stage.

- **Claim with a live lease.** The stage is claimed in the run record; while the work runs a
  heartbeat keeps the lease live (`STAGE_LEASE_S`, renewed every `HEARTBEAT_S`). When the
  instance dies the heartbeats stop and the lease expires within `STAGE_LEASE_S`.
- **A delivery that finds a live lease fails** (`RetryLater`): Pub/Sub retries it with backoff,
  and the retry that comes after the lease expired takes the stage over (counted in
  `takeovers`). Acknowledging it as "busy" would lose the stage for good if its holder died.
  The manifest's retry settings leave room for this: attempts at about +10, +30, +70, +150 s
  against a 30 s lease (shared/platform/firestore.py).
- **Fenced.** An attempt that lost its lease (its heartbeats stalled and another attempt took
  over) does not record its result: only the attempt that holds the claim writes.
- **Exactly once.** A finished stage's redelivery is acknowledged (re-publishing the hand-over
  if the instance that finished it died before publishing); a message for an unknown run is
  dropped and counted; an exception releases the claim and fails the delivery.
- **Recording and hand-over** happen here, never in the stage: the result is written to the run
  record (attempts, takeovers and the real duration since the first claim) and `StageDone` goes
  to the next active stage.
- **Deferred stages** (the benchmark fans out into shards) return `deferred`; whoever finishes
  the work later calls `complete_deferred` with the final result.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Literal

from pydantic import BaseModel

from shared.cycle import runs
from shared.log import get_logger
from shared.messages import RunContext
from shared.pipeline import load_manifest
from shared.platform import firestore as fs
from shared.platform.events import RetryLater

log = get_logger(__name__)

STAGE_LEASE_S = fs.LEASE_S
HEARTBEAT_S = fs.HEARTBEAT_S


class StageResult(BaseModel):
    status: Literal["succeeded", "failed", "skipped", "deferred"]
    summary: dict[str, Any] = {}
    error: str | None = None


def run_stage(ctx: RunContext, stage: str, work: Callable[[datetime], StageResult]) -> StageResult | None:
    """Claim `stage` of the run, run `work` once, record its result and hand over. Returns the
    result, or None when this delivery had nothing to do."""
    from shared.platform.events import POISON_DOC, count_dropped

    claim = runs.claim_stage(ctx.run_id, stage, STAGE_LEASE_S)
    if claim == "missing":
        count_dropped(POISON_DOC, stage)
        return None
    if claim == "done":
        log.info("stage already finished; redelivery acknowledged")
        runs.resume_hand_over(ctx, stage)
        if load_manifest().route_after(stage)[0] is None:   # the last stage died before finishing the run
            run = runs.get_run(ctx.run_id) or {}
            if run.get("status") == "running":
                runs.finish_run(ctx.run_id, "completed", runs.stage_state(ctx.run_id, stage).get("summary") or {})
        return None
    if claim == "busy":
        raise RetryLater(f"stage {stage} of run {ctx.run_id} is held by another attempt with a live "
                         f"lease; this delivery fails so Pub/Sub retries after the lease")
    state = runs.stage_state(ctx.run_id, stage)
    first = state.get("first_claimed_at") or datetime.now(timezone.utc)
    if state.get("takeovers"):
        log.warning("stage taken over from an attempt that stopped renewing its lease",
                    attempts=state.get("attempts"), takeovers=state.get("takeovers"))
    attempt = state.get("attempts")
    started = datetime.now(timezone.utc)
    try:
        with fs.keep_alive(runs.run_ref(ctx.run_id), f"stages.{stage}", HEARTBEAT_S):
            result = work(started)
    except Exception as exc:
        runs.release_stage(ctx.run_id, stage, f"{exc.__class__.__name__}: {exc}")
        raise
    if runs.stage_state(ctx.run_id, stage).get("attempts") != attempt:
        log.warning("stage was taken over while this attempt ran; its result is not recorded",
                    attempt=attempt, status=result.status)
        return None
    if result.status == "deferred":
        runs.note_deferred(ctx.run_id, stage, result.summary)
        return result
    _record(ctx, stage, first, result)
    return result


def _record(ctx: RunContext, stage: str, first_claimed: datetime, result: StageResult) -> None:
    """Write the result and hand over to the next active stage; the last stage's summary
    completes the run (it ran to its report)."""
    topic = runs.complete_stage(ctx, stage, result.status, first_claimed, result.summary, result.error)
    if topic is None:
        runs.finish_run(ctx.run_id, "completed", result.summary)


def complete_deferred(ctx: RunContext, stage: str, result: StageResult) -> None:
    """Finish a stage that returned `deferred` (called by whoever finished its work)."""
    state = runs.stage_state(ctx.run_id, stage)
    if state.get("status") in fs.TERMINAL:
        log.warning("deferred stage already finished; completion ignored", stage=stage)
        return
    _record(ctx, stage, state.get("first_claimed_at") or datetime.now(timezone.utc), result)


def skip_stage(ctx: RunContext, stage: str, reason: str) -> None:
    """Record a stage as skipped (e.g. benchmarks=false) through the same claim."""
    run_stage(ctx, stage, lambda started: StageResult(status="skipped", summary={"reason": reason}, error=reason))
