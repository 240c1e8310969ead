"""The weekly run record (weekly_runs/{run_id}) and how the chain moves from stage to stage.

Choreography: each stage function publishes StageDone to the topic the manifest names; this
module only records state and chooses that topic (skipping stages that are still planned).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from shared.log import get_logger
from shared.messages import RunContext, StageDone, WeeklyCycleRequest
from shared.pipeline import load_manifest
from shared.platform import firestore as fs
from shared.platform import pubsub

log = get_logger(__name__)

WEEKLY_RUNS = "weekly_runs"
LOCKS = "locks"
CYCLE_LOCK = "weekly_cycle"
# A cycle older than this no longer holds the lock, whatever its record says (a run whose every
# message was lost must not block the next week's).
CYCLE_LOCK_MAX_AGE_S = 12 * 3600


def run_id_for(request: WeeklyCycleRequest, message_id: str, now: datetime) -> str:
    """The caller's run id; for the scheduler (which sends none) the scheduled ISO week, so a
    duplicate publish of the same week's trigger maps to the same run and starts nothing; for
    anything else the message id (a redelivery maps to the same run)."""
    if request.run_id:
        return request.run_id
    if request.requested_by == "scheduler":
        year, week, _ = now.isocalendar()
        return f"weekly-{year}-W{week:02d}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "", message_id) or "unknown"
    return f"weekly-{now:%Y%m%d}-{safe}"


def running_cycle(now: datetime | None = None) -> dict[str, Any] | None:
    """The weekly run holding the cycle lock, if it is still running (and not too old)."""
    lock = fs.client().collection(LOCKS).document(CYCLE_LOCK).get().to_dict() or {}
    run = get_run(lock["run_id"]) if lock.get("run_id") else None
    return run if _holds_lock(run, now or datetime.now(timezone.utc)) else None


def _holds_lock(run: dict[str, Any] | None, now: datetime) -> bool:
    return bool(run) and run.get("status") == "running" and \
        (now - run["started_at"]).total_seconds() < CYCLE_LOCK_MAX_AGE_S


def create_run(request: WeeklyCycleRequest, run_id: str, message_id: str) -> RunContext | None:
    """Create the run record and take the cycle lock, in one transaction. None when the run
    exists already (a redelivery or a duplicate scheduler publish: start nothing) or when another
    cycle holds the lock (then the record says `rejected` and names the running cycle, so a
    caller following this run id learns which one to follow)."""
    from google.cloud import firestore

    now = datetime.now(timezone.utc)
    manifest = load_manifest()
    ctx = RunContext(run_id=run_id, options=request.options(), started_at=now)
    db = fs.client()
    run_ref_ = db.collection(WEEKLY_RUNS).document(run_id)
    lock_ref = db.collection(LOCKS).document(CYCLE_LOCK)
    base = {"run_id": run_id, "options": ctx.options.model_dump(), "started_at": now,
            "requested_by": request.requested_by, "trigger_message_id": message_id,
            "chain": manifest.weekly_chain, "finished_at": None}

    @firestore.transactional
    def txn(transaction: Any) -> str:
        if run_ref_.get(transaction=transaction).exists:
            return "exists"
        lock = lock_ref.get(transaction=transaction).to_dict() or {}
        holder = None
        if lock.get("run_id"):
            snap = db.collection(WEEKLY_RUNS).document(lock["run_id"]).get(transaction=transaction)
            holder = snap.to_dict() if snap.exists else None
        if _holds_lock(holder, now):
            transaction.create(run_ref_, {**base, "status": "rejected", "finished_at": now,
                                          "running_run_id": holder["run_id"],
                                          "reason": f"another weekly cycle is running: {holder['run_id']}"})
            return f"rejected:{holder['run_id']}"
        transaction.set(lock_ref, {"run_id": run_id, "acquired_at": now})
        transaction.create(run_ref_, {**base, "status": "running",
                                      "stages": {name: {"status": "pending"} for name in manifest.weekly_chain}})
        return "created"

    outcome = txn(db.transaction())
    if outcome == "exists":
        log.warning("weekly run already exists; redelivered or duplicate trigger ignored", run_id=run_id)
        return None
    if outcome.startswith("rejected:"):
        log.warning("another weekly cycle is running; this trigger starts nothing",
                    running_run_id=outcome.split(":", 1)[1])
        return None
    log.info("weekly run created", run_id=run_id, options=ctx.options.model_dump())
    return ctx


def run_ref(run_id: str) -> Any:
    return fs.client().collection(WEEKLY_RUNS).document(run_id)


def stage_state(run_id: str, stage: str) -> dict[str, Any]:
    return ((get_run(run_id) or {}).get("stages") or {}).get(stage) or {}


def note_deferred(run_id: str, stage: str, summary: dict[str, Any]) -> None:
    """A stage whose work goes on elsewhere (benchmark shards): still running, with what it waits for."""
    run_ref(run_id).update({f"stages.{stage}.waiting_for": summary})


def claim_stage(run_id: str, stage: str, lease_s: float) -> str:
    """"claimed", "done", "busy", or "missing" when no such run exists (a message for an
    unknown run can never succeed: it is dropped and counted, not retried)."""
    ref = fs.client().collection(WEEKLY_RUNS).document(run_id)
    try:
        return fs.claim(ref, lease_s, prefix=f"stages.{stage}")
    except LookupError:
        log.error("message for an unknown weekly run dropped", run_id=run_id, stage=stage)
        return "missing"


def release_stage(run_id: str, stage: str, error: str) -> None:
    """After an unexpected exception: mark the stage claimable again so Pub/Sub's redelivery
    retries it at once instead of waiting for the lease to expire."""
    fs.client().collection(WEEKLY_RUNS).document(run_id).update(
        {f"stages.{stage}.status": "errored", f"stages.{stage}.error": error})


def fail_stage(run_id: str, stage: str, error: str) -> None:
    """A stage that can no longer finish (its message died): failed, with the reason."""
    run_ref(run_id).update({f"stages.{stage}.status": "failed", f"stages.{stage}.error": error,
                            f"stages.{stage}.finished_at": datetime.now(timezone.utc)})


def finish_stage(ctx: RunContext, stage: str, status: str, started_at: datetime,
                 summary: dict[str, Any], error: str | None = None) -> None:
    """`started_at` is the first claim's time: the duration is the stage's real one, retries
    and takeovers included."""
    now = datetime.now(timezone.utc)
    fs.client().collection(WEEKLY_RUNS).document(ctx.run_id).update({
        f"stages.{stage}.status": status,
        f"stages.{stage}.started_at": started_at,
        f"stages.{stage}.finished_at": now,
        f"stages.{stage}.duration_s": round((now - started_at).total_seconds(), 3),
        f"stages.{stage}.summary": summary,
        f"stages.{stage}.error": error,
    })


def hand_over(done: StageDone) -> str | None:
    """Publish a finished stage's StageDone to the next active stage; record planned stages
    in between as not_implemented. Returns the topic, or None after the last stage."""
    topic, skipped = load_manifest().route_after(done.stage)
    if skipped:
        fs.client().collection(WEEKLY_RUNS).document(done.run.run_id).update(
            {f"stages.{s}.status": "not_implemented" for s in skipped})
    if topic is None:
        return None
    pubsub.publish(topic, done.model_copy(update={"skipped_stages": skipped}), run_id=done.run.run_id,
                   stage=done.stage)
    return topic


def finish_run(run_id: str, status: str, extra: dict[str, Any]) -> None:
    fs.client().collection(WEEKLY_RUNS).document(run_id).update(
        {"status": status, "finished_at": datetime.now(timezone.utc), **extra})


def get_run(run_id: str) -> dict[str, Any] | None:
    snap = fs.client().collection(WEEKLY_RUNS).document(run_id).get()
    return snap.to_dict() if snap.exists else None


def latest_run() -> dict[str, Any] | None:
    from google.cloud import firestore

    docs = list(fs.client().collection(WEEKLY_RUNS)
                .order_by("started_at", direction=firestore.Query.DESCENDING).limit(1).stream())
    return docs[0].to_dict() if docs else None


def mark_handed_over(run_id: str, stage: str) -> None:
    fs.client().collection(WEEKLY_RUNS).document(run_id).update({f"stages.{stage}.handed_over": True})


def resume_hand_over(ctx: RunContext, stage: str) -> bool:
    """For a redelivered message whose stage already finished: if the instance that finished it
    died before publishing, publish now (from the record). Returns True when it published."""
    run = get_run(ctx.run_id) or {}
    state = (run.get("stages") or {}).get(stage) or {}
    if state.get("handed_over") or state.get("status") not in ("succeeded", "failed"):
        return False
    log.warning("stage finished but was not handed over; publishing now", stage=stage)
    hand_over(StageDone(run=ctx, stage=stage, status=state["status"], summary=state.get("summary") or {},
                        error=state.get("error")))
    mark_handed_over(ctx.run_id, stage)
    return True


def complete_stage(ctx: RunContext, stage: str, status: str, started_at: datetime,
                   summary: dict[str, Any], error: str | None = None) -> str | None:
    """Record the stage's outcome, then hand over to the next stage."""
    finish_stage(ctx, stage, status, started_at, summary, error)
    topic = hand_over(StageDone(run=ctx, stage=stage, status=status, summary=summary, error=error))
    mark_handed_over(ctx.run_id, stage)
    return topic
