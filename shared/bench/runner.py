"""Benchmark runs: targets, budget, fan-out into shards, scoring, fan-in exactly once,
metrics with confidence intervals, and regression detection against a rolling baseline.
Verdicts are shared/policy.py's; this module gathers the evidence it needs.

Firestore: bench_runs/{bench_id} (plan, shard states, summary), bench_target_results/{id}
(one per run and model: the rolling baseline). Storage: bench/planned/{sha256}.json (the exact
cases planned, so every shard scores what was planned, custom suites included),
bench/results/{bench_id}/shard-NNNN.jsonl (per-case results). A run is idempotent per bench id;
a weekly run's id is {run_id}.benchmark-{phase}.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from shared import policy
from shared.bench import stats
from shared.bench.budget import BUDGET_EXHAUSTED, BudgetRefused
from shared.bench.cases import CATEGORIES
from shared.bench.execution import CaseResult, run_units
from shared.bench.planning import Plan, create_plan, units_of
from shared.bench.suite import SuiteError
from shared.config import Settings
from shared.log import get_logger
from shared.platform import firestore as fs
from shared.platform import storage
from shared.redaction import redact

log = get_logger(__name__)
BENCH_RUNS = "bench_runs"
TARGET_RESULTS = "bench_target_results"
SHARD_LEASE_S = 600


# --- running one shard ---------------------------------------------------------------------
def shard_path(plan: Plan, shard: int) -> str:
    return f"bench/results/{plan.bench_id}/shard-{shard:04d}.jsonl"


def run_shard(settings: Settings, bench_id: str, shard: int,
              on_complete: Callable[[dict[str, Any]], None] | None = None) -> str:
    """Run one shard exactly once; the shard that completes the run aggregates it."""
    db = fs.client()
    ref = db.collection(BENCH_RUNS).document(bench_id)
    doc = ref.get().to_dict()
    if doc is None:
        log.error("shard for an unknown benchmark run dropped", bench_id=bench_id, shard=shard)
        return "missing"
    plan = Plan.model_validate(doc["plan"])
    claim = fs.claim(ref, SHARD_LEASE_S, prefix=f"shards.s{shard}")
    if claim == "claimed":
        started = time.monotonic()
        try:
            results = run_units(settings, plan, units_of(plan, shard), plan.pricing)
            body = "".join(r.model_dump_json() + "\n" for r in results).encode()
            storage.write_bytes(settings.require_raw_bucket(), shard_path(plan, shard), body, "application/x-ndjson")
        except Exception as exc:
            # release the claim: the redelivered message runs the shard again at once instead of
            # answering "busy" until the lease runs out (and nothing ever aggregating)
            ref.update({f"shards.s{shard}.status": "errored",
                        f"shards.s{shard}.error": redact(f"{exc.__class__.__name__}: {exc}")[:500]})
            log.error("benchmark shard failed; claim released for the retry", bench_id=bench_id, shard=shard,
                      error=redact(str(exc))[:300])
            raise
        _finish_shard(ref, shard, len(results), time.monotonic() - started)
        log.info("benchmark shard finished", bench_id=bench_id, shard=shard, cases=len(results))
    elif claim == "busy":
        return "busy"
    return maybe_aggregate(settings, bench_id, on_complete)


def _finish_shard(ref: Any, shard: int, n: int, seconds: float) -> None:
    from google.cloud import firestore

    @firestore.transactional
    def txn(transaction: Any) -> None:
        snap = ref.get(transaction=transaction).to_dict()
        state = (snap.get("shards") or {}).get(f"s{shard}") or {}
        if state.get("status") == "succeeded":
            return  # counted already
        transaction.update(ref, {f"shards.s{shard}.status": "succeeded", f"shards.s{shard}.cases": n,
                                 f"shards.s{shard}.duration_s": round(seconds, 3),
                                 "shards_done": firestore.Increment(1)})
    txn(fs.client().transaction())


def maybe_aggregate(settings: Settings, bench_id: str,
                    on_complete: Callable[[dict[str, Any]], None] | None) -> str:
    ref = fs.client().collection(BENCH_RUNS).document(bench_id)
    doc = ref.get().to_dict() or {}
    if doc.get("shards_done", 0) < doc["plan"]["shard_count"]:
        return "shard done"
    if fs.claim(ref, SHARD_LEASE_S, prefix="aggregation") != "claimed":
        return "aggregation handled elsewhere"
    try:
        summary = aggregate(settings, Plan.model_validate(doc["plan"]))
    except Exception as exc:
        # release the claim so the redelivered shard message aggregates again at once
        ref.update({"aggregation.status": "errored", "aggregation.error": f"{exc.__class__.__name__}: {exc}"})
        raise
    ref.update({"aggregation.status": "succeeded", "status": summary["status"], "summary": summary,
                "finished_at": datetime.now(timezone.utc)})
    log.info("benchmark aggregated", bench_id=bench_id, status=summary["status"], verdict=summary["verdict"])
    if on_complete:
        on_complete(summary)
    return "aggregated"


# --- fan-in: metrics and regression --------------------------------------------------------
def load_results(settings: Settings, plan: Plan) -> list[CaseResult]:
    out = []
    for shard in range(plan.shard_count):
        raw = storage.read_bytes(settings.require_raw_bucket(), shard_path(plan, shard)).decode()
        out += [CaseResult.model_validate_json(line) for line in raw.splitlines() if line.strip()]
    return out


def _ci(mean: float, n: int) -> list[float]:
    lo, hi = stats.proportion_interval(mean, n)
    return [round(100 * lo, 2), round(100 * hi, 2)]


def model_metrics(results: list[CaseResult]) -> dict[str, Any]:
    """Score, pass rate and per-category scores over EVERY case, errored ones counted as 0 (a
    model that fails on its hardest cases loses for it); Wilson intervals; latency over every
    call that was made, errored ones included (a timeout counts at the time it took)."""
    scored = [r for r in results if r.status == "scored"]
    errored = [r for r in results if r.status == "errored"]
    n = len(results)
    latencies = [r.latency_s for r in results if r.latency_s is not None]
    out: dict[str, Any] = {"cases": n, "scored": len(scored), "errored": len(errored),
                           "error_rate": round(len(errored) / n, 4) if n else 0.0}
    if scored:
        mean = sum(r.score or 0.0 for r in scored) / n
        passes = sum(1 for r in scored if r.passed)
        out.update({"score": round(100 * mean, 2), "score_ci95": _ci(mean, n),
                    "pass_rate": round(passes / n, 4),
                    "pass_rate_ci95": [x / 100 for x in _ci(passes / n, n)]})
    if latencies:
        out.update({"latency_avg_s": round(sum(latencies) / len(latencies), 4),
                    "latency_p95_s": round(stats.percentile(latencies, 95), 4), "latency_calls": len(latencies)})
    out["tokens"] = {"prompt": sum(r.prompt_tokens or 0 for r in results),
                     "completion": sum(r.completion_tokens or 0 for r in results)}
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    out["cost_usd"] = round(sum(costs), 6) if costs else None
    out["cost_sources"] = sorted({r.cost_source for r in results})
    per_cat = {}
    for cat in CATEGORIES:
        rs = [r for r in results if r.category == cat]
        if rs:
            mean = sum((r.score or 0.0) if r.status == "scored" else 0.0 for r in rs) / len(rs)
            per_cat[cat] = {"n": len(rs), "score": round(100 * mean, 2), "ci95": _ci(mean, len(rs)),
                            "errored": sum(1 for r in rs if r.status == "errored")}
    out["categories"] = per_cat
    out["errors"] = sorted({(r.error or "")[:160] for r in errored})[:5]
    return out


def target_key(suite_key: str, model: str, llm_base_url: str, simulated: bool) -> str:
    """Baselines compare like with like: same suite version, model, endpoint and label."""
    return f"{suite_key}|{model}|{llm_base_url.rstrip('/')}|{'simulated' if simulated else 'real'}"


def baseline_runs(key: str, limit: int, exclude: str) -> list[dict[str, Any]]:
    """The last `limit` complete runs with this target key (newest first).
    Equality query only (no composite index); ordered in memory."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    docs = [s.to_dict() for s in fs.client().collection(TARGET_RESULTS)
            .where(filter=FieldFilter("target_key", "==", key)).stream()]
    docs = [d for d in docs if d.get("complete") and d.get("bench_id") != exclude]
    return sorted(docs, key=lambda d: d["finished_at"], reverse=True)[:limit]


