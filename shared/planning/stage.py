"""planner function logic: the weekly chain's planning stage. Reads this run's evidence, plans
against the current serving version, stores the plan (once per run) and hands over."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from shared.catalog import store as catalog_store
from shared.config import get_settings
from shared.cycle import runs
from shared.cycle.protocol import StageResult, run_stage
from shared.log import get_logger, log_context
from shared.messages import BenchRequest, StageDone
from shared.planning import plans
from shared.planning.facts import current_serving, gather
from shared.planning.planner import Plan, evaluations, make_plan
from shared.planning.policy import PolicyError, load_policy
from shared.planning.review_prs import open_review_prs
from shared.pipeline import load_manifest
from shared.platform import pubsub
from shared.platform.events import EventMeta
from shared.research.store import ResearchStore
from shared.serving import store as serving_store
from shared.serving.ab import request_ab_tests
from shared.serving.bootstrap import NothingToServe

log = get_logger(__name__)
STAGE = "planner"


def plan_summary(plan: Plan) -> dict[str, Any]:
    """What the run record and the report keep of the plan (the plan itself is in its store)."""
    by = {d: [c.id for c in plan.by_decision(d)] for d in ("auto_apply", "gated", "deferred", "rejected")}
    return {"plan_id": plan.run_id, "based_on_version": plan.based_on, "changes": len(plan.changes),
            "counts": {d: len(ids) for d, ids in by.items()}, "top": plan.top,
            "simulated_evidence": sum(1 for c in plan.changes if c.simulated)}


def plan_week(run_id: str, now: datetime, repo: runs.WeeklyRuns | None = None,
              catalog: catalog_store.CatalogStore | None = None, serving: serving_store.ServingStore | None = None,
              store: plans.PlanStore | None = None, research: ResearchStore | None = None) -> Plan:
    """The run's plan: made once; a redelivery reads the stored one. `research`: the blackboard
    whose open proposals it reads (default: the research repository)."""
    store = store or plans.repository()
    existing = store.get(run_id)
    if existing is not None:
        store.open_reviews([plans.review_item(c, run_id, now) for c in existing.by_decision("gated")])
        return existing
    catalog = catalog or catalog_store.repository()
    serving = serving or serving_store.repository()
    run = (repo or runs.repository()).get(run_id)
    if run is None:
        raise LookupError(f"weekly run {run_id} not found")
    policy = load_policy(get_settings().risk_policy_file)      # RISK_POLICY_FILE, else the packaged one
    version = current_serving(catalog, serving, now, run_id)
    plan = make_plan(gather(run, catalog, serving, now, research), version, policy)
    if not store.create(plan):
        plan = store.get(run_id) or plan
    # review items for what waits for a person (a redelivery finds them made: create-once)
    store.open_reviews([plans.review_item(c, run_id, now) for c in plan.by_decision("gated")])
    log.info("plan made", based_on_version=plan.based_on, changes=len(plan.changes), top=plan.top)
    return plan


def ask_people(plan: Plan, now: datetime, store: plans.PlanStore | None = None,
               serving: serving_store.ServingStore | None = None) -> dict[str, Any]:
    """The runs and reviews a plan asks for: a benchmark of each model a research finding proposes
    to evaluate; and what waits for a person, with the evidence to decide: an A/B run for each gated strategy
    or template change (its verdict lands on the review item), and each gated routing change as a
    pull request when GitHub is configured. Idempotent; a pull request that cannot be opened is
    logged and tried again by the next delivery or run, never failing the plan."""
    topic = load_manifest().function("benchmark").trigger_topic
    asked_runs: list[str] = []
    for change in evaluations(plan):        # an idempotent id: a redelivered plan asks for the same run
        try:
            request = BenchRequest(bench_id=f"eval-{change.id}", models=[change.target],
                                   requested_by=f"planner:{plan.run_id}")
        except ValidationError as exc:     # a proposal's model id the benchmark cannot take
            log.warning("evaluate_model change not benchmarked: bad model id", change_id=change.id,
                        error=str(exc.errors()[0]["msg"]))
            continue
        pubsub.publish(topic, request)
        asked_runs.append(request.bench_id)
    asked_evaluations = {"evaluations": asked_runs} if asked_runs else {}
    version = serving_store.current(serving or serving_store.repository())
    if version is None or not plan.by_decision("gated"):
        return asked_evaluations
    store = store or plans.repository()
    asked = request_ab_tests(plan.by_decision("gated"), version, store,
                             lambda msg: pubsub.publish(topic, msg, change_id=msg.ab_change_id or ""))
    opened = open_review_prs(plan, version, store, get_settings(), now)
    if opened.errors:
        log.warning("some review pull requests could not be opened", errors=opened.errors)
    return {**asked_evaluations, "ab_tests": asked, **({"review_prs": opened.counts()} if opened.configured else {})}


def handle_benchmark_completed(done: StageDone, meta: EventMeta) -> None:
    ctx = done.run

    def work(started: datetime) -> StageResult:
        now = datetime.now(timezone.utc)
        try:
            plan = plan_week(ctx.run_id, now)
        except (NothingToServe, PolicyError) as exc:     # a retry cannot help: the run says why
            return StageResult(status="failed", error=str(exc))
        return StageResult(status="succeeded", summary={**plan_summary(plan), **ask_people(plan, now)})

    with log_context(run_id=ctx.run_id, stage=STAGE):
        run_stage(ctx, STAGE, work)
