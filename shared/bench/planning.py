"""Planning a benchmark run: targets, catalog pricing, the budget check and the planned cases.

Everything here happens before the run record exists (shared/bench/fanout.py creates it), so a
run that cannot start never leaves a record `running`. Storage: bench/planned/{sha256}.json (the
exact cases planned, so every shard scores what was planned, custom suites included).
"""
from __future__ import annotations

import functools
import hashlib
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from shared.bench import budget
from shared.bench.budget import BudgetRefused
from shared.bench.cases import Case
from shared.bench.spend import SpendLedger
from shared.bench.suite import SuiteError, load_suite
from shared.config import Settings
from shared.platform import firestore as fs
from shared.platform import storage


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
    cases_uri: str                       # gs:// planned cases, named by their content hash
    simulated_because: list[str] = []    # known before any call: configured simulator endpoint


class PlannedCases(BaseModel):
    """The cases a run scores, stored once under their hash and read by every shard."""
    suite: str
    suite_key: str
    cases: list[Case]

    def sha256(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def routing_targets() -> dict[str, list[str]]:
    """model → routing categories it is primary for (the default targets)."""
    # imported here, not at the top: shared.catalog.sync loads the Firestore client library at
    # import, which every cold start of the benchmark function would pay (~0.4 s)
    from shared.catalog.sync import ROUTING

    targets: dict[str, list[str]] = {}
    for snap in fs.client().collection(ROUTING).stream():
        d = snap.to_dict() or {}
        if d.get("primary_model"):
            targets.setdefault(d["primary_model"], []).append(d.get("category", snap.id))
    return {m: sorted(c) for m, c in sorted(targets.items())}


def catalog_pricing(models: list[str]) -> dict[str, dict[str, str] | None]:
    """model → its catalog pricing ({} for a free model), None when the catalog lacks it."""
    from shared.catalog.sync import model_details

    found = model_details(models)
    return {m: (found[m].get("pricing") or {}) if m in found else None for m in models}


def units_of(plan: Plan, shard: int) -> list[tuple[str, str]]:
    every = [(m, c) for m in plan.models for c in plan.case_ids]
    return every[shard * plan.shard_size:(shard + 1) * plan.shard_size]


def simulated_because(settings: Settings) -> list[str]:
    return ["LLM base URL listed in SIMULATOR_BASE_URLS"] if settings.llm_is_simulator() else []


def store_planned(settings: Settings, planned: PlannedCases) -> str:
    """Content-addressed: the same cases are written once; a shard on any instance reads them."""
    path = f"bench/planned/{planned.sha256()}.json"
    bucket = settings.require_raw_bucket()
    if not storage.exists(bucket, path):
        storage.write_bytes(bucket, path, planned.model_dump_json().encode(), "application/json")
    return f"gs://{bucket}/{path}"


@functools.lru_cache(maxsize=16)
def load_planned(cases_uri: str) -> PlannedCases:
    """The planned cases, checked against the hash in their name."""
    bucket, path = storage.split_uri(cases_uri)
    raw = storage.read_bytes(bucket, path)
    planned = PlannedCases.model_validate_json(raw)
    if not path.endswith(f"/{planned.sha256()}.json"):
        raise SuiteError(f"{cases_uri}: content does not match its hash")
    return planned


def create_plan(settings: Settings, bench_id: str, phase: str, models: list[str], suite_name: str | None,
                max_per_category: int | None, weekly_run_id: str | None) -> Plan:
    """Validate the suite, pick targets, estimate and check the budget: all before the run
    record exists, so a run that cannot start never has a record left `running`."""
    suite = load_suite(suite_name or settings.bench_suite)
    targets = {m: [] for m in models} if models else routing_targets()
    if not targets:
        raise BudgetRefused("no targets: the routing table is empty and no model was named")
    cases = suite.select(max_per_category or settings.bench_max_cases_per_category)
    if not cases:
        raise SuiteError(f"suite {suite.key} has no cases to run")
    pricing = catalog_pricing(list(targets))
    estimate = budget.estimate_cost(cases, list(targets), pricing, settings.http_max_attempts,
                                    settings.bench_allow_unpriced)
    caps = SpendLedger(settings, bench_id).used()
    caps["BENCH_BUDGET_USD"] = (caps["BENCH_BUDGET_USD"][0], Decimal(0))  # a new run has spent nothing
    budget.check_budget(estimate, caps)
    cases_uri = store_planned(settings, PlannedCases(suite=suite.name, suite_key=suite.key, cases=cases))
    units = len(cases) * len(targets)
    count = max(1, -(-units // settings.bench_shard_size))
    return Plan(bench_id=bench_id, phase=phase, weekly_run_id=weekly_run_id, suite=suite.name,
                suite_key=suite.key, models=list(targets), targets=targets, case_ids=[c.id for c in cases],
                units=units, shard_size=settings.bench_shard_size, shard_count=count, estimate=estimate,
                pricing=pricing, llm_base_url=settings.llm_url, cases_uri=cases_uri,
                simulated_because=simulated_because(settings))
