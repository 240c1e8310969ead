"""The planner's rules on hand-made evidence (pure: no emulator)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from shared.planning.planner import ModelFacts, PlanningFacts, RankingFacts, make_plan
from shared.planning.policy import POLICY_FILE, PolicyError, load_policy
from shared.policy import ModelVerdict
from shared.serving.changes import build_candidate, initial_version
from shared.serving.models import load_defaults

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=60)
POLICY = load_policy()


def serving():
    prompts, strategies = load_defaults()
    models = [{"id": m, "name": m, "pricing": {"prompt": "0.000001"}} for m in ("a/one", "b/two", "c/three", "d/four")]
    return initial_version(models, [{"slug": "programming", "name": "Programming"}],
                           {"programming": {"primary_model": "a/one", "fallbacks": ["b/two", "c/three"]}},
                           prompts, strategies, "sync:s1", OLD)


def facts(**kw) -> PlanningFacts:
    models = {m: ModelFacts(id=m, name=m, pricing={"prompt": "0.000001"}, first_seen_at=OLD)
              for m in ("a/one", "b/two", "c/three", "d/four")}
    return PlanningFacts(run_id="run-1", now=NOW, sync_run_id="run-1.catalog_sync", bench_id="run-1.benchmark-pre",
                         **{"models": models, **kw})


def by_kind(plan, kind):
    return [c for c in plan.changes if c.kind == kind]


def test_an_unchanged_week_plans_nothing():
    plan = make_plan(facts(rankings={"programming": RankingFacts(ranked=["a/one", "b/two"], snapshot_id="s")}),
                     serving(), POLICY)
    assert plan.changes == [] and plan.top == [] and plan.based_on == 1


def test_catalog_changes_are_low_risk_and_auto_applied():
    f = facts(added=["e/five"], price_changes=[{"model": "b/two", "old": {"prompt": "0.000001"},
                                                "new": {"prompt": "0.000002"}}],
              new_categories=[{"slug": "marketing/seo", "name": "SEO", "parent": "marketing"}])
    f.models["e/five"] = ModelFacts(id="e/five", name="Five", first_seen_at=NOW)
    plan = make_plan(f, serving(), POLICY)
    assert {c.kind for c in plan.changes} == {"catalog_add", "pricing_update", "category_add"}
    assert all(c.risk == "LOW" and c.decision == "auto_apply" for c in plan.changes)
    assert by_kind(plan, "pricing_update")[0].after == {"prompt": "0.000002"}
    assert plan.changes[0].evidence == {"sync_runs": ["run-1.catalog_sync"]}
    cand = build_candidate(serving(), plan.by_decision("auto_apply"), "planner:run-1", "week", NOW)
    assert "e/five" in cand.models and "marketing/seo" in cand.categories


def test_a_new_ranking_leader_proposes_a_gated_routing_change_with_its_evidence():
    plan = make_plan(facts(rankings={"programming": RankingFacts(ranked=["d/four", "a/one"], snapshot_id="snap-9")}),
                     serving(), POLICY)
    [c] = plan.changes
    assert (c.kind, c.risk, c.decision, c.needs_post_benchmark) == ("routing_primary", "MEDIUM", "gated", True)
    assert c.after == {"primary": "d/four", "fallbacks": ["a/one", "b/two"]}
    assert c.before == {"primary": "a/one", "fallbacks": ["b/two", "c/three"]}
    assert c.evidence["ranking_snapshots"] == ["snap-9"] and plan.top == [c.id]
    build_candidate(serving(), [c], "operator:ana", "approved", NOW)      # it applies to its base


def test_guards_young_inactive_and_once_per_week():
    young = facts(rankings={"programming": RankingFacts(ranked=["d/four"], snapshot_id="s")})
    young.models["d/four"] = young.models["d/four"].model_copy(update={"first_seen_at": NOW - timedelta(days=2)})
    [c] = make_plan(young, serving(), POLICY).changes
    assert c.decision == "deferred" and "first seen less than 7 days ago" in c.decision_rule
    down = facts(rankings={"programming": RankingFacts(ranked=["d/four"], snapshot_id="s")})
    down.models["d/four"] = down.models["d/four"].model_copy(update={"endpoints_down": True})
    [c] = make_plan(down, serving(), POLICY).changes
    assert c.decision == "rejected" and "never route to an inactive or unreachable model" in c.decision_rule
    again = facts(rankings={"programming": RankingFacts(ranked=["d/four"], snapshot_id="s")},
                  routing_changes_this_week={"programming": 1})
    [c] = make_plan(again, serving(), POLICY).changes
    assert c.decision == "deferred" and "had 1 routing change(s) this week" in c.decision_rule


def test_a_critical_regression_of_a_primary_promotes_its_first_healthy_fallback():
    f = facts(verdicts={"a/one": ModelVerdict(state="regression", level="critical", delta_points=-22.0, text="critical drop")})
    [c] = make_plan(f, serving(), POLICY).changes
    assert c.kind == "routing_primary" and c.after == {"primary": "b/two", "fallbacks": ["c/three"]}
    assert c.evidence["bench_runs"] == ["run-1.benchmark-pre"] and c.priority_parts["regression_points"] == 22.0
    assert "regressed critically (-22.0 points)" in c.rationale


def test_a_deactivated_primary_is_replaced_and_its_deactivation_waits_for_the_route():
    f = facts(deactivated=["a/one", "d/four"])
    for m in ("a/one", "d/four"):
        f.models[m] = f.models[m].model_copy(update={"active": False})
    plan = make_plan(f, serving(), POLICY)
    route = by_kind(plan, "routing_primary")[0]
    assert route.after["primary"] == "b/two" and route.decision == "gated"
    waits = next(c for c in plan.changes if c.target == "a/one")
    assert waits.decision == "deferred" and "waits for the routes that still use it (programming)" in waits.decision_rule
    unused = next(c for c in plan.changes if c.target == "d/four")
    assert unused.kind == "catalog_deactivate" and unused.decision == "auto_apply"
    build_candidate(serving(), plan.by_decision("auto_apply"), "planner", "week", NOW)   # no conflict
    # one routing change per category per week: the leader rule does not add a second one
    f2 = f.model_copy(update={"rankings": {"programming": RankingFacts(ranked=["c/three"], snapshot_id="s")}})
    assert len([c for c in make_plan(f2, serving(), POLICY).changes if c.decision == "gated"]) == 1


def test_simulated_evidence_is_never_auto_applied_outside_demo():
    f = facts(bench_simulated=True, verdicts={"a/one": ModelVerdict(state="regression", level="critical",
                                                                    delta_points=-30.0, text="critical drop")}, added=["e/five"])
    f.models["e/five"] = ModelFacts(id="e/five", first_seen_at=NOW)
    plan = make_plan(f, serving(), POLICY)
    assert by_kind(plan, "routing_primary")[0].simulated is True
    assert by_kind(plan, "catalog_add")[0].simulated is False      # rests on the catalog, not the benchmark
    # a LOW change resting on simulated benchmark evidence waits for a person, except in a demo run
    from shared.planning.planner import _Planner
    from shared.serving.changes import Change

    low = Change(kind="pricing_update", target="b/two", before={"prompt": "0.000001"}, after={"prompt": "0.1"},
                 evidence={"bench_runs": ["run-1.benchmark-pre"]})
    assert _Planner(f, serving(), POLICY).add(low).decision == "gated"
    demo = f.model_copy(update={"demo": True})
    assert _Planner(demo, serving(), POLICY).add(low).decision == "auto_apply"

def test_re_planning_gives_the_same_ids():
    f = facts(rankings={"programming": RankingFacts(ranked=["d/four"], snapshot_id="s")}, added=["e/five"])
    f.models["e/five"] = ModelFacts(id="e/five", first_seen_at=NOW)
    assert [c.id for c in make_plan(f, serving(), POLICY).changes] == [c.id for c in make_plan(f, serving(), POLICY).changes]


def test_operators_may_make_a_kind_stricter_never_laxer(tmp_path):
    raw = yaml.safe_load(POLICY_FILE.read_text())
    raw["kinds"]["pricing_update"] = "MEDIUM"
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(yaml.safe_dump(raw))
    assert load_policy(stricter).decision("pricing_update") == "gated"
    raw["kinds"]["routing_primary"] = "LOW"
    laxer = tmp_path / "laxer.yaml"
    laxer.write_text(yaml.safe_dump(raw))
    with pytest.raises(PolicyError, match="routing_primary: LOW is below the floor MEDIUM"):
        load_policy(laxer)
    raw["kinds"]["routing_primary"] = "MEDIUM"
    raw["decisions"]["MEDIUM"] = "auto_apply"
    laxer.write_text(yaml.safe_dump(raw))
    with pytest.raises(PolicyError, match="decisions.MEDIUM: auto_apply is not allowed"):
        load_policy(laxer)
