"""Benchmark money (shared/bench/budget.py): catalog prices → an upper bound that holds for every
price key, retries and unpriced models; the actual cost of a call. Pure: no emulators."""
from __future__ import annotations

from decimal import Decimal

import pytest

from shared.bench import budget
from shared.bench.budget import BudgetRefused, Unpriced
from shared.bench.cases import Case
from tests.conftest import load_fixture_json

D = Decimal


def case(n: int = 0, prompt: str = "abcd", max_tokens: int = 100, system: str | None = None) -> Case:
    return Case(id=f"factual-{n}", category="factual", prompt=prompt, system=system, scorer="exact",
                answer="x", max_tokens=max_tokens)


def bound(pricing: dict, model: str = "m/x", prompt_tokens: int = 10, max_tokens: int = 100,
          attempts: int = 1) -> Decimal:
    return budget.call_bound(budget.rates_of(model, pricing), prompt_tokens, max_tokens, attempts)


@pytest.mark.parametrize("key", ["prompt", "completion", "request", "image", "web_search", "internal_reasoning",
                                 "input_cache_read", "input_cache_write", "audio"])
def test_minus_one_in_any_key_makes_the_model_unpriced(key):
    pricing = {"prompt": "0.000001", "completion": "0.000002", key: "-1"}
    with pytest.raises(Unpriced, match=f"m/x: {key} negative price '-1'"):
        budget.rates_of("m/x", pricing)


@pytest.mark.parametrize("value, why", [("-0.000001", "negative price"), ("abc", "non-numeric"),
                                        ("", "non-numeric"), (None, "non-numeric"), ("NaN", "not a finite"),
                                        ("Infinity", "not a finite"), ("-inf", "not a finite")])
def test_negative_non_numeric_and_nan_prices_are_unpriced(value, why):
    with pytest.raises(Unpriced, match=why):
        budget.rates_of("m/x", {"prompt": "0.000001", "completion": value})


def test_completion_minus_one_no_longer_makes_a_negative_bound_that_passes():
    """The review's case: prompt priced, completion "-1" once gave a bound of −$196,601."""
    est = budget.estimate_cost([case(i, max_tokens=1024) for i in range(192)], ["r/router"],
                               {"r/router": {"prompt": "0.000001", "completion": "-1"}}, attempts=1)
    assert est["per_model_usd"] == {} and est["usd_upper_bound"] == 0
    assert "completion negative price" in est["refused_models"]["r/router"]
    with pytest.raises(BudgetRefused, match=r"cannot bound the cost of \['r/router'\].*BENCH_ALLOW_UNPRICED"):
        budget.check_budget(est, {"BENCH_BUDGET_USD": (D(10), D(0))})


def test_not_in_the_catalog_is_unpriced_whatever_the_base_url():
    est = budget.estimate_cost([case()], ["x/unknown"], {"x/unknown": None}, attempts=1)
    assert "not in the catalog" in est["refused_models"]["x/unknown"]


def test_request_fee_counts_per_call_192_calls_is_9_60():
    est = budget.estimate_cost([case(i) for i in range(192)], ["p/search"], {"p/search": {"request": "0.05"}},
                               attempts=1)
    assert D(est["usd_upper_bound_exact"]) == D("9.60") and est["per_model_usd"] == {"p/search": 9.6}
    with pytest.raises(BudgetRefused, match=r"exceeds BENCH_BUDGET_USD=\$5\.00"):
        budget.check_budget(est, {"BENCH_BUDGET_USD": (D(5), D(0))})


def test_every_key_counts_where_it_applies():
    base = {"prompt": "0.000001", "completion": "0.000002"}
    plain = bound(base)                                      # 10 × 1e-6 + 100 × 2e-6
    assert plain == D("0.00021")
    # a prompt may be written to the cache: prompt tokens at the highest input rate
    assert bound({**base, "input_cache_write": "0.00000125"}) == D("0.0000125") + D("0.0002")
    assert bound({**base, "input_cache_read": "0.000003"}) == D("0.00003") + D("0.0002")
    # reasoning tokens are bounded by max_tokens: the higher of completion and reasoning rates
    assert bound({**base, "internal_reasoning": "0.000005"}) == D("0.00001") + D("0.0005")
    assert bound({**base, "request": "0.005"}) == plain + D("0.005")
    # web_search: billed per search; only ":online" models search on every call
    assert bound({**base, "web_search": "0.01"}) == plain
    assert bound({**base, "web_search": "0.01"}, model="m/x:online") == plain + D("0.01")
    # image and audio are billed for inputs the text-only suites never send: known, not counted
    assert bound({**base, "image": "0.001238", "audio": "0.000002"}) == plain
    # zero-valued keys (older catalogs) and an empty map (a free model) cost nothing
    assert bound({**base, "request": "0", "image": "0", "web_search": "0"}) == plain
    assert bound({}) == 0


