"""upgrade function logic: the weekly chain's stage after the planner. Builds the candidate
version from the plan's auto-applied changes, promotes it in one transaction that checks the
pointer (rebuilt on the new current version when another promotion got there first), records
the outcome, and hands over to the reporter. A dry run computes and records; nothing moves."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shared.cycle.protocol import StageResult, run_stage
from shared.log import get_logger, log_context
from shared.messages import RunContext, StageDone
from shared.planning import plans
from shared.platform.events import EventMeta
from shared.serving import store as serving_store
from shared.serving.changes import Change
from shared.serving.upgrade import decide

log = get_logger(__name__)
STAGE = "upgrade"
REBUILDS = 3


class NothingToUpgrade(LookupError):
    """No plan or no serving version: nothing to build a candidate from."""


def upgrade_week(ctx: RunContext, now: datetime, serving: serving_store.ServingStore | None = None,
                 store: plans.PlanStore | None = None) -> dict[str, Any]:
    """Apply the run's plan; returns the stage summary (also kept as `upgrades/{run_id}`)."""
    serving = serving or serving_store.repository()
    done = serving.upgrade(ctx.run_id)
    if done is not None:                 # a redelivery after the outcome was recorded
        return done
    store = store or plans.repository()
    plan = store.get(ctx.run_id)
    if plan is None:
        raise NothingToUpgrade(f"no plan for run {ctx.run_id}: the planner stage did not make one")
    for attempt in range(1, REBUILDS + 1):
        current = serving_store.current(serving)
        if current is None:
            raise NothingToUpgrade("no serving version to upgrade: the first sync makes version 1")
        if current.created_by == f"upgrade:{ctx.run_id}":    # promoted before the instance died
            outcome = {"run_id": ctx.run_id, "result": "promoted", "promoted_version": current.number,
                       "applied": [c.change_id for c in current.changes], "waiting": {}, "rolled_back": False,
                       "post_benchmark_needed": False, "recovered": True, "dry_run": False}
            serving.save_upgrade(ctx.run_id, outcome)
            return serving.upgrade(ctx.run_id) or outcome
        approved = [Change.model_validate(r["change"]) for r in store.reviews("approved")]
        decision = decide(plan.changes, current, f"upgrade:{ctx.run_id}", f"weekly run {ctx.run_id}", now, approved)
        outcome = {**decision.summary(), "run_id": ctx.run_id, "plan_based_on": plan.based_on,
                   "based_on": current.number, "rebuilds": attempt - 1, "dry_run": ctx.options.dry_run,
                   "promoted_version": None, "rolled_back": False}
        if decision.candidate is None:
            outcome["result"] = "nothing to apply"
        elif ctx.options.dry_run:
            outcome["result"] = "dry run: candidate computed, nothing promoted"
        elif serving.promote(decision.candidate) == "moved":
            log.warning("the serving pointer moved while the candidate was built; rebuilding",
                        attempt=attempt, based_on=current.number)
            continue
        else:
            outcome.update(result="promoted", promoted_version=decision.candidate.number)
            store.mark_applied([i for i in decision.applied if i in {c.id for c in approved}],
                               decision.candidate.number)
        serving.save_upgrade(ctx.run_id, outcome)
        return serving.upgrade(ctx.run_id) or outcome
    raise RuntimeError(f"the serving pointer kept moving during {REBUILDS} rebuilds; retrying later")


def handle_plan_ready(done: StageDone, meta: EventMeta) -> None:
    ctx = done.run

    def work(started: datetime) -> StageResult:
        try:
            summary = upgrade_week(ctx, datetime.now(timezone.utc))
        except NothingToUpgrade as exc:     # a retry cannot help: the run and its report say why
            return StageResult(status="failed", error=str(exc))
        log.info("upgrade finished", result=summary["result"], promoted_version=summary["promoted_version"],
                 applied=len(summary["applied"]), waiting=len(summary["waiting"]))
        return StageResult(status="succeeded", summary=summary)

    with log_context(run_id=ctx.run_id, stage=STAGE):
        run_stage(ctx, STAGE, work)
