"""The upgrade: which changes go into which candidate, promotion in one checked transaction, a
rebuild when the pointer moved, dry runs and redeliveries; a measured candidate promoted on its
post-change benchmark or rolled back exactly (in-memory stores, no emulator: the benchmark's
records and results are written the way the benchmark writes them)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from shared.bench.cases import CaseResult
from shared.bench.records import InMemoryBenchRuns
from shared.bench.store import InMemoryBenchResults
from shared.messages import ApplyApproved, RunContext, RunOptions
from shared.planning.planner import Plan
from shared.planning.plans import InMemoryPlanStore, review_item
from shared.serving.changes import Change, initial_version
from shared.serving.models import load_defaults
from shared.serving.stage import Deps, NothingToUpgrade, apply_approved, finish_measured, upgrade_week
from shared.serving.store import MEASURING, InMemoryServingStore
from shared.serving.upgrade import NO_BENCHMARKS, decide

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
CATS = ("coding", "math", "factual")


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
FALLBACKS = Change(kind="fallback_update", target="programming", before={"primary": "a/one", "fallbacks": ["b/two"]},
                   after={"primary": "a/one", "fallbacks": ["c/three"]}, decision="auto_apply",
                   needs_post_benchmark=True)


class Published(list):
    def __call__(self, *args):
        self.append(args[0] if len(args) == 1 else args)


def deps() -> Deps:
    return Deps(serving=InMemoryServingStore(), plans=InMemoryPlanStore(), bench_runs=InMemoryBenchRuns(),
                results=InMemoryBenchResults(), publish=Published(), complete_stage=Published(),
                settle_prs=lambda store, now: None)


def setup(dry_run: bool = False, benchmarks: bool = True, changes=(ADD, PRICE, ROUTE)):
    d = deps()
    d.serving.promote(v1())
    d.plans.create(Plan(run_id="r1", based_on=1, created_at=NOW, changes=list(changes), top=[]))
    ctx = RunContext(run_id="r1", options=RunOptions(dry_run=dry_run, benchmarks=benchmarks, demo=True),
                     started_at=NOW)
    return d, ctx


def snapshot(d: Deps) -> str:
    """Every serving document as the platform reads them, serialized byte for byte."""
    s = d.serving
    return json.dumps({"pointer": s.current_number(),
                       "versions": {n: v.model_dump(mode="json") for n, v in sorted(s.versions.items())}},
                      sort_keys=True)


def bench_run(d: Deps, bench_id: str, quality: dict[str, float], simulated: bool = True, cases: int = 20,
              status: str = "complete") -> None:
    """A finished benchmark run: `quality` is each target's share of passed cases per category."""
    rows = []
    for label, q in quality.items():
        for cat in CATS:
            for i in range(cases):
                rows.append(CaseResult(bench_id=bench_id, model=label, case_id=f"{cat}-{i}", category=cat,
                                       scorer="exact", status="scored", score=1.0 if i < q * cases else 0.0,
                                       passed=i < q * cases, simulated=simulated))
    d.results.write_shard(bench_id, 0, rows)
    d.bench_runs.create(bench_id, {"bench_id": bench_id, "status": status, "plan": {
        "shard_count": 1, "cases_uri": "memory://bench/planned/x.json"}, "summary": {
        "bench_id": bench_id, "status": status, "simulated": simulated, "verdict": "pass",
        "models": {label: {"complete": True} for label in quality}}})


# --- the pure decision ---------------------------------------------------------------------
def test_measured_changes_form_their_own_candidate_on_top_of_the_others():
    d = decide([ADD, PRICE, STALE, ROUTE, FALLBACKS], v1(), "upgrade:r1", "week", NOW)
    assert d.applied == [ADD.id, PRICE.id] and d.candidate.number == 2
    assert d.measured == [FALLBACKS.id] and d.measured_candidate.number == 3 and d.measured_candidate.parent == 2
    assert d.candidate.routing == v1().routing and d.measured_candidate.routing["programming"].fallbacks == ("c/three",)
    assert d.waiting[ROUTE.id] == "gated: risk policy: MEDIUM"
    assert d.waiting[STALE.id].startswith("conflict: ") and "pricing changed meanwhile" in d.waiting[STALE.id]
    assert decide([ROUTE], v1(), "upgrade:r1", "week", NOW).candidate is None