def test_unknown_price_key_makes_the_model_unpriced_naming_the_key():
    with pytest.raises(Unpriced, match="unknown price key.*audio_output"):
        budget.rates_of("m/x", {"prompt": "0.000001", "completion": "0.000002", "audio_output": "0.00001"})
    assert budget.rates_of("m/x", {"prompt": "0.000001", "future_thing": "0"}).input == D("0.000001")


def test_retries_multiply_the_bound():
    p = {"prompt": "0.000001", "completion": "0.000002", "request": "0.01"}
    one = bound(p, attempts=1)
    assert bound(p, attempts=5) == 5 * one
    cases = [case(i) for i in range(3)]
    e1 = budget.estimate_cost(cases, ["m/x"], {"m/x": p}, attempts=1)
    e5 = budget.estimate_cost(cases, ["m/x"], {"m/x": p}, attempts=5)
    assert D(e5["usd_upper_bound_exact"]) == 5 * D(e1["usd_upper_bound_exact"]) and e5["attempts_per_call"] == 5


def test_prompt_bound_is_utf8_bytes_plus_overhead_per_message():
    assert budget.prompt_token_bound("abcd", None) == 4 + budget.MESSAGE_OVERHEAD_TOKENS
    assert budget.prompt_token_bound("é€", "sys") == (2 + 3 + 16) + (3 + 16)


def test_allowed_unpriced_patterns():
    models = ["sim/steady", "openrouter/auto", "x/unlisted"]
    pricing = {"sim/steady": None, "openrouter/auto": {"prompt": "-1", "completion": "-1"}, "x/unlisted": None}
    est = budget.estimate_cost([case()], models, pricing, attempts=3, allow_unpriced=["sim/*", "openrouter/auto"])
    assert est["unpriced_models"] == ["sim/steady", "openrouter/auto"] and list(est["refused_models"]) == ["x/unlisted"]
    assert budget.allowed_unpriced("sim/steady", ["sim/*"]) and not budget.allowed_unpriced("simx/a", ["sim/*"])
    assert not budget.allowed_unpriced("Sim/steady", ["sim/*"])  # case-sensitive, like model ids
    ok = budget.estimate_cost([case()], ["sim/steady"], {"sim/steady": None}, attempts=3, allow_unpriced=["sim/*"])
    budget.check_budget(ok, {"BENCH_BUDGET_USD": (D(0), D(0))})  # allowed, bound $0: not refused


def test_money_is_exact():
    # 0.1 + 0.2 in floats is 0.30000000000000004; a thousand tiny prices must sum exactly
    p = {"prompt": "0.00000008333333333333334", "completion": "0.0000001"}
    est = budget.estimate_cost([case(i, prompt="a" * 84, max_tokens=1000) for i in range(1000)], ["m/x"],
                               {"m/x": p}, attempts=3)
    per_call = D("0.00000008333333333333334") * 100 + D("0.0000001") * 1000
    assert D(est["usd_upper_bound_exact"]) == 3 * 1000 * per_call
    cost, source = budget.actual_cost(budget.rates_of("m/x", {"prompt": "0.1", "completion": "0.2"}), None, 1, 1)
    assert (cost, source) == (D("0.3"), "catalog")


def test_check_names_the_cap_and_what_is_left():
    est = budget.estimate_cost([case()], ["m/x"], {"m/x": {"request": "3"}}, attempts=1)
    budget.check_budget(est, {"BENCH_BUDGET_USD": (D(10), D(0)), "BENCH_DAILY_BUDGET_USD": (D(25), D(22))})
    with pytest.raises(BudgetRefused, match=r"exceeds BENCH_DAILY_BUDGET_USD=\$25\.00 \(\$22\.01 already spent "
                                            r"or reserved, \$2\.99 left\)"):
        budget.check_budget(est, {"BENCH_BUDGET_USD": (D(10), D(0)),
                                  "BENCH_DAILY_BUDGET_USD": (D(25), D("22.01"))})
    with pytest.raises(BudgetRefused, match="BENCH_WEEKLY_BUDGET_USD=\\$2.00"):
        budget.check_budget(est, {"BENCH_WEEKLY_BUDGET_USD": (D(2), D(0))})


