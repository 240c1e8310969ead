"""One contract, two implementations: the plan of each weekly run."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.planning import plans
from shared.planning.planner import Plan
from shared.serving.changes import Change
from tests.conftest import BOTH_BACKENDS, either

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH_BACKENDS)
def store(request):
    return either(request, plans.InMemoryPlanStore, plans.FirestorePlanStore)


def plan(run_id: str, target: str = "programming") -> Plan:
    c = Change(kind="routing_primary", target=target, before={"primary": "a/one", "fallbacks": []},
               after={"primary": "b.two/x:free", "fallbacks": ["a/one"]}, risk="MEDIUM", decision="gated",
               decision_rule="risk policy: MEDIUM", priority=60.0, priority_parts={"kind": 50.0, "leader": 10.0},
               evidence={"ranking_snapshots": ["s1"]})
    return Plan(run_id=run_id, based_on=3, created_at=NOW, changes=[c], top=[c.id])


def test_a_plan_is_written_once_and_read_back_whole(store):
    assert store.get("weekly-2026-W48") is None
    assert store.create(plan("weekly-2026-W48")) is True
    assert store.create(plan("weekly-2026-W48", target="marketing/seo")) is False
    assert store.get("weekly-2026-W48") == plan("weekly-2026-W48")


def test_run_ids_of_any_shape(store):
    for run_id in ("a/b", "x" * 1600, "__x__"):
        assert store.create(plan(run_id)) and store.get(run_id).run_id == run_id


def items(run_id: str = "r1") -> list[dict]:
    return [plans.review_item(c, run_id, NOW) for c in plan(run_id).changes]


def test_review_items_are_opened_once_and_decided_once(store):
    [item] = items()
    store.open_reviews([item])
    store.open_reviews([{**item, "status": "approved"}])          # a re-plan keeps the state
    assert store.review(item["change_id"])["status"] == "pending"
    assert [r["change_id"] for r in store.reviews("pending")] == [item["change_id"]] and store.reviews("approved") == []
    assert store.decide(item["change_id"], "approved", "ana", "leader for 3 weeks", NOW) == "decided"
    assert store.decide(item["change_id"], "rejected", "bo", "no", NOW) == "already"
    assert store.decide("nope", "approved", "ana", "x", NOW) == "missing"
    got = store.review(item["change_id"])
    assert (got["status"], got["decided_by"], got["reason"]) == ("approved", "ana", "leader for 3 weeks")
    store.mark_applied([item["change_id"]], 4)
    assert store.review(item["change_id"])["applied_in_version"] == 4 and store.reviews("applied")


def test_concurrent_approvals_decide_once(store):
    from concurrent.futures import ThreadPoolExecutor

    [item] = items()
    store.open_reviews([item])
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda who: store.decide(item["change_id"], "approved", who, "ok", NOW),
                                 [f"op{i}" for i in range(6)]))
    assert sorted(outcomes) == ["already"] * 5 + ["decided"]


def test_a_pull_request_is_recorded_once(store):
    [item] = items()
    store.open_reviews([item])
    assert store.review(item["change_id"])["pull_request"] is None
    first = {"number": 7, "url": "https://github.test/o/r/pull/7", "branch": f"pipeline/{item['change_id']}"}
    assert store.record_pull_request(item["change_id"], first) == "recorded"
    assert store.record_pull_request(item["change_id"], {**first, "number": 8}) == "already"
    assert store.record_pull_request("nope", first) == "missing"
    assert store.review(item["change_id"])["pull_request"] == first
    assert store.decide(item["change_id"], "approved", "github:alice", "pull request #7 merged", NOW) == "decided"
    assert store.review(item["change_id"])["pull_request"] == first      # a decision keeps it
