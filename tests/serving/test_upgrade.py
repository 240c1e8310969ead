"""The upgrade: which changes go into the candidate, promotion in one checked transaction, a
rebuild when the pointer moved, dry runs and redeliveries (in-memory stores, no emulator)."""
from __future__ import annotations

from datetime import datetime, timezone

from shared.messages import RunContext, RunOptions
from shared.planning.planner import Plan
from shared.planning.plans import InMemoryPlanStore
from shared.serving.changes import Change, initial_version
from shared.serving.models import load_defaults
from shared.serving.stage import upgrade_week
from shared.serving.store import InMemoryServingStore
from shared.serving.upgrade import NO_POST_BENCHMARK_YET, decide

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


def v1():
    prompts, strategies = load_defaults()
    models = [{"id": m, "name": m, "pricing": {"prompt": "0.000001"}} for m in ("a/one", "b/two", "c/three")]
    return initial_version(models, [], {"programming": {"primary_model": "a/one", "fallbacks": ["b/two"]}},
                           prompts, strategies, "sync:s1", NOW)


ADD = Change(kind="catalog_add", target="d/four", after={"name": "Four"}, decision="auto_apply")
PRICE = Change(kind="pricing_update", target="b/two", before={"prompt": "0.000001"}, after={"prompt": "0.000002"},
               decision="auto_apply")
STALE = Change(kind="pricing_update", target="c/three", before={"prompt": "9"}, after={"prompt": "1"},
               decision="auto_apply")
ROUTE = Change(kind="routing_primary", target="programming", before={"primary": "a/one", "fallbacks": ["b/two"]},
               after={"primary": "b/two", "fallbacks": ["a/one"]}, decision="gated", decision_rule="risk policy: MEDIUM")
ROUTE_AUTO = Change(kind="fallback_update", target="programming", before={"primary": "a/one", "fallbacks": ["b/two"]},
                    after={"primary": "a/one", "fallbacks": ["c/three"]}, decision="auto_apply",
                    needs_post_benchmark=True)


def test_only_auto_applied_changes_that_fit_go_into_the_candidate():
    d = decide([ADD, PRICE, STALE, ROUTE, ROUTE_AUTO], v1(), "upgrade:r1", "week", NOW)
    assert d.applied == [ADD.id, PRICE.id] and d.candidate.number == 2
    assert d.waiting[ROUTE.id] == "gated: risk policy: MEDIUM"
    assert d.waiting[ROUTE_AUTO.id] == NO_POST_BENCHMARK_YET
    assert d.waiting[STALE.id].startswith("conflict: ") and "pricing changed meanwhile" in d.waiting[STALE.id]
    assert d.needs_post_benchmark is False and d.candidate.routing == v1().routing
    assert decide([ROUTE], v1(), "upgrade:r1", "week", NOW).candidate is None


def setup(dry_run: bool = False):
    serving, plans = InMemoryServingStore(), InMemoryPlanStore()
    serving.promote(v1())
    plans.create(Plan(run_id="r1", based_on=1, created_at=NOW, changes=[ADD, PRICE, ROUTE], top=[]))
    ctx = RunContext(run_id="r1", options=RunOptions(dry_run=dry_run), started_at=NOW)
    return serving, plans, ctx


def test_the_candidate_is_promoted_and_a_redelivery_changes_nothing():
    serving, plans, ctx = setup()
    out = upgrade_week(ctx, NOW, serving, plans)
    assert out["result"] == "promoted" and out["promoted_version"] == 2 and serving.current_number() == 2
    assert serving.version(2).created_by == "upgrade:r1" and out["post_benchmark_needed"] is False
    assert upgrade_week(ctx, NOW, serving, plans) == out and serving.current_number() == 2


def test_a_dry_run_computes_the_candidate_and_moves_nothing():
    serving, plans, ctx = setup(dry_run=True)
    out = upgrade_week(ctx, NOW, serving, plans)
    assert out["result"].startswith("dry run") and out["candidate_version"] == 2
    assert serving.current_number() == 1 and serving.version(2) is None


def test_a_candidate_built_on_a_moved_pointer_is_rebuilt():
    serving, plans, ctx = setup()
    real_promote = serving.promote

    def someone_else_first(candidate):
        if serving.current_number() == 1:        # another promotion lands between build and promote
            real_promote(v1().model_copy(update={"number": 2, "parent": 1, "created_by": "operator:x"}))
        return real_promote(candidate)
    serving.promote = someone_else_first
    out = upgrade_week(ctx, NOW, serving, plans)
    assert out["result"] == "promoted" and out["promoted_version"] == 3 and out["rebuilds"] == 1
    assert serving.version(3).parent == 2 and "d/four" in serving.version(3).models


def test_a_promotion_whose_record_was_lost_is_recognised_not_repeated():
    serving, plans, ctx = setup()
    upgrade_week(ctx, NOW, serving, plans)
    serving.upgrades.clear()                      # the instance died after promoting
    out = upgrade_week(ctx, NOW, serving, plans)
    assert out["recovered"] is True and out["promoted_version"] == 2 and serving.current_number() == 2


def test_without_a_plan_the_stage_fails_with_the_reason_instead_of_retrying():
    import pytest

    from shared.serving.stage import NothingToUpgrade

    serving, plans, ctx = setup()
    other = ctx.model_copy(update={"run_id": "r-without-plan"})
    with pytest.raises(NothingToUpgrade, match="the planner stage did not make one"):
        upgrade_week(other, NOW, serving, plans)


def test_approved_changes_are_applied_and_marked_applied():
    serving, plans, ctx = setup()
    from shared.planning.plans import review_item

    gated_price = Change(kind="pricing_update", target="c/three", before={"prompt": "0.000001"},
                         after={"prompt": "0.000005"}, decision="gated", decision_rule="stricter policy")
    route = ROUTE.model_copy(update={"needs_post_benchmark": True})
    plans.open_reviews([review_item(c, "r0", NOW) for c in (gated_price, route)])
    plans.decide(gated_price.id, "approved", "ana", "ok", NOW)
    plans.decide(route.id, "approved", "ana", "ok", NOW)
    out = upgrade_week(ctx, NOW, serving, plans)
    assert gated_price.id in out["applied"] and serving.version(2).models["c/three"].pricing == {"prompt": "0.000005"}
    assert out["waiting"][route.id] == NO_POST_BENCHMARK_YET        # approved, but measured first
    assert plans.review(gated_price.id)["status"] == "applied" and plans.review(route.id)["status"] == "approved"