def test_actual_cost_prefers_usage_cost_then_catalog_with_every_applicable_key():
    rates = budget.rates_of("m/x", {"prompt": "0.000001", "completion": "0.000002", "internal_reasoning": "0.000003",
                                    "request": "0.05", "input_cache_write": "0.00001"})
    assert budget.actual_cost(rates, 0.0123, 10, 10) == (D("0.0123"), "usage.cost")
    # reported tokens at the plain prompt rate, completion at the reasoning rate, the request fee once
    assert budget.actual_cost(rates, None, 100, 10) == (D("0.0001") + D("0.00003") + D("0.05"), "catalog")
    assert budget.actual_cost(rates, None, None, 10) == (None, "unknown")
    assert budget.actual_cost(None, None, 100, 10) == (None, "unknown")
    assert budget.ledger_charge(None, D("0.2"), responded=True) == D("0.2")
    assert budget.ledger_charge(None, D("0.2"), responded=False) == 0
    assert budget.ledger_charge(D("0.01"), D("0.2"), responded=True) == D("0.01")


def test_real_catalog_pricing_keys_are_all_bounded():
    """Every model in the recorded OpenRouter snapshots is bounded, except the "-1" routers
    (openrouter/auto and the like): no real model carries a price key we cannot bound."""
    for name in ("models-2025-12-26.json", "models-2026-01-28.json", "models-2026-02-27.json",
                 "models-2026-05-01.json"):
        data = load_fixture_json("openrouter", name)["data"]
        pricing = {m["id"]: m.get("pricing") for m in data}
        routers = {m for m, p in pricing.items() if "-1" in p.values()}
        est = budget.estimate_cost([case()], list(pricing), pricing, attempts=1)
        assert routers and set(est["refused_models"]) == routers, est["refused_models"]
        assert len(est["per_model_usd"]) == len(pricing) - len(routers)


# --- the spend ledger against the emulators ----------------------------------------------------
def _settings(**env: str):
    import os

    from shared.config import settings_from_env

    return settings_from_env({**os.environ, **env})


def _bench(s, bench_id: str, models: list[str], max_cases: int) -> dict:
    from shared.bench import fanout

    done: list[dict] = []
    out = fanout.start_bench(s, bench_id, "adhoc", models, None, max_cases, None,
                             lambda b, i: fanout.run_shard(s, b, i, done.append), done.append)
    return done[-1] if done else out


def _spend_doc(doc_id: str) -> dict:
    from shared.bench.spend import SPEND
    from shared.platform import firestore as fs

    return fs.client().collection(SPEND).document(doc_id).get().to_dict() or {}


@pytest.mark.emulators
def test_ledger_accumulates_across_adhoc_runs_and_refuses_the_third_at_the_daily_cap(cloud):
    from datetime import datetime, timezone

    from shared.bench.spend import period_keys
    from shared.catalog.sync import run_sync

    run_sync(_settings(), "quick", "b-cat")  # demo catalog pricing
    model = "openai/gpt-demo-5"
    first = _bench(_settings(), "b-day-1", [model], 1)
    day, week = (f"day-{k}" if i == 0 else f"week-{k}" for i, k in enumerate(period_keys(datetime.now(timezone.utc))))
    one_run = D(_spend_doc(day)["spent_usd"])   # the simulator reports tokens: priced from the catalog
    bound = D(first["estimate"]["usd_upper_bound_exact"])
    assert first["status"] == "complete" and 0 < one_run < bound
    assert float(one_run) == pytest.approx(first["models"][model]["cost_usd"])
    # a cap that fits a second run's bound after the first run's spend, but not a third's
    s = _settings(BENCH_DAILY_BUDGET_USD=str(one_run + bound + one_run / 2))
    second = _bench(s, "b-day-2", [model], 1)
    assert second["status"] == "complete"
    for doc in (_spend_doc(day), _spend_doc(week)):
        assert D(doc["spent_usd"]) == 2 * one_run and D(doc["reserved_usd"]) == 0 and doc["calls"] == 12
    assert D(_spend_doc("run-b-day-2")["spent_usd"]) == one_run
    calls = cloud.simulator.sim.calls
    third = _bench(s, "b-day-3", [model], 1)
    assert third["status"] == "refused" and "exceeds BENCH_DAILY_BUDGET_USD=$" in third["error"]
    assert "already spent or reserved" in third["error"] and cloud.simulator.sim.calls == calls
    assert D(_spend_doc(day)["spent_usd"]) == 2 * one_run and not _spend_doc("run-b-day-3")