def outcomes(results: list[CaseResult], model: str) -> dict[str, bool]:
    """case id → passed; an errored case is a failure."""
    return {r.case_id: r.status == "scored" and bool(r.passed) for r in results if r.model == model}


def regression(settings: Settings, plan: Plan, model: str, results: list[CaseResult], key: str,
               baseline_results: dict[str, list[CaseResult]]) -> policy.ModelVerdict:
    """Gather the evidence (this run's outcomes, the comparable baseline runs' outcomes) and let
    the policy decide."""
    base = baseline_runs(key, settings.bench_baseline_runs, plan.bench_id)
    runs = []
    for doc in base:
        if doc["bench_id"] not in baseline_results:  # one read per baseline run, not per model
            baseline_results[doc["bench_id"]] = load_results(settings, Plan.model_validate(doc["plan"]))
        runs.append((doc["bench_id"], outcomes(baseline_results[doc["bench_id"]], model)))
    return policy.judge_model(outcomes(results, model), [r.case_id for r in results if r.status == "errored"],
                              len(results), runs, policy.Thresholds.from_settings(settings))


def aggregate(settings: Settings, plan: Plan) -> dict[str, Any]:
    results = load_results(settings, plan)
    now = datetime.now(timezone.utc)
    thresholds = policy.Thresholds.from_settings(settings)
    because = list(plan.simulated_because)
    if any(r.simulated for r in results) and not any("header" in b for b in because):
        because.append("the server answered X-Simulated: true")
    simulated = bool(because)
    models: dict[str, Any] = {}
    states: list[str] = []
    baseline_results: dict[str, list[CaseResult]] = {}
    for model in plan.models:
        rs = [r for r in results if r.model == model]
        key = target_key(plan.suite_key, model, plan.llm_base_url, simulated)
        verdict = regression(settings, plan, model, rs, key, baseline_results)
        states.append(verdict.state)
        models[model] = {**model_metrics(rs), "routing_categories": plan.targets.get(model, []),
                         "complete": verdict.state != "incomplete", "regression": verdict.model_dump(),
                         "state": verdict.state}
        fs.client().collection(TARGET_RESULTS).document(f"{plan.bench_id}__{fs.doc_id(model)}").set({
            "bench_id": plan.bench_id, "model": model, "suite_key": plan.suite_key, "target_key": key,
            "phase": plan.phase, "complete": verdict.state != "incomplete", "simulated": simulated,
            "llm_base_url": plan.llm_base_url, "score": models[model].get("score"),
            "pass_rate": models[model].get("pass_rate"), "finished_at": now,
            "plan": plan.model_dump(mode="python")})
    coding = [r for r in results if r.scorer == "python_tests"]
    sandbox = {"cases": len(coding), "isolation": sorted({r.isolation for r in coding if r.isolation}),
               "weak_layers": sorted({layer for r in coding for layer in r.weak_isolation}),
               "unavailable": sum(1 for r in coding if r.status == "errored"
                                  and (r.error or "").startswith("sandbox unavailable"))}
    verdict = policy.run_verdict(states)
    exhausted = [r for r in results if (r.error or "").startswith(BUDGET_EXHAUSTED)]
    status = "budget_exhausted" if exhausted else "incomplete" if verdict == "incomplete" else "complete"
    return {"bench_id": plan.bench_id, "phase": plan.phase, "suite": plan.suite_key,
            "status": status, "verdict": verdict, "simulated": simulated, "simulated_because": because,
            "sandbox": sandbox, "llm_base_url": plan.llm_base_url, "units": plan.units,
            "not_called": len(exhausted), "shards": plan.shard_count, "models": models, "estimate": plan.estimate,
            "results_prefix": f"gs://{settings.require_raw_bucket()}/bench/results/{plan.bench_id}/",
            "thresholds": thresholds.model_dump()}


