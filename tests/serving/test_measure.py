"""What a post-change benchmark measures: the targets of changed routes as served, and the
before-targets the pre-change run already measured (pure)."""
from __future__ import annotations

from datetime import datetime, timezone

from shared.messages import BenchTarget
from shared.serving.changes import Change, build_candidate, initial_version
from shared.serving.measure import label, plan_post_change, served_target
from shared.serving.models import PromptTemplate, Strategy

NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)


def v1(strategies=None, prompts=None):
    models = [{"id": m, "name": m} for m in ("a/one", "b/two", "c/three")]
    routing = {"programming": {"primary_model": "a/one", "fallbacks": ["b/two"]},
               "science": {"primary_model": "c/three", "fallbacks": []}}
    return initial_version(models, [], routing, prompts or {"system": PromptTemplate(text="Be brief.", version=1)},
                           strategies or {"default": Strategy(name="direct")}, "sync:s", NOW)


def cand(base, *changes):
    return build_candidate(base, list(changes), "upgrade:r", "w", NOW)


def test_a_plain_target_is_its_model_and_a_variant_gets_a_stable_distinct_label():
    assert label(BenchTarget(model="a/one")) == "a/one"
    cot = BenchTarget(model="a/one", strategy={"name": "chain_of_thought", "params": {}})
    sc5 = BenchTarget(model="a/one", strategy={"name": "self_consistency", "params": {"k": 5}})
    sc7 = BenchTarget(model="a/one", strategy={"name": "self_consistency", "params": {"k": 7}})
    assert label(cot).startswith("a/one#chain_of_thought-") and label(cot) == label(cot.model_copy())
    assert len({label(cot), label(sc5), label(sc7)}) == 3


def test_a_new_primary_is_measured_and_the_old_one_reused_from_the_pre_change_run():
    base = v1()
    new = cand(base, Change(kind="routing_primary", target="programming", before={"primary": "a/one", "fallbacks": ["b/two"]},
                            after={"primary": "b/two", "fallbacks": ["a/one"]}))
    post = plan_post_change(base, new, "r.benchmark-pre", {"a/one", "c/three"})
    assert [(r.category, r.before, r.after) for r in post.routes] == [("programming", "a/one", "b/two")]
    assert set(post.run) == {"b/two"} and post.reused == {"a/one": "r.benchmark-pre"}
    # the pre-change run did not measure a/one completely: both run now, on the same cases
    post = plan_post_change(base, new, "r.benchmark-pre", {"c/three"})
    assert set(post.run) == {"a/one", "b/two"} and post.reused == {}
    assert set(plan_post_change(base, new, None, set()).run) == {"a/one", "b/two"}


def test_a_strategy_change_measures_the_same_model_with_both_strategies():
    base = v1(strategies={"default": Strategy(name="direct"), "science": Strategy(name="chain_of_thought")})
    new = cand(base, Change(kind="strategy_change", target="science", before={"name": "chain_of_thought", "params": {}},
                            after={"name": "self_consistency", "params": {"k": 5}}))
    post = plan_post_change(base, new, "pre", {"c/three"})
    (route,) = post.routes
    assert route.category == "science" and route.before != route.after
    assert {t.model for t in post.run.values()} == {"c/three"} and len(post.run) == 2 and post.reused == {}


def test_a_template_change_measures_only_the_routes_whose_strategy_names_it():
    strategies = {"default": Strategy(name="direct"), "programming": Strategy(name="direct", params={"template": "code"})}
    prompts = {"system": PromptTemplate(text="Be brief.", version=1), "code": PromptTemplate(text="Write code.", version=1)}
    base = v1(strategies, prompts)
    assert served_target(base, "programming").template == "Write code." and served_target(base, "science").template is None
    new = cand(base, Change(kind="prompt_template_update", target="code", before={"text": "Write code.", "version": 1},
                            after={"text": "Write tested code.", "version": 2}))
    assert [r.category for r in plan_post_change(base, new, "pre", {"a/one"}).routes] == ["programming"]
    unused = cand(base, Change(kind="prompt_template_update", target="system", before={"text": "Be brief.", "version": 1},
                               after={"text": "Be very brief.", "version": 2}))
    assert not plan_post_change(base, unused, "pre", set()).needed()


def test_a_fallback_only_change_measures_nothing():
    base = v1()
    new = cand(base, Change(kind="fallback_update", target="programming", before={"primary": "a/one", "fallbacks": ["b/two"]},
                            after={"primary": "a/one", "fallbacks": ["c/three"]}))
    assert not plan_post_change(base, new, "pre", {"a/one"}).needed()