@pytest.mark.emulators
def test_concurrent_reservations_never_exceed_the_cap(cloud):
    import threading

    from shared.bench.spend import SpendLedger

    s = _settings(BENCH_DAILY_BUDGET_USD="1.00", BENCH_BUDGET_USD="100", BENCH_WEEKLY_BUDGET_USD="100")
    ledgers = [SpendLedger(s, f"b-conc-{i}") for i in range(12)]
    start = threading.Barrier(len(ledgers))
    grants: list[tuple[Decimal, str | None]] = []

    def reserve(ledger: SpendLedger) -> None:
        start.wait()
        grants.append(ledger.reserve(D("0.3"), D("0.3")))

    threads = [threading.Thread(target=reserve, args=(ledger,)) for ledger in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [g for g, why in grants if why is None]
    refused = [why for g, why in grants if why is not None]
    assert granted == [D("0.3")] * 3 and len(refused) == 9
    assert all(w.startswith("BENCH_DAILY_BUDGET_USD=$1.00 would be passed") for w in refused)
    day = ledgers[0].caps[1].doc
    assert D(_spend_doc(day)["reserved_usd"]) == D("0.9")
    # settling releases the reservation and records the spend: room again
    ledgers[0].settle(D("0.3"), D("0.05"), 1)
    assert ledgers[1].reserve(D("0.3"), D("0.3")) == (D("0.3"), None)
    assert D(_spend_doc(day)["reserved_usd"]) == D("0.9") and D(_spend_doc(day)["spent_usd"]) == D("0.05")


@pytest.mark.emulators
def test_a_run_exhausted_midway_stops_calling_and_keeps_its_partial_results(cloud, monkeypatch):
    from shared.bench import budget as budget_mod
    from shared.bench import store
    from shared.bench.client import ChatClient
    from shared.bench.spend import SpendLedger
    from shared.catalog.sync import run_sync

    run_sync(_settings(), "quick", "b-cat")
    s = _settings(BENCH_CONCURRENCY="1", BENCH_DAILY_BUDGET_USD="100")
    real = ChatClient.complete
    made: list[str] = []

    def complete(self, model, case):
        out = real(self, model, case)
        made.append(case.id)
        if len(made) == 3:  # a concurrent run takes everything left of today's cap
            granted, why = SpendLedger(s, "b-other").reserve(D(100), D("0.000001"))
            assert why is None and granted > 0
        return out
    monkeypatch.setattr(ChatClient, "complete", complete)
    before = cloud.simulator.sim.calls
    summary = _bench(s, "b-midway", ["openai/gpt-demo-5"], 2)
    rows = [r.model_dump() for r in store.repository().read_results("b-midway", 1)]
    called = [r for r in rows if not (r["error"] or "").startswith(budget_mod.BUDGET_EXHAUSTED)]
    skipped = [r for r in rows if (r["error"] or "").startswith(budget_mod.BUDGET_EXHAUSTED)]
    assert len(rows) == 12 and 3 <= len(called) < 12 and len(called) + len(skipped) == 12
    assert cloud.simulator.sim.calls - before == len(called) == len(made)   # no call after the refusal
    assert rows[:len(called)] == called and rows[len(called):] == skipped   # sequential: a suffix is skipped
    assert all(r["status"] == "scored" and r["cost_usd"] > 0 for r in called)      # partial results kept
    assert all(r["status"] == "errored" and r["latency_s"] is None and r["cost_usd"] is None
               and "BENCH_DAILY_BUDGET_USD=$100.00 would be passed" in r["error"] for r in skipped)
    assert summary["models"]["openai/gpt-demo-5"]["errored"] == len(skipped)
    run = _spend_doc("run-b-midway")
    assert D(run["reserved_usd"]) == 0 and run["calls"] == len(called)   # unused reservation released
    assert float(D(run["spent_usd"])) == pytest.approx(sum(r["cost_usd"] for r in called))


@pytest.mark.emulators
def test_reservations_from_separate_processes_never_exceed_the_cap(cloud):
    """Separate processes (function instances) share no lock: only the transaction keeps them apart."""
    import os
    import subprocess
    import sys
    from datetime import datetime, timezone

    from shared.bench.spend import period_keys
    from shared.pipeline import REPO_ROOT

    env = {**os.environ, "BENCH_DAILY_BUDGET_USD": "1.00", "BENCH_BUDGET_USD": "100",
           "BENCH_WEEKLY_BUDGET_USD": "100", "PYTHONPATH": str(REPO_ROOT)}
    program = str(REPO_ROOT / "tests" / "programs" / "reserve_spend.py")
    procs = [subprocess.Popen([sys.executable, program, str(n)], env=env, cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True) for n in range(3)]
    lines = [line for p in procs for line in p.communicate(timeout=300)[0].splitlines()]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(lines) == ["granted 0.3"] * 3 + ["refused 0"] * 3
    day = f"day-{period_keys(datetime.now(timezone.utc))[0]}"
    assert D(_spend_doc(day)["reserved_usd"]) == D("0.9")
