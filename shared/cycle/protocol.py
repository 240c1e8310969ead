"""The stage protocol: every weekly-chain stage is one function `work(started) -> StageResult`;
`run_stage` does everything else, the same way for every stage.

- **Claim with a live lease.** The stage is claimed in the run record; while the work runs a
  heartbeat keeps the lease live (`STAGE_LEASE_S`, renewed every `HEARTBEAT_S`). When the
  instance dies the heartbeats stop and the lease expires within `STAGE_LEASE_S`.
- **A delivery that finds a live lease fails** (`RetryLater`): Pub/Sub retries it with backoff,
  and the retry that comes after the lease expired takes the stage over (counted in
  `takeovers`). Acknowledging it as "busy" would lose the stage for good if its holder died.
  The manifest's retry settings leave room for this: attempts at about +10, +30, +70, +130 s
  (backoff capped at 60 s) against a 30 s lease (shared/platform/leases.py).
- **Fenced.** An attempt that lost its lease (its heartbeats stalled and another attempt took
  over) does not record its result: only the attempt that holds the claim writes.
- **Exactly once.** A finished stage's redelivery is acknowledged (re-publishing the hand-over
  if the instance that finished it died before publishing); a message for an unknown run is
  dropped and counted; an exception releases the claim and fails the delivery.
- **Recording and hand-over** happen here, never in the stage: the result is written to the run
  record (attempts, takeovers and the real duration since the first claim) and `StageDone` goes
  to the next active stage; after the last stage the run is completed.
- **Testable without a cloud**: the run record is a repository (shared/cycle/runs.py) and
  publishing a function, both injectable (tests/cycle/test_protocol.py uses the in-memory fake).
- **Deferred stages** (the benchmark fans out into shards) return `deferred`; whoever finishes
  the work later calls `complete_deferred` with the final result.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Literal

from pydantic import BaseModel

from shared.cycle import runs
from shared.cycle.runs import WeeklyRuns
from shared.log import get_logger
from shared.messages import RunContext, StageDone
from shared.pipeline import load_manifest
from shared.platform import pubsub
from shared.platform.events import RetryLater
from shared.platform.leases import HEARTBEAT_S, LEASE_S, TERMINAL

log = get_logger(__name__)
Publish = Callable[..., Any]          # shared.platform.pubsub.publish(topic, message, **attributes)


class StageResult(BaseModel):
    status: Literal["succeeded", "failed", "skipped", "deferred"]
    summary: dict[str, Any] = {}
    error: str | None = None


def run_stage(ctx: RunContext, stage: str, work: Callable[[datetime], StageResult],
              repo: WeeklyRuns | None = None, publisher: Publish | None = None) -> StageResult | None:
    """Claim `stage` of the run, run `work` once, record its result and hand over. Returns the
    result, or None when this delivery had nothing to do."""
    repo = repo or runs.repository()
    claim = repo.claim_stage(ctx.run_id, stage, LEASE_S)
    if claim == "missing":
        from shared.platform.events import POISON_DOC, count_dropped

        log.error("message for an unknown weekly run dropped", run_id=ctx.run_id, stage=stage)
        count_dropped(POISON_DOC, stage)
        return None
    if claim == "done":
        log.info("stage already finished; redelivery acknowledged")
        _resume_hand_over(ctx, stage, repo, publisher)
        return None
    if claim == "busy":
        raise RetryLater(f"stage {stage} of run {ctx.run_id} is held by another attempt with a live "
                         f"lease; this delivery fails so Pub/Sub retries after the lease")
    state = runs.stage_state(ctx.run_id, stage, repo)
    if state.get("takeovers"):
        log.warning("stage taken over from an attempt that stopped renewing its lease",
                    attempts=state.get("attempts"), takeovers=state.get("takeovers"))
    attempt = state.get("attempts")
    started = datetime.now(timezone.utc)
    try:
        with repo.keep_alive(ctx.run_id, stage, HEARTBEAT_S):
            result = work(started)
    except Exception as exc:
        # claimable again at once: Pub/Sub's redelivery retries without waiting for the lease
        repo.update_stages(ctx.run_id, {stage: {"status": "errored", "error": f"{exc.__class__.__name__}: {exc}"}})
        raise
    if runs.stage_state(ctx.run_id, stage, repo).get("attempts") != attempt:
        log.warning("stage was taken over while this attempt ran; its result is not recorded",
                    attempt=attempt, status=result.status)
        return None
    if result.status == "deferred":     # still running; what it waits for is on the record
        repo.update_stages(ctx.run_id, {stage: {"waiting_for": result.summary}})
        return result
    _record(ctx, stage, state.get("first_claimed_at") or started, result, repo, publisher)
    return result


def _record(ctx: RunContext, stage: str, first_claimed: datetime, result: StageResult, repo: WeeklyRuns,
            publisher: Publish | None) -> None:
    """Write the result (the duration runs from the first claim: retries and takeovers count),
    hand over to the next active stage; the last stage's summary completes the run."""
    now = datetime.now(timezone.utc)
    repo.update_stages(ctx.run_id, {stage: {
        "status": result.status, "started_at": first_claimed, "finished_at": now,
        "duration_s": round((now - first_claimed).total_seconds(), 3), "summary": result.summary,
        "error": result.error}})
    done = StageDone(run=ctx, stage=stage, status=result.status, summary=result.summary, error=result.error)
    if _hand_over(done, repo, publisher) is None:
        repo.finish_run(ctx.run_id, "completed", result.summary)


