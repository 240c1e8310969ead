"""The planner stage over the in-memory stores: the demo catalog synced (week 1, then week 2)
through real HTTP to the replay server, version 1 made from it, the week planned, no emulator."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from shared.catalog.store import ROUTING, InMemoryCatalogStore
from shared.catalog.sync import run_sync
from shared.config import get_settings, settings_from_env
from shared.cycle import runs
from shared.messages import WeeklyCycleRequest
from shared.planning import stage
from shared.planning.facts import current_serving
from shared.planning.planner import models_to_evaluate
from shared.planning.plans import InMemoryPlanStore
from shared.planning.policy import POLICY_FILE, PolicyError, load_policy
from shared.planning.stage import plan_summary, plan_week
from shared.platform import firestore as fs
from shared.research.store import InMemoryResearchStore
from shared.serving.bootstrap import NothingToServe
from shared.serving.changes import build_candidate
from shared.serving.store import InMemoryServingStore
from tests.conftest import TEST_ENV

NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def replay(demo_replay):
    return demo_replay


@pytest.fixture
def week2(replay, monkeypatch):
    """Serving version 1 made from demo week 1 (models first seen a month ago), the catalog after
    week 2, and a run whose catalog_sync stage names the week-2 sync."""
    def no_firestore():
        raise AssertionError("the planner stage touched Firestore")
    monkeypatch.setattr(fs, "client", no_firestore)
    settings = settings_from_env({**TEST_ENV, "OPENROUTER_BASE_URL": replay.base_url, "REPORTS_BUCKET": "raw"})
    catalog = InMemoryCatalogStore()
    replay.state.load_week(1)
    run_sync(settings, "full", "w1", store=catalog)
    for doc in catalog.collections["models"].values():
        doc["first_seen_at"] = NOW - timedelta(days=30)
    serving = InMemoryServingStore()
    current_serving(catalog, serving, NOW - timedelta(days=7), "last-week")
    replay.state.load_week(2)
    rec = run_sync(settings, "full", "run-1.catalog_sync", store=catalog)
    repo = runs.InMemoryWeeklyRuns()
    runs.create_run(WeeklyCycleRequest(run_id="run-1", requested_by="test"), "run-1", "m-1", repo)
    repo.update_stages("run-1", {"catalog_sync": {"status": "succeeded", "summary": {"sync_run_id": rec.sync_run_id}}})
    return repo, catalog, rec, serving


def test_the_first_plan_makes_version_1_from_the_catalog(week2):
    repo, catalog, _, _ = week2
    serving = InMemoryServingStore()
    plan = plan_week("run-1", NOW, repo, catalog, serving, InMemoryPlanStore(), InMemoryResearchStore())
    v1 = serving.version(1)
    assert serving.current_number() == 1 and plan.based_on == 1 and v1.created_by == "planner:run-1"
    assert set(v1.routing) == set(catalog.routing()) and set(v1.models) == set(catalog.models([]))
    assert v1.prompts["system"].version == 1


def test_week_2_is_planned_against_version_1(week2):
    repo, catalog, rec, serving = week2
    store = InMemoryPlanStore()
    plan = plan_week("run-1", NOW, repo, catalog, serving, store, InMemoryResearchStore())
    v1 = serving.version(1)
    assert plan.based_on == 1 and "mistralai/mistral-demo-small" in v1.models
    kinds = {(c.kind, c.target): c for c in plan.changes}
    assert {t for k, t in kinds if k == "catalog_add"} == {"anthropic/claude-demo-opus", "x-ai/grok-demo-4-fast"}
    assert {t for k, t in kinds if k == "pricing_update"} == {"google/gemini-demo-pro", "deepseek/deepseek-demo-v4",
                                                             "x-ai/grok-demo-4"}    # not the format-only one
    assert kinds[("catalog_deactivate", "mistralai/mistral-demo-small")].decision == "auto_apply"
    routing = ("fallback_update", "routing_primary")
    assert all(c.decision == "auto_apply" and c.risk == "LOW" for c in plan.changes if c.kind not in routing)
    # week 2's technology ranking has a new leader: a routing change for a person to review
    tech = kinds[("routing_primary", "technology")]
    assert tech.after["primary"] == "anthropic/claude-demo-sonnet" and tech.risk == "MEDIUM"
    assert tech.decision == "gated" and tech.decision_rule == "risk policy: MEDIUM"
    assert store.review(tech.id)["status"] == "pending"
    assert all(c.evidence["sync_runs"] == [rec.sync_run_id] for c in plan.changes)
    candidate = build_candidate(v1, plan.by_decision("auto_apply"), "planner:run-1", "week 2", NOW)
    assert candidate.models["google/gemini-demo-pro"].pricing["prompt"] == "0.000001"
    assert candidate.models["mistralai/mistral-demo-small"].active is False
    summary = plan_summary(plan)
    assert summary["counts"]["auto_apply"] == len(plan.by_decision("auto_apply")) and summary["top"] == plan.top


def test_a_redelivery_reads_the_stored_plan(week2):
    repo, catalog, _, serving = week2
    store = InMemoryPlanStore()
    first = plan_week("run-1", NOW, repo, catalog, serving, store, InMemoryResearchStore())
    catalog.collections[ROUTING].clear()          # whatever changes meanwhile, the plan stays
    assert plan_week("run-1", NOW, repo, catalog, serving, store, InMemoryResearchStore()) == first
    assert serving.current_number() == 1


def test_a_category_whose_leader_is_not_its_primary_gets_a_gated_routing_change(week2):
    repo, catalog, rec, _ = week2
    ranked = rec.rankings["programming"]["top"]
    catalog.collections[ROUTING]["programming"]["primary_model"] = ranked[1]   # version 1 routes to #2
    catalog.collections[ROUTING]["programming"]["fallbacks"] = [ranked[2]]
    plan = plan_week("run-1", NOW, repo, catalog, InMemoryServingStore(), InMemoryPlanStore(), InMemoryResearchStore())
    [c] = [c for c in plan.changes if c.kind == "routing_primary" and c.target == "programming"]
    assert (c.target, c.after["primary"], c.risk, c.decision) == ("programming", ranked[0], "MEDIUM", "gated")
    assert c.evidence["ranking_snapshots"] == [rec.rankings["programming"]["snapshot_id"]]
    assert c.id in plan.top and len(plan.top) == 2   # nothing applied this week: the top lists what is proposed


def test_nothing_to_plan_against_without_a_catalog():
    repo = runs.InMemoryWeeklyRuns()
    runs.create_run(WeeklyCycleRequest(run_id="run-0", requested_by="test"), "run-0", "m-0", repo)
    with pytest.raises(NothingToServe):
        plan_week("run-0", NOW, repo, InMemoryCatalogStore(), InMemoryServingStore(), InMemoryPlanStore(),
                  InMemoryResearchStore())


def test_the_weeks_open_proposals_become_changes_and_a_malformed_one_is_skipped(week2):
    from tests.planning.test_planner_proposals import blackboard_doc

    repo, catalog, _, serving = week2
    research = InMemoryResearchStore()
    research.create_proposal(blackboard_doc("e", "evaluate_model", created_at=NOW - timedelta(days=1),
                                            catalog_model_id="x-ai/grok-demo-4"))
    research.create_proposal(blackboard_doc("s", "strategy_change", created_at=NOW - timedelta(days=2),
                                            strategy={"name": "self_consistency", "params": {"samples": 5}}))
    research.proposals["bad"] = {"id": "bad", "type": "strategy_change", "created_at": NOW, "evidence": 42}
    plan = plan_week("run-1", NOW, repo, catalog, serving, InMemoryPlanStore(), research)
    [e] = [c for c in plan.changes if c.kind == "evaluate_model"]
    [s] = [c for c in plan.changes if c.kind == "strategy_change"]
    assert (e.target, e.decision) == ("x-ai/grok-demo-4", "deferred") and models_to_evaluate(plan) == [e.target]
    assert (s.target, s.decision, s.evidence["proposals"]) == ("default", "gated", ["s"])
    assert plan_summary(plan)["counts"]["gated"] >= 1


# --- RISK_POLICY_FILE ----------------------------------------------------------------------------
@pytest.fixture
def policy_env(monkeypatch):
    """Set RISK_POLICY_FILE for get_settings() (its cache cleared before and after)."""
    def use(path):
        monkeypatch.setenv("RISK_POLICY_FILE", str(path))
        get_settings.cache_clear()
    yield use
    monkeypatch.delenv("RISK_POLICY_FILE", raising=False)
    get_settings.cache_clear()


def spy_policy(monkeypatch) -> list:
    """What the stage loads, recorded (the stage's own load_policy, wrapped)."""
    loaded: list = []

    def load(path):
        loaded.append(path)
        return load_policy(path)
    monkeypatch.setattr(stage, "load_policy", load)
    return loaded


def test_the_stage_reads_the_policy_the_setting_names(week2, policy_env, monkeypatch, tmp_path):
    raw = yaml.safe_load(POLICY_FILE.read_text())
    raw["kinds"]["pricing_update"] = "MEDIUM"          # stricter: repricing waits for a person
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(yaml.safe_dump(raw))
    policy_env(stricter)
    loaded = spy_policy(monkeypatch)
    repo, catalog, _, serving = week2
    plan = plan_week("run-1", NOW, repo, catalog, serving, InMemoryPlanStore(), InMemoryResearchStore())
    assert loaded == [str(stricter)]
    pricing = [c for c in plan.changes if c.kind == "pricing_update"]
    assert pricing and all((c.risk, c.decision) == ("MEDIUM", "gated") for c in pricing)


def test_an_invalid_policy_file_fails_the_stage_naming_the_entry(week2, policy_env, tmp_path):
    raw = yaml.safe_load(POLICY_FILE.read_text())
    raw["guards"]["min_model_age_days"] = -1
    del raw["kinds"]["evaluate_model"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    policy_env(bad)
    repo, catalog, _, serving = week2
    with pytest.raises(PolicyError, match=r"guards\.min_model_age_days: Input should be greater than or equal to 0"):
        plan_week("run-1", NOW, repo, catalog, serving, InMemoryPlanStore(), InMemoryResearchStore())
    bad.write_text(yaml.safe_dump({**raw, "guards": {}}))
    with pytest.raises(PolicyError, match=r"kinds: no risk for \['evaluate_model'\]"):
        load_policy(bad)
    policy_env(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="cannot read the risk policy"):
        plan_week("run-1", NOW, repo, catalog, serving, InMemoryPlanStore(), InMemoryResearchStore())


def test_a_plan_asks_for_a_benchmark_of_each_model_to_evaluate(monkeypatch):
    from shared.planning import stage
    from shared.planning.planner import Plan
    from shared.serving.changes import Change

    sent = []
    monkeypatch.setattr(stage.pubsub, "publish", lambda topic, msg, **attrs: sent.append((topic, msg)))
    evaluate = Change(kind="evaluate_model", target="acme/new-model", decision="deferred")
    bad = Change(kind="evaluate_model", target="not a model id", decision="deferred")
    plan = Plan(run_id="run-1", based_on=1, created_at=NOW, changes=[evaluate, bad], top=[])
    out = stage.ask_people(plan, NOW, InMemoryPlanStore(), InMemoryServingStore())
    assert out == {"evaluations": [f"eval-{evaluate.id}"]}
    ((topic, msg),) = sent                              # the bad id is logged and skipped, not published
    assert topic == "benchmark-requests" and msg.bench_id == f"eval-{evaluate.id}" and msg.models == ["acme/new-model"]
