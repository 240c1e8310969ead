"""Running the units of one shard: the model calls (a thread pool), the spend reserved for each
call before it is made (shared/bench/spend.py), scoring, and coding cases sent to code_runner in
batches while the calls go on. Nothing here touches the run record (shared/bench/fanout.py does).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.bench import budget
from shared.bench import store as results_store
from shared.bench.cases import Case, CaseResult
from shared.bench.client import ChatClient, Completion, run_strategy
from shared.bench.code_client import CodeBatcher, CodeRunnerClient
from shared.bench.planning import Plan, samples_of, strategy_of
from shared.bench.scorers import code_case, score_from_verdict
from shared.bench.scorers import score as score_case
from shared.bench.spend import RunBudget, SpendLedger
from shared.bench.strategies import system_message
from shared.config import Settings
from shared.redaction import redact
from shared.sandbox.models import CodeCase, CodeVerdict


def run_units(settings: Settings, plan: Plan, units: list[tuple[str, str]],
              pricing: dict[str, dict[str, str] | None],
              store: results_store.BenchResults | None = None) -> list[CaseResult]:
    """Call the model for every unit; score at once, except coding cases, which go to
    code_runner in batches while the calls go on."""
    by_id = {c.id: c for c in (store or results_store.repository()).read_planned(plan.cases_uri).cases}
    client = ChatClient(settings)
    code_runner = CodeRunnerClient(settings)
    batcher = CodeBatcher(code_runner, settings.code_runner_batch_size)
    pending: dict[int, CodeCase] = {}
    attempts = settings.http_max_attempts
    rates = {m: budget.rates_or_none(plan.model_of(m), pricing.get(m)) for m in {m for m, _ in units}}
    # a target's calls per case (self-consistency samples k times) and its template in the prompt
    calls = {m: samples_of(plan.variants.get(m)) for m in rates}
    bounds = [budget.call_bound(rates[m], budget.prompt_token_bound(by_id[c].prompt, system_of(plan, m, by_id[c])),
                                by_id[c].max_tokens, attempts) * calls[m] if rates[m] else budget.ZERO
              for m, c in units]
    spend = RunBudget(SpendLedger(settings, plan.bench_id), bounds, settings.bench_concurrency)

    def one(index: int, unit: tuple[str, str]) -> CaseResult:
        model, case_id = unit
        case = by_id[case_id]
        refused = spend.take(bounds[index])
        if refused:   # never called: the rest of the run is over budget
            return CaseResult(bench_id=plan.bench_id, model=model, case_id=case.id, category=case.category,
                              scorer=case.scorer, status="errored", error=refused)
        charge = bounds[index]  # until the call says otherwise, assume its whole bound was spent
        try:
            done = call_target(client, plan, model, case)
            exact, source = budget.actual_cost(rates[model], done.cost_usd, done.prompt_tokens,
                                               done.completion_tokens)
            charge = budget.ledger_charge(exact, bounds[index] / attempts, responded=done.attempts > 0)
        finally:
            spend.done(bounds[index], charge)
        cost = float(exact) if exact is not None else None
        base = dict(bench_id=plan.bench_id, model=model, case_id=case.id, category=case.category,
                    scorer=case.scorer, latency_s=round(done.latency_s, 4), finish_reason=done.finish_reason,
                    prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                    simulated=done.simulated or bool(plan.simulated_because), llm_base_url=plan.llm_base_url)
        if not done.ok:
            return CaseResult(**base, status="errored", error=redact(done.error), cost_usd=cost, cost_source=source)
        excerpt = redact(done.content[:400])
        if case.scorer == "python_tests":
            code, early = code_case(case, done.content, f"{index}:{model}:{case.id}")
            if early is None:
                pending[index] = code
                batcher.add(index, code)
                return CaseResult(**base, status="scored", cost_usd=cost, cost_source=source,
                                  response_excerpt=excerpt)   # completed below with the verdict
            result = early
        else:
            result = score_case(case, done.content)
        return CaseResult(**base, status="scored", score=result.score, passed=result.passed,
                          detail=redact(result.detail[:500]), cost_usd=cost, cost_source=source,
                          response_excerpt=excerpt)

    try:
        with ThreadPoolExecutor(max_workers=settings.bench_concurrency) as pool:
            results = list(pool.map(one, range(len(units)), units))
        verdicts = batcher.results()
    finally:
        spend.close()
        client.close()
        code_runner.close()
    for index, code in pending.items():
        results[index] = with_verdict(results[index], code, verdicts.get(index, "no verdict returned"))
    return results


def system_of(plan: Plan, label: str, case: Case) -> str | None:
    """The system message a target sends for a case (for the prompt's cost bound)."""
    variant = plan.variants.get(label)
    if not variant:
        return case.system
    return system_message(case, strategy_of(variant), variant.get("template"))


def call_target(client: ChatClient, plan: Plan, label: str, case: Case) -> Completion:
    """A plain target is the model called with the case as it is; a variant runs its strategy
    (system prompt template, chain of thought, self-consistency: shared/bench/strategies.py)."""
    variant = plan.variants.get(label)
    if not variant:
        return client.complete(label, case)
    return run_strategy(client, variant["model"], case, strategy_of(variant), variant.get("template"))


def with_verdict(result: CaseResult, code: CodeCase, verdict: CodeVerdict | str) -> CaseResult:
    """A coding result completed with code_runner's verdict; without one (or when the runner
    could not isolate the code) the case is errored, never scored."""
    if isinstance(verdict, str) or verdict.status == "errored":
        why = verdict if isinstance(verdict, str) else verdict.detail
        if not why.startswith("sandbox unavailable"):
            why = f"sandbox unavailable: {why}"
        return result.model_copy(update={"status": "errored", "error": redact(why)[:500],
                                         "isolation": None if isinstance(verdict, str) or not verdict.isolation
                                         else verdict.isolation.label()})
    scored = score_from_verdict(code, verdict)
    return result.model_copy(update={"score": scored.score, "passed": scored.passed,
                                     "detail": redact(scored.detail[:500]),
                                     "isolation": verdict.isolation.label() if verdict.isolation else None,
                                     "weak_isolation": verdict.weak})
