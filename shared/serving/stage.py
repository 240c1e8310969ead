"""upgrade function logic: every promotion of a serving version happens here.

Three messages reach it on its topic: the planner's hand-over (the weekly chain), a finished
post-change benchmark, and an operator's request to apply approved changes now. For each upgrade
(`upgrades/{upgrade_id}`: the weekly run id, or `apply-…`):

1. the changes that alter no route (catalog, pricing, categories) form a candidate promoted at
   once, in one transaction that checks the pointer (rebuilt on the new current version when
   another promotion got there first);
2. the changes that alter what a route serves form a second candidate on top of it. Its
   post-change benchmark (published to the benchmark function) measures the routes it changes on
   the same cases as the pre-change run; the outcome is "measuring" meanwhile, and the weekly
   stage is deferred;
3. when the benchmark is over, the candidate is judged (shared/policy.judge_post_change): no
   regression → promoted; a regression → rolled back: the pointer never moved, so what is served
   is exactly what was served before, and the outcome keeps a rollback record with the figures.

A dry run computes and records the candidates; nothing moves. Redeliveries find the outcome and
change nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pydantic import BaseModel

from shared import policy
from shared.bench import records
from shared.bench import store as results_store
from shared.bench.results import read_outcomes
from shared.config import get_settings
from shared.cycle.protocol import StageResult, complete_deferred, run_stage
from shared.log import get_logger, log_context
from shared.messages import (ApplyApproved, PostChangeBench, PostChangeMeasured, RunContext, StageDone,
                             UpgradeMessage)
from shared.pipeline import load_manifest
from shared.planning import plans
from shared.planning.review_prs import approve_merged_prs
from shared.platform import pubsub
from shared.platform.events import EventMeta, RetryLater, note_delivery
from shared.serving import store as serving_store
from shared.serving.changes import Change
from shared.serving.measure import PostChangePlan, plan_post_change
from shared.serving.models import ServingVersion
from shared.serving.store import MEASURING
from shared.serving.upgrade import NO_BENCHMARKS, decide

log = get_logger(__name__)
STAGE = "upgrade"
REBUILDS = 3
ROLLBACK_MEMORY = timedelta(days=28)    # a rolled-back change is not retried automatically meanwhile
SUMMARY_DROPS = ("candidate", "ctx")    # kept in the upgrade record, not in the run record


class NothingToUpgrade(LookupError):
    """No plan or no serving version: nothing to build a candidate from."""


class UpgradeRequest(BaseModel):
    """Who applies what, and how: the same for the weekly stage and an operator's request."""
    upgrade_id: str
    created_by: str
    reason: str
    dry_run: bool = False
    benchmarks: bool = True
    demo: bool = False
    ctx: dict[str, Any] | None = None         # the weekly run context (None: an operator's request)
    pre_bench_id: str | None = None           # the pre-change run the candidate is compared with


@dataclass
class Deps:
    """The repositories an upgrade reads and writes, and how it asks for a benchmark (in-memory
    fakes and a captured publish in unit tests; production ones by default)."""
    serving: serving_store.ServingStore = field(default_factory=serving_store.repository)
    plans: plans.PlanStore = field(default_factory=plans.repository)
    bench_runs: records.BenchRuns = field(default_factory=records.repository)
    results: results_store.BenchResults = field(default_factory=results_store.repository)
    publish: Callable[[dict[str, Any]], None] = field(default=lambda record: publish_post_bench(record))
    # finishes the weekly stage a measured candidate deferred (idempotent: the run protocol's)
    complete_stage: Callable[[RunContext, StageResult], None] = field(
        default=lambda ctx, result: complete_deferred(ctx, STAGE, result))
    # merged review pull requests approve their items before an upgrade reads the approved ones
    settle_prs: Callable[[plans.PlanStore, datetime], Any] = field(
        default=lambda store, now: approve_merged_prs(store, get_settings(), now))


