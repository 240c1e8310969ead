"""The life of a benchmark run in Firestore: plan it (idempotent per bench id), run it inline
(one shard) or fan out into shards, run each shard exactly once under a lease, and aggregate
exactly once when the last shard is done. A redelivered request resumes a run still going.

The record (plan, shard states, summary) is shared/bench/records.py's; the planned cases, shard
results and target results are shared/bench/store.py's (both repositories are parameters, the
production ones by default). A weekly run's id is {run_id}.benchmark-{phase}. The work itself is
elsewhere: planning.py (targets, budget, the planned cases), execution.py (calls and scoring),
results.py (metrics, the rolling baseline and the summary).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from shared.bench import records
from shared.bench import store as results_store
from shared.bench.budget import BudgetRefused
from shared.bench.execution import run_units
from shared.bench.planning import Plan, create_plan, units_of
from shared.bench.results import aggregate
from shared.bench.strategies import StrategyError
from shared.bench.suite import SuiteError
from shared.config import Settings
from shared.log import get_logger
from shared.platform.events import RetryLater
from shared.platform.leases import HEARTBEAT_S, LEASE_S
from shared.redaction import redact

log = get_logger(__name__)


# --- one shard, exactly once; the last one aggregates -------------------------------------
def run_shard(settings: Settings, bench_id: str, shard: int,
              on_complete: Callable[[dict[str, Any]], None] | None = None,
              repo: records.BenchRuns | None = None, store: results_store.BenchResults | None = None) -> str:
    """Run one shard exactly once; the shard that completes the run aggregates it."""
    repo = repo or records.repository()
    store = store or results_store.repository()
    doc = repo.get(bench_id)
    if doc is None:
        log.error("shard for an unknown benchmark run dropped", bench_id=bench_id, shard=shard)
        return "missing"
    plan = Plan.model_validate(doc["plan"])
    unit = f"shards.s{shard}"
    claim = repo.claim(bench_id, unit, LEASE_S)
    if claim == "claimed":
        started = time.monotonic()
        try:
            with repo.keep_alive(bench_id, unit, HEARTBEAT_S):
                results = run_units(settings, plan, units_of(plan, shard), plan.pricing, store)
                store.write_shard(bench_id, shard, results)
        except Exception as exc:
            # release the claim: the redelivered message runs the shard again at once instead of
            # answering "busy" until the lease runs out (and nothing ever aggregating)
            repo.update(bench_id, {f"{unit}.status": "errored",
                                   f"{unit}.error": redact(f"{exc.__class__.__name__}: {exc}")[:500]})
            log.error("benchmark shard failed; claim released for the retry", bench_id=bench_id, shard=shard,
                      error=redact(str(exc))[:300])
            raise
        repo.finish_shard(bench_id, shard, len(results), time.monotonic() - started)
        log.info("benchmark shard finished", bench_id=bench_id, shard=shard, cases=len(results))
    elif claim == "busy":   # retried later: if its holder died, the retry takes the shard over
        raise RetryLater(f"shard {shard} of {bench_id} is running in another attempt with a live lease")
    return maybe_aggregate(settings, bench_id, on_complete, repo, store)


def maybe_aggregate(settings: Settings, bench_id: str, on_complete: Callable[[dict[str, Any]], None] | None,
                    repo: records.BenchRuns | None = None, store: results_store.BenchResults | None = None) -> str:
    repo = repo or records.repository()
    doc = repo.get(bench_id) or {}
    if doc.get("shards_done", 0) < doc["plan"]["shard_count"]:
        return "shard done"
    claim = repo.claim(bench_id, "aggregation", LEASE_S)
    if claim == "busy":
        raise RetryLater(f"the aggregation of {bench_id} is running in another attempt with a live lease")
    if claim != "claimed":
        return "aggregation handled elsewhere"
    try:
        with repo.keep_alive(bench_id, "aggregation", HEARTBEAT_S):
            summary = aggregate(settings, Plan.model_validate(doc["plan"]), store)
    except Exception as exc:
        # release the claim so the redelivered shard message aggregates again at once
        repo.update(bench_id, {"aggregation.status": "errored",
                               "aggregation.error": f"{exc.__class__.__name__}: {exc}"})
        raise
    repo.update(bench_id, {"aggregation.status": "succeeded", "status": summary["status"], "summary": summary,
                           "finished_at": datetime.now(timezone.utc)})
    log.info("benchmark aggregated", bench_id=bench_id, status=summary["status"], verdict=summary["verdict"])
    if on_complete:
        on_complete(summary)
    return "aggregated"


# --- entry: plan, then run inline or fan out ----------------------------------------------
def start_bench(settings: Settings, bench_id: str, phase: str, models: list[str], suite: str | None,
                max_per_category: int | None, weekly_run_id: str | None,
                publish_shard: Callable[[str, int], None],
                on_complete: Callable[[dict[str, Any]], None] | None = None,
                weekly_ctx: dict[str, Any] | None = None, repo: records.BenchRuns | None = None,
                store: results_store.BenchResults | None = None, variants: dict[str, dict[str, Any]] | None = None,
                cases_uri: str | None = None, upgrade_id: str | None = None,
                ab_change_id: str | None = None) -> dict[str, Any]:
    """Plan a run (idempotent per bench id), then run it inline (one shard) or fan out. A
    redelivered request for a run that is still going resumes it instead of being dropped."""
    repo = repo or records.repository()
    existing = repo.get(bench_id)
    if existing is not None:
        return _resume(settings, existing, publish_shard, on_complete, repo, store)
    now = datetime.now(timezone.utc)
    try:
        plan = create_plan(settings, bench_id, phase, models, suite, max_per_category, weekly_run_id, store,
                           variants, cases_uri)
    except (BudgetRefused, SuiteError, StrategyError, results_store.NotStored) as exc:
        # nothing was called; a bad suite cannot succeed on retry either, so it is a result too
        status = "refused" if isinstance(exc, BudgetRefused) else "failed"
        repo.create(bench_id, {"bench_id": bench_id, "phase": phase, "status": status, "error": str(exc),
                               "created_at": now, "weekly_run_id": weekly_run_id, "upgrade_id": upgrade_id,
                               "ab_change_id": ab_change_id})
        log.error(f"benchmark {status}", bench_id=bench_id, reason=str(exc))
        summary = {"bench_id": bench_id, "status": status, "verdict": status, "error": str(exc)}
        if on_complete:
            on_complete(summary)
        return summary
    if not repo.create(bench_id, {"bench_id": bench_id, "phase": phase, "status": "running", "created_at": now,
                                  "weekly_run_id": weekly_run_id, "weekly_ctx": weekly_ctx, "upgrade_id": upgrade_id,
                                  "ab_change_id": ab_change_id,
                                  "plan": plan.model_dump(mode="python"), "shards_done": 0, "shards": {}}):
        # planned concurrently
        return _resume(settings, repo.get(bench_id) or {}, publish_shard, on_complete, repo, store)
    log.info("benchmark planned", bench_id=bench_id, models=plan.models, units=plan.units,
             shards=plan.shard_count, estimate_usd=plan.estimate["usd_upper_bound"])
    if plan.shard_count == 1:
        run_shard(settings, bench_id, 0, on_complete, repo, store)
    else:
        for shard in range(plan.shard_count):
            publish_shard(bench_id, shard)
    return {"bench_id": bench_id, "status": "running", "shards": plan.shard_count}


def _resume(settings: Settings, doc: dict[str, Any], publish_shard: Callable[[str, int], None],
            on_complete: Callable[[dict[str, Any]], None] | None, repo: records.BenchRuns,
            store: results_store.BenchResults | None) -> dict[str, Any]:
    """A run that exists already: finished → nothing to do; still running → run the inline
    shard again (its claim says whether that is needed) or re-publish the unfinished shards."""
    bench_id = doc.get("bench_id", "?")
    if doc.get("status") != "running" or not doc.get("plan"):
        log.warning("benchmark run already handled; redelivery ignored", bench_id=bench_id,
                    status=doc.get("status"))
        summary = doc.get("summary") or ({"bench_id": bench_id, "status": doc["status"], "error": doc.get("error")}
                                         if doc.get("status") in ("refused", "failed") else None)
        if on_complete and summary:     # the hand-over may have been lost with the instance that ran it
            on_complete(summary)
        return {"bench_id": bench_id, "status": "duplicate"}
    plan = Plan.model_validate(doc["plan"])
    if plan.shard_count == 1:
        outcome = run_shard(settings, bench_id, 0, on_complete, repo, store)
    else:
        shards = doc.get("shards") or {}
        todo = [i for i in range(plan.shard_count) if (shards.get(f"s{i}") or {}).get("status") != "succeeded"]
        for shard in todo:
            publish_shard(bench_id, shard)
        outcome = f"re-published shards {todo}"
    log.warning("benchmark run redelivered while running; resumed", bench_id=bench_id, outcome=outcome)
    return {"bench_id": bench_id, "status": "duplicate", "resumed": outcome}


def load_bench(bench_id: str, repo: records.BenchRuns | None = None) -> dict[str, Any] | None:
    return (repo or records.repository()).get(bench_id)
