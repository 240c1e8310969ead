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