def _hand_over(done: StageDone, repo: WeeklyRuns, publisher: Publish | None) -> str | None:
    """Publish StageDone to the next active stage, recording planned stages in between as
    not_implemented. Returns the topic, or None after the last stage."""
    topic, skipped = load_manifest().route_after(done.stage)
    if skipped:
        repo.update_stages(done.run.run_id, {s: {"status": "not_implemented"} for s in skipped})
    if topic is not None:
        message = done.model_copy(update={"skipped_stages": skipped})
        if publisher is None:     # written out so the manifest check sees the hand-over
            pubsub.publish(topic, message, run_id=done.run.run_id, stage=done.stage)
        else:                     # tests: an in-memory publisher
            publisher(topic, message, run_id=done.run.run_id, stage=done.stage)
    repo.update_stages(done.run.run_id, {done.stage: {"handed_over": True}})
    return topic


def _resume_hand_over(ctx: RunContext, stage: str, repo: WeeklyRuns, publisher: Publish | None) -> None:
    """A redelivery of a finished stage: if the instance that finished it died before handing
    over (or, for the last stage, before completing the run), do that now from the record."""
    run = repo.get(ctx.run_id) or {}
    state = (run.get("stages") or {}).get(stage) or {}
    if not state.get("handed_over") and state.get("status") in ("succeeded", "failed", "skipped"):
        log.warning("stage finished but was not handed over; handing over now", stage=stage)
        _hand_over(StageDone(run=ctx, stage=stage, status=state["status"], summary=state.get("summary") or {},
                             error=state.get("error")), repo, publisher)
    if load_manifest().route_after(stage)[0] is None and run.get("status") == "running":
        repo.finish_run(ctx.run_id, "completed", state.get("summary") or {})


def complete_deferred(ctx: RunContext, stage: str, result: StageResult, repo: WeeklyRuns | None = None,
                      publisher: Publish | None = None) -> None:
    """Finish a stage that returned `deferred` (called by whoever finished its work);
    idempotent: a stage already finished is left alone."""
    repo = repo or runs.repository()
    state = runs.stage_state(ctx.run_id, stage, repo)
    if state.get("status") in TERMINAL:
        log.info("deferred stage already finished; completion ignored", stage=stage)
        return
    _record(ctx, stage, state.get("first_claimed_at") or datetime.now(timezone.utc), result, repo, publisher)


def skip_stage(ctx: RunContext, stage: str, reason: str, repo: WeeklyRuns | None = None,
               publisher: Publish | None = None) -> None:
    """Record a stage as skipped (e.g. benchmarks=false) through the same claim."""
    run_stage(ctx, stage, lambda started: StageResult(status="skipped", summary={"reason": reason}, error=reason),
              repo, publisher)