# --- entry -------------------------------------------------------------------------------
def start_bench(settings: Settings, bench_id: str, phase: str, models: list[str], suite: str | None,
                max_per_category: int | None, weekly_run_id: str | None,
                publish_shard: Callable[[str, int], None],
                on_complete: Callable[[dict[str, Any]], None] | None = None,
                weekly_ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plan a run (idempotent per bench id), then run it inline (one shard) or fan out. A
    redelivered request for a run that is still going resumes it instead of being dropped."""
    from google.api_core.exceptions import AlreadyExists

    ref = fs.client().collection(BENCH_RUNS).document(bench_id)
    existing = ref.get()
    if existing.exists:
        return _resume(settings, existing.to_dict() or {}, publish_shard, on_complete)
    now = datetime.now(timezone.utc)
    try:
        plan = create_plan(settings, bench_id, phase, models, suite, max_per_category, weekly_run_id)
    except (BudgetRefused, SuiteError) as exc:
        # nothing was called; a bad suite cannot succeed on retry either, so it is a result too
        status = "refused" if isinstance(exc, BudgetRefused) else "failed"
        try:
            ref.create({"bench_id": bench_id, "phase": phase, "status": status, "error": str(exc),
                        "created_at": now, "weekly_run_id": weekly_run_id})
        except AlreadyExists:
            pass
        log.error(f"benchmark {status}", bench_id=bench_id, reason=str(exc))
        summary = {"bench_id": bench_id, "status": status, "verdict": status, "error": str(exc)}
        if on_complete:
            on_complete(summary)
        return summary
    try:
        ref.create({"bench_id": bench_id, "phase": phase, "status": "running", "created_at": now,
                    "weekly_run_id": weekly_run_id, "weekly_ctx": weekly_ctx,
                    "plan": plan.model_dump(mode="python"), "shards_done": 0, "shards": {}})
    except AlreadyExists:   # a concurrent delivery planned it first
        return _resume(settings, ref.get().to_dict() or {}, publish_shard, on_complete)
    log.info("benchmark planned", bench_id=bench_id, models=plan.models, units=plan.units,
             shards=plan.shard_count, estimate_usd=plan.estimate["usd_upper_bound"])
    if plan.shard_count == 1:
        run_shard(settings, bench_id, 0, on_complete)
    else:
        for shard in range(plan.shard_count):
            publish_shard(bench_id, shard)
    return {"bench_id": bench_id, "status": "running", "shards": plan.shard_count}


def _resume(settings: Settings, doc: dict[str, Any], publish_shard: Callable[[str, int], None],
            on_complete: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    """A run that exists already: finished → nothing to do; still running → run the inline
    shard again (its claim says whether that is needed) or re-publish the unfinished shards."""
    bench_id = doc.get("bench_id", "?")
    if doc.get("status") != "running" or not doc.get("plan"):
        log.warning("benchmark run already handled; redelivery ignored", bench_id=bench_id,
                    status=doc.get("status"))
        return {"bench_id": bench_id, "status": "duplicate"}
    plan = Plan.model_validate(doc["plan"])
    if plan.shard_count == 1:
        outcome = run_shard(settings, bench_id, 0, on_complete)
    else:
        shards = doc.get("shards") or {}
        todo = [i for i in range(plan.shard_count) if (shards.get(f"s{i}") or {}).get("status") != "succeeded"]
        for shard in todo:
            publish_shard(bench_id, shard)
        outcome = f"re-published shards {todo}"
    log.warning("benchmark run redelivered while running; resumed", bench_id=bench_id, outcome=outcome)
    return {"bench_id": bench_id, "status": "duplicate", "resumed": outcome}


def load_bench(bench_id: str) -> dict[str, Any] | None:
    snap = fs.client().collection(BENCH_RUNS).document(bench_id).get()
    return snap.to_dict() if snap.exists else None