def test_without_benchmarks_measured_changes_wait_and_say_why():
    d = decide([ADD, FALLBACKS], v1(), "u", "w", NOW, hold_measured=NO_BENCHMARKS)
    assert d.applied == [ADD.id] and d.measured_candidate is None and d.waiting[FALLBACKS.id] == NO_BENCHMARKS


# --- promotion of what needs no measuring ----------------------------------------------------
def test_the_candidate_is_promoted_and_a_redelivery_changes_nothing():
    d, ctx = setup()
    out = upgrade_week(ctx, NOW, d)
    assert out["result"] == "promoted" and out["promoted_version"] == 2 and d.serving.current_number() == 2
    assert d.serving.version(2).created_by == "upgrade:r1" and out["post_benchmark_needed"] is False
    assert out["metrics"] == {"candidates": 1, "promoted": 1, "rolled_back": 0, "success_rate": 1.0}
    assert upgrade_week(ctx, NOW, d) == out and d.serving.current_number() == 2
    assert upgrade_week(ctx, NOW, d) == out and d.publish == []


def test_a_dry_run_computes_the_candidate_and_moves_nothing():
    d, ctx = setup(dry_run=True)
    out = upgrade_week(ctx, NOW, d)
    assert out["result"].startswith("dry run") and out["candidate_version"] == 2
    assert d.serving.current_number() == 1 and d.serving.version(2) is None


def test_a_candidate_built_on_a_moved_pointer_is_rebuilt():
    d, ctx = setup()
    real_promote = d.serving.promote

    def someone_else_first(candidate):
        if d.serving.current_number() == 1:        # another promotion lands between build and promote
            real_promote(v1().model_copy(update={"number": 2, "parent": 1, "created_by": "operator:x"}))
        return real_promote(candidate)
    d.serving.promote = someone_else_first
    out = upgrade_week(ctx, NOW, d)
    assert out["result"] == "promoted" and out["promoted_version"] == 3 and out["rebuilds"] == 1
    assert d.serving.version(3).parent == 2 and "d/four" in d.serving.version(3).models


def test_a_promotion_whose_record_was_lost_is_recognised_not_repeated():
    d, ctx = setup()
    upgrade_week(ctx, NOW, d)
    d.serving.upgrades.clear()                      # the instance died after promoting
    out = upgrade_week(ctx, NOW, d)
    assert out["recovered"] == [ADD.id, PRICE.id] and out["promoted_version"] == 2 and d.serving.current_number() == 2


def test_without_a_plan_the_stage_fails_with_the_reason_instead_of_retrying():
    d, ctx = setup()
    with pytest.raises(NothingToUpgrade, match="the planner stage did not make one"):
        upgrade_week(ctx.model_copy(update={"run_id": "r-without-plan"}), NOW, d)


# --- a measured candidate: post-change benchmark, promotion or exact rollback -------------------------
def approve_route(d: Deps, run_id: str = "r1") -> Change:
    route = ROUTE.model_copy(update={"needs_post_benchmark": True})
    d.plans.open_reviews([review_item(route, run_id, NOW)])
    assert d.plans.decide(route.id, "approved", "ana", "b/two leads", NOW) == "decided"
    return route


def measuring(d: Deps, ctx: RunContext, pre_quality: float = 0.8) -> dict:
    bench_run(d, "r1.benchmark-pre", {"a/one": pre_quality})
    route = approve_route(d)
    out = upgrade_week(ctx, NOW, d)
    assert out["result"] == MEASURING and out["measured"] == [route.id]
    return out


def test_an_approved_route_change_is_measured_against_the_pre_change_run_before_promotion():
    d, ctx = setup()
    out = measuring(d, ctx)
    # the catalog changes were promoted at once; the route change waits for its benchmark
    assert d.serving.current_number() == 2 and out["promoted_before_measuring"] == 2
    assert out["measured_candidate_version"] == 3 and out["kept_version"] == 2
    (request,) = d.publish
    assert set(request["post_plan"]["run"]) == {"b/two"}                    # the new primary only:
    assert request["post_plan"]["reused"] == {"a/one": "r1.benchmark-pre"}  # the old one was measured
    assert request["post_bench_id"] == "r1.benchmark-post"
    # a redelivery of the hand-over asks for the same benchmark again (idempotent there) and builds nothing
    assert upgrade_week(ctx, NOW, d)["result"] == MEASURING and len(d.publish) == 2 and d.serving.current_number() == 2


