"""Fan-in of a benchmark run: metrics with confidence intervals over its case results, the
rolling baseline, and the evidence for the regression verdict. Verdicts are shared/policy.py's;
this module gathers the evidence it needs. Where results and baselines are kept is
shared/bench/store.py's.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from shared import policy
from shared.bench import stats
from shared.bench import store as results_store
from shared.bench.budget import BUDGET_EXHAUSTED
from shared.bench.cases import CATEGORIES, CaseResult
from shared.bench.planning import Plan
from shared.config import Settings


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


def outcomes(results: list[CaseResult], model: str) -> dict[str, bool]:
    """case id → passed; an errored case is a failure."""
    return {r.case_id: r.status == "scored" and bool(r.passed) for r in results if r.model == model}


def baseline_evidence(store: results_store.BenchResults, key: str, model: str, limit: int, exclude: str,
                      loaded: dict[str, list[CaseResult]]) -> list[tuple[str, dict[str, bool]]]:
    """(bench id, case id → passed) of the comparable earlier runs, newest first. `loaded` keeps
    each baseline run's results for the other models of the same aggregation (one read per run)."""
    runs = []
    for doc in store.baseline_runs(key, exclude, limit):
        bench_id = doc["bench_id"]
        if bench_id not in loaded:
            loaded[bench_id] = store.read_results(bench_id, doc["plan"]["shard_count"])
        runs.append((bench_id, outcomes(loaded[bench_id], model)))
    return runs


def regression(results: list[CaseResult], model: str, baseline: Sequence[tuple[str, dict[str, bool]]],
               thresholds: policy.Thresholds) -> policy.ModelVerdict:
    """One model's results in this run against the baseline runs' outcomes: the policy decides."""
    own = [r for r in results if r.model == model]
    return policy.judge_model(outcomes(results, model), [r.case_id for r in own if r.status == "errored"],
                              len(own), baseline, thresholds)


def aggregate(settings: Settings, plan: Plan, store: results_store.BenchResults | None = None) -> dict[str, Any]:
    store = store or results_store.repository()
    results = store.read_results(plan.bench_id, plan.shard_count)
    now = datetime.now(timezone.utc)
    thresholds = policy.Thresholds.from_settings(settings)
    because = list(plan.simulated_because)
    if any(r.simulated for r in results) and not any("header" in b for b in because):
        because.append("the server answered X-Simulated: true")
    simulated = bool(because)
    models: dict[str, Any] = {}
    states: list[str] = []
    loaded: dict[str, list[CaseResult]] = {}
    for model in plan.models:
        rs = [r for r in results if r.model == model]
        key = target_key(plan.suite_key, model, plan.llm_base_url, simulated)
        baseline = baseline_evidence(store, key, model, settings.bench_baseline_runs, plan.bench_id, loaded)
        verdict = regression(results, model, baseline, thresholds)
        states.append(verdict.state)
        models[model] = {**model_metrics(rs), "routing_categories": plan.targets.get(model, []),
                         "complete": verdict.state != "incomplete", "regression": verdict.model_dump(),
                         "state": verdict.state}
        store.save_target_result({
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
            "results_prefix": store.results_location(plan.bench_id),
            "thresholds": thresholds.model_dump()}


def read_outcomes(run: dict[str, Any], labels: set[str], store: results_store.BenchResults
                  ) -> dict[str, list[policy.CaseOutcome]]:
    """label → its case outcomes in a finished run (`run`: its `bench_runs` record, already read
    by the caller), as the post-change and A/B judgements take them."""
    shards = ((run.get("plan") or {}).get("shard_count")) or 0
    out: dict[str, list[policy.CaseOutcome]] = {}
    for r in store.read_results(run["bench_id"], shards) if shards else []:
        if r.model in labels:
            out.setdefault(r.model, []).append(policy.CaseOutcome(
                case_id=r.case_id, category=r.category, passed=r.status == "scored" and bool(r.passed),
                errored=r.status == "errored"))
    return out
