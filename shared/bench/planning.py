"""Planning a benchmark run: targets, catalog pricing, the budget check and the planned cases.

Everything here happens before the run record exists (shared/bench/fanout.py creates it), so a
run that cannot start never leaves a record `running`. The exact cases planned are stored under
their hash (shared/bench/store.py), so every shard scores what was planned, custom suites included.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from shared.bench import budget
from shared.bench import store as results_store
from shared.bench.budget import BudgetRefused
from shared.bench.cases import PlannedCases
from shared.bench.spend import SpendLedger
from shared.bench.strategies import calls_for
from shared.bench.suite import SuiteError, load_suite
from shared.catalog import store as catalog_store
from shared.config import Settings
from shared.serving.models import Strategy


class Plan(BaseModel):
    bench_id: str
    phase: str
    weekly_run_id: str | None
    suite: str
    suite_key: str
    models: list[str]
    targets: dict[str, list[str]]
    case_ids: list[str]
    units: int
    shard_size: int
    shard_count: int
    estimate: dict[str, Any]
    pricing: dict[str, dict[str, str] | None] = {}  # catalog pricing read once at planning
    llm_base_url: str
    cases_uri: str                       # the stored planned cases, named by their content hash
    simulated_because: list[str] = []    # known before any call: configured simulator endpoint
    # label → BenchTarget JSON for targets that are not a plain model (a strategy, a template);
    # a label absent here is a model id called with the cases as they are
    variants: dict[str, dict[str, Any]] = {}

    def model_of(self, label: str) -> str:
        return (self.variants.get(label) or {}).get("model") or label


def default_targets() -> dict[str, list[str]]:
    """model → the routing categories it is primary for in the serving version the platform
    serves now (the catalog's seeded routing before any version exists)."""
    from shared.serving import store as serving_store

    version = serving_store.current(serving_store.repository())
    if version is None:
        return catalog_store.routing_targets()
    targets: dict[str, list[str]] = {}
    for category, route in version.routing.items():
        targets.setdefault(route.primary, []).append(category)
    return {m: sorted(c) for m, c in sorted(targets.items())}


def strategy_of(variant: dict[str, Any] | None) -> Strategy:
    """A target's reasoning strategy (direct when it names none). `params.template` names the
    serving template and is resolved into the target's text: the strategy itself does not take it."""
    raw = (variant or {}).get("strategy") or {"name": "direct"}
    params = {k: v for k, v in (raw.get("params") or {}).items() if k != "template"}
    return Strategy.model_validate({**raw, "params": params})


def samples_of(variant: dict[str, Any] | None) -> int:
    """Calls per case of a target: k for self-consistency, else 1 (StrategyError if invalid)."""
    return calls_for(strategy_of(variant))


def catalog_pricing(models: list[str]) -> dict[str, dict[str, str] | None]:
    """model → the catalog prices that bound its calls ({} for a free model; the most expensive
    tier's per key for tiered pricing), None when the catalog lacks it."""
    from shared.catalog.models import bounding_pricing
    from shared.catalog.sync import model_details

    found = model_details(models)
    return {m: bounding_pricing(found[m]) if m in found else None for m in models}


def units_of(plan: Plan, shard: int) -> list[tuple[str, str]]:
    every = [(m, c) for m in plan.models for c in plan.case_ids]
    return every[shard * plan.shard_size:(shard + 1) * plan.shard_size]


def simulated_because(settings: Settings) -> list[str]:
    return ["LLM base URL listed in SIMULATOR_BASE_URLS"] if settings.llm_is_simulator() else []


def create_plan(settings: Settings, bench_id: str, phase: str, models: list[str], suite_name: str | None,
                max_per_category: int | None, weekly_run_id: str | None,
                store: results_store.BenchResults | None = None,
                variants: dict[str, dict[str, Any]] | None = None, cases_uri: str | None = None) -> Plan:
    """Validate the suite, pick targets, estimate and check the budget: all before the run
    record exists, so a run that cannot start never has a record left `running`.

    `variants` (label → BenchTarget JSON) names the targets explicitly (a post-change run);
    `cases_uri` reuses the cases another run planned (the same cases as the pre-change run)."""
    store = store or results_store.repository()
    variants = {k: v for k, v in (variants or {}).items()}
    if cases_uri:
        planned = store.read_planned(cases_uri)
        suite_name_, suite_key, cases = planned.suite, planned.suite_key, planned.cases
    else:
        suite = load_suite(suite_name or settings.bench_suite)
        suite_name_, suite_key = suite.name, suite.key
        cases = suite.select(max_per_category or settings.bench_max_cases_per_category)
    if variants:
        targets: dict[str, list[str]] = {label: [] for label in variants}
    else:
        targets = {m: [] for m in models} if models else default_targets()
    if not targets:
        raise BudgetRefused("no targets: the routing table is empty and no model was named")
    if not cases:
        raise SuiteError(f"suite {suite_key} has no cases to run")
    model_of = {label: (variants.get(label) or {}).get("model") or label for label in targets}
    by_model = catalog_pricing(sorted(set(model_of.values())))
    pricing = {label: by_model.get(model) for label, model in model_of.items()}
    estimate = budget.estimate_cost(cases, list(targets), pricing, settings.http_max_attempts,
                                    settings.bench_allow_unpriced,
                                    samples={label: samples_of(variants.get(label)) for label in targets})
    caps = SpendLedger(settings, bench_id).used()
    caps["BENCH_BUDGET_USD"] = (caps["BENCH_BUDGET_USD"][0], Decimal(0))  # a new run has spent nothing
    budget.check_budget(estimate, caps)
    cases_uri = cases_uri or store.write_planned(PlannedCases(suite=suite_name_, suite_key=suite_key, cases=cases))
    units = len(cases) * len(targets)
    count = max(1, -(-units // settings.bench_shard_size))
    return Plan(bench_id=bench_id, phase=phase, weekly_run_id=weekly_run_id, suite=suite_name_,
                suite_key=suite_key, models=list(targets), targets=targets, case_ids=[c.id for c in cases],
                units=units, shard_size=settings.bench_shard_size, shard_count=count, estimate=estimate,
                pricing=pricing, llm_base_url=settings.llm_url, cases_uri=cases_uri,
                simulated_because=simulated_because(settings),
                variants={k: v for k, v in variants.items() if v.get("strategy") or v.get("template")})