def test_no_regression_promotes_the_measured_candidate_and_marks_the_change_applied():
    d, ctx = setup()
    out = measuring(d, ctx)
    bench_run(d, "r1.benchmark-post", {"b/two": 0.8})
    done = finish_measured("r1", "r1.benchmark-post", NOW, d)
    assert done["result"] == "promoted" and done["promoted_version"] == 3 and d.serving.current_number() == 3
    assert d.serving.version(3).routing["programming"].primary == "b/two"
    assert d.plans.review(out["measured"][0])["status"] == "applied"
    assert done["post_change"]["promote"] is True and len(done["post_change"]["comparisons"]) == len(CATS)
    assert done["metrics"] == {"candidates": 2, "promoted": 2, "rolled_back": 0, "success_rate": 1.0}
    (ctx_done, result), = d.complete_stage                       # the deferred weekly stage is finished
    assert ctx_done.run_id == "r1" and result.status == "succeeded" and "candidate" not in result.summary
    # redelivered PostChangeMeasured: nothing moves again
    assert finish_measured("r1", "r1.benchmark-post", NOW, d)["result"] == "promoted"
    assert d.serving.current_number() == 3 and len(d.serving.versions) == 3


def test_a_regression_rolls_back_and_the_serving_documents_are_byte_identical():
    d, ctx = setup()
    out = measuring(d, ctx)
    before = snapshot(d)
    bench_run(d, "r1.benchmark-post", {"b/two": 0.3})              # the new primary is much worse
    done = finish_measured("r1", "r1.benchmark-post", NOW, d)
    assert snapshot(d) == before and d.serving.current_number() == 2
    assert done["result"] == "rolled back" and done["rolled_back"] is True
    rb = done["rollback"]
    assert rb["candidate_version"] == 3 and rb["kept_version"] == 2 and rb["changes"] == out["measured"]
    assert {f["category"] for f in rb["figures"]} == set(CATS)
    assert all(f["before_pass_rate"] == 80.0 and f["after_pass_rate"] == 30.0 and f["level"] == "critical"
               for f in rb["figures"])
    assert "programming" in rb["reason"] and "b/two" in rb["reason"]
    assert d.plans.review(out["measured"][0])["status"] == "rolled_back"
    assert done["metrics"] == {"candidates": 2, "promoted": 1, "rolled_back": 1, "success_rate": 0.5}
    # redelivered twice: still one rollback, nothing moved
    for _ in range(2):
        assert finish_measured("r1", "r1.benchmark-post", NOW, d)["rollback"] == rb
    assert snapshot(d) == before


def test_a_rolled_back_change_is_not_retried_automatically():
    d, ctx = setup()
    measuring(d, ctx)
    bench_run(d, "r1.benchmark-post", {"b/two": 0.3})
    finish_measured("r1", "r1.benchmark-post", NOW, d)
    auto = ROUTE.model_copy(update={"decision": "auto_apply", "needs_post_benchmark": True})
    d.plans.create(Plan(run_id="r2", based_on=2, created_at=NOW, changes=[auto], top=[]))
    ctx2 = ctx.model_copy(update={"run_id": "r2"})
    out = upgrade_week(ctx2, NOW + timedelta(days=7), d)
    assert out["result"] == "nothing to apply" and "rolled back by upgrade r1" in out["waiting"][auto.id]


def test_an_incomplete_or_simulated_outside_demo_post_benchmark_never_promotes():
    d, ctx = setup()
    measuring(d, ctx)
    bench_run(d, "r1.benchmark-post", {"b/two": 0.9}, status="incomplete")
    done = finish_measured("r1", "r1.benchmark-post", NOW, d)
    assert done["result"] == "rolled back" and "post-change benchmark incomplete" in done["rollback"]["reason"]

    d, ctx = setup()
    ctx = ctx.model_copy(update={"options": RunOptions(demo=False)})
    measuring(d, ctx)
    bench_run(d, "r1.benchmark-post", {"b/two": 0.9}, simulated=True)
    done = finish_measured("r1", "r1.benchmark-post", NOW, d)
    assert done["rolled_back"] and "simulated models: not evidence outside a demo run" in done["rollback"]["reason"]


def test_a_post_benchmark_still_running_is_retried_later():
    from shared.platform.events import RetryLater

    d, ctx = setup()
    measuring(d, ctx)
    d.bench_runs.create("r1.benchmark-post", {"bench_id": "r1.benchmark-post", "status": "running"})
    with pytest.raises(RetryLater):
        finish_measured("r1", "r1.benchmark-post", NOW, d)