# --- helpers ----------------------------------------------------------------------------
def recent_rollbacks(serving: serving_store.ServingStore, now: datetime) -> dict[str, str]:
    out: dict[str, str] = {}
    for doc in serving.upgrades_since(now - ROLLBACK_MEMORY):
        rollback = doc.get("rollback") or {}
        for change_id in rollback.get("changes") or []:
            out.setdefault(change_id, f"rolled back by upgrade {doc.get('upgrade_id')} at {rollback.get('at')}: "
                                      f"not retried automatically ({str(rollback.get('reason'))[:200]})")
    return out


def pre_change_run(bench_id: str | None, bench_runs: records.BenchRuns) -> tuple[str | None, str | None, set[str]]:
    """(bench id, its planned cases, the targets it measured completely) of a finished pre-change run."""
    doc = bench_runs.get(bench_id) if bench_id else None
    if not doc or not doc.get("plan") or doc.get("status") != "complete":
        return None, None, set()
    models = (doc.get("summary") or {}).get("models") or {}
    return bench_id, doc["plan"]["cases_uri"], {m for m, v in models.items() if v.get("complete")}


def upgrade_metrics(candidates: int, promoted: int, rolled_back: int) -> dict[str, Any]:
    """Per upgrade: candidates attempted, promoted, rolled back (the report sums them per week)."""
    return {"candidates": candidates, "promoted": promoted, "rolled_back": rolled_back,
            "success_rate": round(promoted / candidates, 4) if candidates else None}


def compact(outcome: dict[str, Any]) -> dict[str, Any]:
    """The outcome as the run record keeps it (the candidate itself stays in the upgrade record)."""
    return {k: v for k, v in outcome.items() if k not in SUMMARY_DROPS}


def publish_post_bench(record: dict[str, Any]) -> None:
    post = PostChangePlan.model_validate(record["post_plan"])
    pubsub.publish(load_manifest().function("benchmark").trigger_topic,
                   PostChangeBench(bench_id=record["post_bench_id"], upgrade_id=record["upgrade_id"],
                                   targets=post.run, cases_uri=record.get("cases_uri"),
                                   weekly_run_id=(record.get("ctx") or {}).get("run_id")),
                   upgrade_id=record["upgrade_id"])


# --- building and promoting ----------------------------------------------------------------
def apply_changes(req: UpgradeRequest, changes: list[Change], approved: list[Change], now: datetime,
                  deps: Deps) -> dict[str, Any]:
    """Build, promote what needs no measuring, start measuring the rest. Returns the outcome
    (result "measuring" while the post-change benchmark runs)."""
    serving, store, publish = deps.serving, deps.plans, deps.publish
    done = serving.upgrade(req.upgrade_id)
    if done is not None:                     # a redelivery
        if done.get("result") == MEASURING and not req.dry_run:
            publish(done)                    # the benchmark's request may have been lost: idempotent
        return done
    approved_ids = {c.id for c in approved}
    for attempt in range(1, REBUILDS + 1):
        current = serving_store.current(serving)
        if current is None:
            raise NothingToUpgrade("no serving version to upgrade: the first sync makes version 1")
        # a candidate of this upgrade promoted before its instance died: those changes are in
        recovered = [c.change_id for c in current.changes] if current.created_by == req.created_by else []
        decision = decide([c for c in changes if c.id not in recovered], current, req.created_by, req.reason, now,
                          [c for c in approved if c.id not in recovered],
                          None if req.benchmarks else NO_BENCHMARKS, recent_rollbacks(serving, now))
        pre_id, cases_uri, complete = (pre_change_run(req.pre_bench_id, deps.bench_runs) if req.benchmarks
                                       else (None, None, set()))
        single, measuring, post = decision.candidate, None, None
        if decision.measured_candidate is not None:
            post = plan_post_change(decision.candidate or current, decision.measured_candidate, pre_id, complete)
            if post.needed():
                measuring = decision.measured_candidate
            else:                            # e.g. only fallbacks changed: nothing answers differently
                single = decision.everything(current, req.created_by, req.reason, now)
        outcome: dict[str, Any] = {
            **decision.summary(), "upgrade_id": req.upgrade_id, "run_id": (req.ctx or {}).get("run_id"),
            "created_by": req.created_by, "reason": req.reason, "based_on": current.number,
            "rebuilds": attempt - 1, "dry_run": req.dry_run, "demo": req.demo, "recovered": recovered,
            "applied": [*recovered, *decision.applied] + ([] if measuring else decision.measured),
            "promoted_version": current.number if recovered else None, "rolled_back": False,
            "post_benchmark_needed": measuring is not None,
            "post_benchmark_skipped": NO_BENCHMARKS if not req.benchmarks and any(
                w == NO_BENCHMARKS for w in decision.waiting.values()) else None,
            "pre_bench_id": pre_id, "saved_at": now}
        if single is None and measuring is None:
            outcome["result"] = "promoted" if recovered else "nothing to apply"
        elif req.dry_run:
            outcome["result"] = "dry run: candidates computed, nothing promoted"
            outcome["candidate"] = (measuring or single).model_dump(mode="json")
            outcome["post_change_routes"] = [r.model_dump() for r in post.routes] if post else []
        else:
            if single is not None:
                if serving.promote(single) == "moved":
                    log.warning("the serving pointer moved while the candidate was built; rebuilding",
                                attempt=attempt, based_on=current.number)
                    continue
                outcome.update(result="promoted", promoted_version=single.number)
                store.mark_applied([i for i in outcome["applied"] if i in approved_ids], single.number)
            if measuring is not None and post is not None:
                return begin_measuring(req, outcome, measuring, post, cases_uri, serving, publish)
        outcome["metrics"] = upgrade_metrics(1 if single else 0, 1 if single and not req.dry_run else 0, 0)
        serving.save_upgrade(req.upgrade_id, outcome)
        return serving.upgrade(req.upgrade_id) or outcome
    raise RuntimeError(f"the serving pointer kept moving during {REBUILDS} rebuilds; retrying later")


