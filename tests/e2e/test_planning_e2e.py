"""The planner in the weekly chain, through Pub/Sub on the demo data: the week-1 sync makes
serving version 1; the week-2 cycle plans against it."""
from __future__ import annotations

import pytest

from shared.cycle import runs
from shared.cycle.trigger import request_sync, request_weekly_run
from shared.messages import RunOptions
from shared.planning import plans
from shared.serving import store as serving_store
from tests.conftest import wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]


def test_week_2_is_planned_against_the_version_week_1_made(cloud):
    seed = request_sync("full", requested_by="test")
    wait_until(lambda: serving_store.repository().current_number() == 1, 90, "serving version 1 from the first sync")
    v1 = serving_store.repository().version(1)
    assert v1.created_by == f"sync:{seed['sync_run_id']}" and "mistralai/mistral-demo-small" in v1.models
    cloud.replay_control("POST", "load", {"week": 2})
    out = request_weekly_run(RunOptions(benchmarks=False), requested_by="test")
    run = wait_until(lambda: (r := runs.get_run(out["run_id"])) and r["status"] in ("completed", "failed") and r,
                     180, "the weekly run")
    stage = run["stages"]["planner"]
    assert run["status"] == "completed" and stage["status"] == "succeeded", stage
    plan = plans.repository().get(out["run_id"])
    assert plan.based_on == 1 and stage["summary"]["counts"] == {
        d: len(plan.by_decision(d)) for d in ("auto_apply", "gated", "deferred", "rejected")}
    auto = {(c.kind, c.target) for c in plan.by_decision("auto_apply")}
    assert {("catalog_add", "anthropic/claude-demo-opus"), ("catalog_add", "x-ai/grok-demo-4-fast"),
            ("pricing_update", "google/gemini-demo-pro"), ("catalog_deactivate", "mistralai/mistral-demo-small")} <= auto
    upgrade = run["stages"]["upgrade"]["summary"]
    assert upgrade["result"] == "promoted" and upgrade["promoted_version"] == 2
    v2 = serving_store.repository().version(2)
    assert serving_store.repository().current_number() == 2 and v2.parent == 1
    assert {c.change_id for c in v2.changes} == {c.id for c in plan.by_decision("auto_apply")}
    assert "anthropic/claude-demo-opus" in v2.models and v2.models["mistralai/mistral-demo-small"].active is False
    assert v2.routing == v1.routing                  # routing changes are gated: nothing routed differently
    assert set(upgrade["waiting"]) == {c.id for c in plan.changes if c.decision != "auto_apply"}