def test_a_serving_version_that_moved_while_measuring_is_not_merged_blindly():
    d, ctx = setup()
    measuring(d, ctx)
    assert d.serving.point_to(1, 2, "operator:bo", "manual rollback") == "pointed"
    bench_run(d, "r1.benchmark-post", {"b/two": 0.8})
    done = finish_measured("r1", "r1.benchmark-post", NOW, d)
    assert done["result"].startswith("not promoted: the serving version moved") and d.serving.current_number() == 1


def test_without_benchmarks_the_route_change_waits_and_the_check_did_not_run():
    from shared.policy import judge_upgrade

    d, ctx = setup(benchmarks=False)
    route = approve_route(d)
    out = upgrade_week(ctx, NOW, d)
    assert out["result"] == "promoted" and out["waiting"][route.id] == NO_BENCHMARKS and d.publish == []
    assert judge_upgrade(out, demo=True)[0] == "did not run"


def test_a_fallback_only_change_changes_no_answer_and_is_promoted_without_a_benchmark():
    d, ctx = setup(changes=(ADD, FALLBACKS))
    out = upgrade_week(ctx, NOW, d)
    assert out["result"] == "promoted" and out["promoted_version"] == 2 and d.publish == []
    assert d.serving.version(2).routing["programming"].fallbacks == ("c/three",) and "d/four" in d.serving.version(2).models


def test_apply_now_uses_the_same_path_and_the_newest_pre_change_run():
    d, _ = setup()
    bench_run(d, "r1.benchmark-pre", {"a/one": 0.8})
    route = approve_route(d)
    msg = ApplyApproved(upgrade_id="apply-1", by="ana", reason="approved in review", demo=True)
    out = apply_approved(msg, NOW, d)
    assert out["result"] == MEASURING and out["created_by"] == "operator:ana" and out["pre_bench_id"] == "r1.benchmark-pre"
    assert apply_approved(msg, NOW, d)["result"] == MEASURING and d.serving.current_number() == 1   # redelivery
    bench_run(d, "apply-1.benchmark-post", {"b/two": 0.85})
    done = finish_measured("apply-1", "apply-1.benchmark-post", NOW, d)
    assert done["result"] == "promoted" and d.serving.version(2).created_by == "operator:ana"
    assert d.plans.review(route.id)["status"] == "applied"
    assert apply_approved(msg, NOW, d)["result"] == "promoted" and d.serving.current_number() == 2


def test_an_unchanged_week_plans_nothing_and_the_upgrade_check_can_pass():
    from shared.policy import judge_upgrade

    d, ctx = setup(changes=())
    out = upgrade_week(ctx, NOW, d)
    assert out["result"] == "nothing to apply" and d.serving.current_number() == 1 and d.publish == []
    assert out["metrics"] == {"candidates": 0, "promoted": 0, "rolled_back": 0, "success_rate": None}
    assert judge_upgrade(out, demo=False)[0] == "passed"


def test_two_apply_requests_for_the_same_approved_change_apply_it_once():
    d, _ = setup()
    bench_run(d, "r1.benchmark-pre", {"a/one": 0.8})
    route = approve_route(d)
    first = apply_approved(ApplyApproved(upgrade_id="apply-a", by="ana", reason="now", demo=True), NOW, d)
    second = apply_approved(ApplyApproved(upgrade_id="apply-b", by="bo", reason="now", demo=True), NOW, d)
    assert first["result"] == second["result"] == MEASURING           # both measure the same candidate ...
    for upgrade_id in ("apply-a", "apply-b"):
        bench_run(d, f"{upgrade_id}.benchmark-post", {"b/two": 0.8})
    done = [finish_measured(u, f"{u}.benchmark-post", NOW, d)["result"] for u in ("apply-a", "apply-b")]
    assert done[0] == "promoted" and done[1].startswith("not promoted: the serving version moved")   # ... once
    assert d.serving.current_number() == 2 and len(d.serving.versions) == 2
    assert d.plans.review(route.id)["status"] == "applied"


def test_a_measured_candidate_promoted_before_its_instance_died_is_recognised():
    from shared.serving.models import ServingVersion

    d, ctx = setup()
    record = measuring(d, ctx)
    bench_run(d, "r1.benchmark-post", {"b/two": 0.8})
    assert d.serving.promote(ServingVersion.model_validate(record["candidate"])) == "promoted"   # then it died
    done = finish_measured("r1", "r1.benchmark-post", NOW, d)
    assert done["result"] == "promoted" and done["promoted_version"] == 3 and len(d.serving.versions) == 3