def begin_measuring(req: UpgradeRequest, outcome: dict[str, Any], candidate: ServingVersion,
                    post: PostChangePlan, cases_uri: str | None, serving: serving_store.ServingStore,
                    publish) -> dict[str, Any]:
    record = {**outcome, "result": MEASURING, "candidate": candidate.model_dump(mode="json"),
              "measured_candidate_version": candidate.number, "kept_version": candidate.parent,
              "post_plan": post.model_dump(mode="json"), "post_bench_id": f"{req.upgrade_id}.benchmark-post",
              "cases_uri": cases_uri, "ctx": req.ctx, "promoted_before_measuring": outcome.get("promoted_version")}
    serving.save_upgrade(req.upgrade_id, record)
    record = serving.upgrade(req.upgrade_id) or record
    if record.get("result") == MEASURING:
        publish(record)
    log.info("candidate waits for its post-change benchmark", candidate_version=candidate.number,
             routes=[r.category for r in post.routes], bench_id=record["post_bench_id"])
    return record


# --- judging a measured candidate ---------------------------------------------------------------
def rollback_record(record: dict[str, Any], verdict: policy.PostChangeVerdict, reasons: list[str],
                    now: datetime) -> dict[str, Any]:
    figures = [{"route": c.route, "category": c.category, "before": c.before, "after": c.after,
                "before_pass_rate": c.verdict.baseline_pass_rate, "after_pass_rate": c.verdict.current_pass_rate,
                "delta_points": c.verdict.delta_points, "p_value": c.verdict.p_value, "n": c.verdict.n,
                "level": c.verdict.level, "state": c.verdict.state} for c in verdict.comparisons if c.fails]
    return {"candidate_version": record["measured_candidate_version"], "kept_version": record["kept_version"],
            "changes": record["measured"], "reason": "; ".join(reasons)[:4000], "figures": figures,
            "bench_id": record["post_bench_id"], "pre_bench_id": record.get("pre_bench_id"), "at": now}


