"""Building a candidate version from typed changes (pure)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.serving.changes import Change, ChangeConflict, build_candidate, change_id, initial_version
from shared.serving.models import load_defaults

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


def v1():
    prompts, strategies = load_defaults()
    models = [{"id": m, "name": m, "pricing": {"prompt": "0.000001"}, "active": True}
              for m in ("a/one", "b/two", "c/three")]
    return initial_version(models, [{"slug": "programming", "name": "Programming"}],
                           {"programming": {"primary_model": "a/one", "fallbacks": ["b/two"]},
                            "trivia": {"primary_model": None}}, prompts, strategies, "sync:s1", NOW)


def test_version_one_comes_from_the_sync_and_the_defaults():
    v = v1()
    assert v.number == 1 and v.parent is None and set(v.models) == {"a/one", "b/two", "c/three"}
    assert v.routing["programming"].primary == "a/one" and "trivia" not in v.routing
    assert v.prompts["system"].version == 1 and v.strategy_for("science").name == "chain_of_thought"
    assert v.strategy_for("legal").name == "direct"


def test_ids_derive_from_content():
    a = Change(kind="routing_primary", target="programming", before={"x": 1}, after={"y": 2})
    b = Change(kind="routing_primary", target="programming", before={"x": 1}, after={"y": 2}, priority=9)
    assert a.id == b.id == change_id("routing_primary", "programming", {"x": 1}, {"y": 2})
    assert a.id != Change(kind="routing_primary", target="programming", before={"x": 1}, after={"y": 3}).id


def test_a_candidate_applies_every_kind_and_leaves_its_base_untouched():
    base = v1()
    route = base.routing["programming"].model_dump(mode="json")
    changes = [
        Change(kind="catalog_add", target="d/four", after={"name": "Four", "pricing": {"prompt": "0.000002"}}),
        Change(kind="pricing_update", target="b/two", before={"prompt": "0.000001"}, after={"prompt": "0.000003"}),
        Change(kind="routing_primary", target="programming", before=route,
               after={"primary": "d/four", "fallbacks": ["a/one"]}),
        Change(kind="catalog_deactivate", target="c/three"),
        Change(kind="category_add", target="marketing/seo", after={"name": "SEO", "parent": "marketing"}),
        Change(kind="strategy_change", target="programming", before=base.strategies["programming"].model_dump(),
               after={"name": "self_consistency", "params": {"k": 5}}),
        Change(kind="prompt_template_update", target="system", before=base.prompts["system"].model_dump(),
               after={"text": "Be brief.", "version": 2}),
    ]
    cand = build_candidate(base, changes, "planner:run-1", "week 48", NOW)
    assert cand.number == 2 and cand.parent == 1 and [c.change_id for c in cand.changes] == [c.id for c in changes]
    assert cand.routing["programming"].primary == "d/four" and cand.models["b/two"].pricing == {"prompt": "0.000003"}
    assert cand.models["c/three"].active is False and cand.categories["marketing/seo"].parent == "marketing"
    assert cand.strategies["programming"].params == {"k": 5} and cand.prompts["system"].version == 2
    assert base == v1()                       # the base version is immutable


@pytest.mark.parametrize("change, why", [
    (Change(kind="routing_primary", target="programming", before={"primary": "x/y", "fallbacks": []},
            after={"primary": "b/two", "fallbacks": []}), "route changed meanwhile"),
    (Change(kind="pricing_update", target="b/two", before={"prompt": "9"}, after={"prompt": "1"}),
     "pricing changed meanwhile"),
    (Change(kind="catalog_deactivate", target="a/one"), "would use a/one"),     # still the primary
    (Change(kind="catalog_deactivate", target="z/none"), "not served"),
])
def test_a_change_that_does_not_fit_its_base_is_a_conflict(change, why):
    with pytest.raises(ChangeConflict, match=why):
        build_candidate(v1(), [change], "planner", "x", NOW)
