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
