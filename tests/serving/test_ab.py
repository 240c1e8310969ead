"""A/B evidence for gated strategy and prompt changes: requested once per change, judged on the
same cases with the paired rules, attached to the review item; a strategy change cannot be
approved before its A/B result is there; a template change shows its diff (in-memory stores)."""
from __future__ import annotations

from datetime import datetime, timezone

from shared.bench.cases import CaseResult
from shared.bench.records import InMemoryBenchRuns
from shared.bench.store import InMemoryBenchResults
from shared.planning import plans
from shared.serving.ab import ab_bench_id, attach_result, request_ab_tests
from shared.serving.changes import Change, initial_version
from shared.serving.measure import label
from shared.serving.models import PromptTemplate, Strategy

NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)
COT = {"name": "chain_of_thought", "params": {}}
SC = {"name": "self_consistency", "params": {"k": 3}}


def v1():
    strategies = {"default": Strategy(name="direct"), "science": Strategy(name="chain_of_thought"),
                  "programming": Strategy(name="direct", params={"template": "code"})}
    prompts = {"code": PromptTemplate(text="Write code.\nTest it.", version=1)}
    routing = {"science": {"primary_model": "c/three"}, "programming": {"primary_model": "a/one"}}
    return initial_version([{"id": m, "name": m} for m in ("a/one", "c/three")], [], routing, prompts, strategies,
                           "sync:s", NOW)


STRATEGY = Change(kind="strategy_change", target="science", before=COT, after=SC, decision="gated", risk="HIGH")
PROMPT = Change(kind="prompt_template_update", target="code", before={"text": "Write code.\nTest it.", "version": 1},
                after={"text": "Write code.\nTest it well.", "version": 2}, decision="gated", risk="HIGH")


def opened(*changes: Change) -> plans.InMemoryPlanStore:
    store = plans.InMemoryPlanStore()
    store.open_reviews([plans.review_item(c, "r1", NOW) for c in changes])
    return store


def finished_run(runs: InMemoryBenchRuns, results: InMemoryBenchResults, bench_id: str,
                 passed: dict[str, int], n: int = 20) -> None:
    rows = [CaseResult(bench_id=bench_id, model=lbl, case_id=f"math-{i}", category="math", scorer="numeric",
                       status="scored", score=float(i < k), passed=i < k) for lbl, k in passed.items() for i in range(n)]
    results.write_shard(bench_id, 0, rows)
    runs.create(bench_id, {"bench_id": bench_id, "status": "complete", "plan": {"shard_count": 1},
                           "summary": {"simulated": True, "models": {lbl: {"score": 100 * k / n}
                                                                     for lbl, k in passed.items()}}})


def test_an_ab_is_asked_once_for_each_gated_strategy_or_template_change():
    store, sent = opened(STRATEGY, PROMPT), []
    assert request_ab_tests([STRATEGY, PROMPT], v1(), store, sent.append) == [STRATEGY.id, PROMPT.id]
    strategy_run = sent[0]
    assert strategy_run.bench_id == ab_bench_id(STRATEGY.id) and strategy_run.ab_change_id == STRATEGY.id
    assert {t.model for t in strategy_run.targets.values()} == {"c/three"}          # same model, both strategies
    assert {(t.strategy or {}).get("name") for t in strategy_run.targets.values()} == {"chain_of_thought",
                                                                                      "self_consistency"}
    assert {t.template for t in sent[1].targets.values()} == {"Write code.\nTest it.", "Write code.\nTest it well."}
    item = store.review(STRATEGY.id)["ab"]
    assert item["status"] == "running" and item["routes"][0]["category"] == "science"
    # a redelivered plan asks again for the same (idempotent) run and keeps the item as it is
    request_ab_tests([STRATEGY], v1(), store, sent.append)
    assert sent[-1].bench_id == strategy_run.bench_id and store.review(STRATEGY.id)["ab"] == item


def test_a_strategy_change_is_approved_only_with_its_ab_result_attached():
    store, sent = opened(STRATEGY), []
    request_ab_tests([STRATEGY], v1(), store, sent.append)
    outcome, why = plans.decide_review(store, STRATEGY.id, "approved", "ana", "looks good", NOW)
    assert outcome == "blocked" and "cannot be approved without an A/B result" in why and "is running" in why
    assert plans.decide_review(store, STRATEGY.id, "rejected", "ana", "no", NOW)[0] == "decided"   # rejecting is fine

    store, sent = opened(STRATEGY), []
    request_ab_tests([STRATEGY], v1(), store, sent.append)
    before, after = (label(t) for t in (sent[0].targets[k] for k in sent[0].targets))
    route = store.review(STRATEGY.id)["ab"]["routes"][0]
    runs, results = InMemoryBenchRuns(), InMemoryBenchResults()
    finished_run(runs, results, sent[0].bench_id, {route["before"]: 14, route["after"]: 17})
    ab = attach_result(STRATEGY.id, sent[0].bench_id, store, runs, results)
    assert ab["status"] == "complete" and ab["verdict"] == "no regression" and ab["simulated"] is True
    (c,) = ab["comparisons"]
    assert (c["current_pass_rate"], c["proposed_pass_rate"], c["delta_points"]) == (70.0, 85.0, 15.0)
    assert ab["scores"] == {route["before"]: 70.0, route["after"]: 85.0} and {before, after} == set(ab["scores"])
    assert attach_result(STRATEGY.id, sent[0].bench_id, store, runs, results) == ab      # redelivery: unchanged
    assert plans.decide_review(store, STRATEGY.id, "approved", "ana", "A/B: +15 points", NOW)[0] == "decided"


def test_a_worse_proposal_is_attached_as_a_regression_for_the_reviewer():
    store, sent = opened(STRATEGY), []
    request_ab_tests([STRATEGY], v1(), store, sent.append)
    route = store.review(STRATEGY.id)["ab"]["routes"][0]
    runs, results = InMemoryBenchRuns(), InMemoryBenchResults()
    finished_run(runs, results, sent[0].bench_id, {route["before"]: 18, route["after"]: 8})
    ab = attach_result(STRATEGY.id, sent[0].bench_id, store, runs, results)
    assert ab["verdict"] == "regression" and ab["comparisons"][0]["state"] == "regression"


def test_a_template_change_shows_its_diff_and_one_no_route_uses_needs_no_ab():
    store = opened(PROMPT)
    shown = plans.present(store.review(PROMPT.id))
    assert "\n-Test it.\n+Test it well." in shown["prompt_diff"] and "code v1" in shown["prompt_diff"]
    unused = Change(kind="prompt_template_update", target="system", before=None,
                    after={"text": "Be brief.", "version": 1}, decision="gated")
    store, sent = opened(unused), []
    assert request_ab_tests([unused], v1(), store, sent.append) == [] and sent == []
    assert store.review(unused.id)["ab"]["status"] == "not needed"