def finish_measured(upgrade_id: str, bench_id: str, now: datetime, deps: Deps | None = None) -> dict[str, Any] | None:
    """Judge a measured candidate once its post-change benchmark is over; promote or roll back."""
    deps = deps or Deps()
    serving, store = deps.serving, deps.plans
    record = serving.upgrade(upgrade_id)
    if record is None:
        log.error("post-change result for an unknown upgrade dropped", upgrade_id=upgrade_id, bench_id=bench_id)
        return None
    if record.get("result") != MEASURING:
        _complete_weekly(record, deps)            # the hand-over may have been lost with its instance
        return record
    bench = deps.bench_runs.get(bench_id) or {}
    if bench.get("status") in (None, "running"):
        raise RetryLater(f"post-change benchmark {bench_id} is not finished")
    summary = bench.get("summary") or {"bench_id": bench_id, "status": bench.get("status"), "error": bench.get("error")}
    candidate = ServingVersion.model_validate(record["candidate"])
    post = PostChangePlan.model_validate(record["post_plan"])
    outcomes = read_outcomes({**bench, "bench_id": bench_id}, set(post.run), deps.results)
    for pre_id in set(post.reused.values()):          # one read per pre-change run
        labels = {label for label, run_id in post.reused.items() if run_id == pre_id}
        outcomes.update(read_outcomes({**(deps.bench_runs.get(pre_id) or {}), "bench_id": pre_id}, labels,
                                      deps.results))
    sources = {label: bench_id for label in post.run} | dict(post.reused)
    verdict = policy.judge_post_change([(r.category, r.before, r.after) for r in post.routes], outcomes, sources,
                                       policy.Thresholds.from_settings(get_settings()))
    reasons = list(verdict.reasons)
    if summary.get("status") != "complete":
        reasons.insert(0, f"post-change benchmark {summary.get('status')}: {summary.get('error') or 'not complete'}")
    if summary.get("simulated") and not record.get("demo"):
        reasons.insert(0, "the post-change benchmark ran against simulated models: not evidence outside a demo run")
    outcome = {**{k: v for k, v in record.items() if k != "cases_uri"}, "post_benchmark": summary,
               "post_change": verdict.model_dump(mode="json"), "settled_at": now}
    promoted_before = 1 if record.get("promoted_before_measuring") else 0
    if not reasons:
        moved = serving.promote(candidate) == "moved"
        now_serving = serving_store.current(serving)
        # "moved" by this very candidate (promoted before its instance died) is a promotion
        if moved and not (now_serving and now_serving.model_dump(mode="json") == candidate.model_dump(mode="json")):
            outcome.update(result="not promoted: the serving version moved while the candidate was measured; "
                                  "its changes wait for the next upgrade", metrics=upgrade_metrics(
                                      1 + promoted_before, promoted_before, 0))
        else:
            outcome.update(result="promoted", promoted_version=candidate.number,
                           applied=[*record.get("applied", []), *record["measured"]],
                           metrics=upgrade_metrics(1 + promoted_before, 1 + promoted_before, 0))
    else:
        outcome.update(result="rolled back", rolled_back=True, rollback=rollback_record(record, verdict, reasons, now),
                       metrics=upgrade_metrics(1 + promoted_before, promoted_before, 1))
    if not serving.settle_upgrade(upgrade_id, outcome):
        settled = serving.upgrade(upgrade_id) or outcome
        _complete_weekly(settled, deps)
        return settled
    approved = {r["change_id"] for r in store.reviews("approved")}
    if outcome["result"] == "promoted":
        store.mark_applied([i for i in record["measured"] if i in approved], candidate.number)
        log.info("measured candidate promoted", version=candidate.number, bench_id=bench_id, verdict=verdict.text)
    elif outcome.get("rolled_back"):
        store.mark_rolled_back([i for i in record["measured"] if i in approved], upgrade_id, outcome["rollback"]["reason"])
        log.warning("measured candidate rolled back: the serving pointer stays", kept_version=record["kept_version"],
                    candidate_version=candidate.number, reasons=reasons[:3])
    else:
        log.warning("measured candidate not promoted", result=outcome["result"])
    _complete_weekly(outcome, deps)
    return outcome


def _complete_weekly(outcome: dict[str, Any], deps: Deps) -> None:
    if outcome.get("ctx") and outcome.get("result") != MEASURING:
        deps.complete_stage(RunContext.model_validate(outcome["ctx"]),
                            StageResult(status="succeeded", summary=compact(outcome)))


# --- the three messages --------------------------------------------------------------------
def upgrade_week(ctx: RunContext, now: datetime, deps: Deps | None = None) -> dict[str, Any]:
    """Apply the run's plan and the approved changes; returns the outcome (`upgrades/{run_id}`)."""
    deps = deps or Deps()
    serving, store = deps.serving, deps.plans
    done, plan = serving.upgrade(ctx.run_id), store.get(ctx.run_id)
    if done is None and plan is None:
        raise NothingToUpgrade(f"no plan for run {ctx.run_id}: the planner stage did not make one")
    if done is None:
        deps.settle_prs(store, now)
    req = UpgradeRequest(upgrade_id=ctx.run_id, created_by=f"upgrade:{ctx.run_id}", reason=f"weekly run {ctx.run_id}",
                         dry_run=ctx.options.dry_run, benchmarks=ctx.options.benchmarks, demo=ctx.options.demo,
                         ctx=ctx.model_dump(mode="json"), pre_bench_id=f"{ctx.run_id}.benchmark-pre")
    approved = [Change.model_validate(r["change"]) for r in store.reviews("approved")]
    return apply_changes(req, plan.changes if plan else [], approved, now, deps)


def apply_approved(msg: ApplyApproved, now: datetime, deps: Deps | None = None) -> dict[str, Any]:
    """An operator's request: the approved changes (all, or the named ones) through the same path."""
    deps = deps or Deps()
    if deps.serving.upgrade(msg.upgrade_id) is None:
        deps.settle_prs(deps.plans, now)
    items = deps.plans.reviews("approved")
    if msg.change_ids:
        items = [i for i in items if i["change_id"] in set(msg.change_ids)]
    runs = sorted({i["run_id"] for i in items if i.get("run_id")})
    req = UpgradeRequest(upgrade_id=msg.upgrade_id, created_by=f"operator:{msg.by}", reason=msg.reason,
                         demo=msg.demo, pre_bench_id=f"{runs[-1]}.benchmark-pre" if runs else None)
    outcome = apply_changes(req, [], [Change.model_validate(i["change"]) for i in items], now, deps)
    missing = sorted(set(msg.change_ids) - {i["change_id"] for i in items})
    if missing:
        log.warning("named changes are not approved and waiting; left alone", change_ids=missing)
    return outcome


def handle_upgrade_message(message: UpgradeMessage, meta: EventMeta) -> None:
    msg = message.root
    now = datetime.now(timezone.utc)
    if isinstance(msg, PostChangeMeasured):
        with log_context(stage="upgrade-post", upgrade_id=msg.upgrade_id, bench_id=msg.bench_id):
            finish_measured(msg.upgrade_id, msg.bench_id, now)
        note_delivery(meta, STAGE, "upgrade", msg.upgrade_id)     # handled: `status MESSAGE_ID` finds it
        return
    if isinstance(msg, ApplyApproved):
        note_delivery(meta, STAGE, "upgrade", msg.upgrade_id)
        with log_context(stage="upgrade-apply", upgrade_id=msg.upgrade_id):
            try:
                outcome = apply_approved(msg, now)
            except NothingToUpgrade as exc:
                log.error("apply request cannot be served", reason=str(exc))
                return
            log.info("apply request handled", result=outcome.get("result"), applied=len(outcome.get("applied") or []))
        return
    handle_plan_ready(msg, meta)


def handle_plan_ready(done: StageDone, meta: EventMeta) -> None:
    ctx = done.run

    def work(started: datetime) -> StageResult:
        try:
            outcome = upgrade_week(ctx, datetime.now(timezone.utc))
        except NothingToUpgrade as exc:     # a retry cannot help: the run and its report say why
            return StageResult(status="failed", error=str(exc))
        log.info("upgrade stage", result=outcome["result"], promoted_version=outcome.get("promoted_version"),
                 applied=len(outcome.get("applied") or []), waiting=len(outcome.get("waiting") or {}))
        if outcome["result"] == MEASURING:
            return StageResult(status="deferred", summary={"upgrade_id": ctx.run_id,
                                                           "post_bench_id": outcome.get("post_bench_id")})
        return StageResult(status="succeeded", summary=compact(outcome))

    with log_context(run_id=ctx.run_id, stage=STAGE):
        run_stage(ctx, STAGE, work)
