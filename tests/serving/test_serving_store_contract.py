"""One contract, two implementations: serving versions and the current pointer."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from shared.serving import store as serving_store
from shared.serving.models import PromptTemplate, Route, ServedCategory, ServedModel, ServingVersion, Strategy
from tests.conftest import BOTH_BACKENDS, either

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
HOSTILE_IDS = ["openai/gpt-4o", "qwen/qwen-2.5.1:free", "~anthropic/claude-latest", "a.b/c.d", "__x__/y"]


@pytest.fixture(params=BOTH_BACKENDS)
def store(request):
    return either(request, serving_store.InMemoryServingStore, serving_store.FirestoreServingStore)


def version(number: int, parent: int | None, primary: str = "openai/gpt-4o") -> ServingVersion:
    models = {m: ServedModel(id=m, name=m.upper(), pricing={"prompt": "0.000001"}, capabilities={"tools": True})
              for m in HOSTILE_IDS}
    return ServingVersion(number=number, parent=parent, created_at=NOW, created_by="test", reason=f"v{number}",
                          models=models, categories={"marketing/seo": ServedCategory(slug="marketing/seo", name="SEO",
                                                                                      parent="marketing")},
                          routing={"marketing/seo": Route(primary=primary, fallbacks=("a.b/c.d",))},
                          prompts={"system": PromptTemplate(text="Be helpful.", version=1)},
                          strategies={"default": Strategy(name="direct")})


def test_the_first_version_and_the_pointer(store):
    assert store.current_number() is None and serving_store.current(store) is None
    assert store.promote(version(1, None)) == "promoted"
    assert store.current_number() == 1
    assert serving_store.current(store) == version(1, None)     # every field, hostile keys included
    assert store.version(2) is None


def test_the_pointer_state_names_the_version_and_its_move(store):
    assert store.pointer_state() is None
    store.promote(version(1, None))
    first = store.pointer_state()
    assert first["number"] == 1 and first["updated_at"] is not None
    store.promote(version(2, 1))
    assert store.point_to(1, expected_current=2, by="operator:ana", reason="back") == "pointed"
    assert store.pointer_state()["number"] == 1
    if store.pointer_state()["updated_at"] != first["updated_at"]:    # a fixed test clock may repeat it
        assert store.pointer_state()["updated_at"] > first["updated_at"]


def test_a_candidate_on_a_moved_pointer_is_refused(store):
    store.promote(version(1, None))
    assert store.promote(version(2, 1)) == "promoted"
    stale = version(2, 1, primary="qwen/qwen-2.5.1:free")      # built on 1, but 2 exists now
    assert store.promote(stale) == "moved"
    assert store.version(2) == version(2, 1) and store.current_number() == 2
    assert store.promote(version(3, 1)) == "moved"              # parent is not the current one


def test_concurrent_promotions_of_the_same_number_let_exactly_one_win(store):
    store.promote(version(1, None))
    candidates = [version(2, 1, primary=m) for m in HOSTILE_IDS]
    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = list(pool.map(store.promote, candidates))
    assert sorted(outcomes) == ["moved"] * 4 + ["promoted"]
    winner = candidates[outcomes.index("promoted")]
    assert store.version(2) == winner and store.current_number() == 2


def test_pointing_back_restores_exactly_what_was_served(store):
    store.promote(version(1, None))
    store.promote(version(2, 1, primary="qwen/qwen-2.5.1:free"))
    before = store.version(1).content()
    assert store.point_to(1, expected_current=2, by="operator:ana", reason="regression") == "pointed"
    assert store.current_number() == 1 and serving_store.current(store).content() == before
    assert serving_store.current(store).content_sha256() == version(1, None).content_sha256()
    assert store.point_to(2, expected_current=2, by="x", reason="stale") == "moved"
    assert store.point_to(7, expected_current=1, by="x", reason="no such") == "missing"
    events = store.events(10)
    assert [(e["kind"], e["from"], e["to"]) for e in events] == [("point", 2, 1), ("promote", 1, 2),
                                                                 ("promote", None, 1)]
    assert events[0]["by"] == "operator:ana" and events[0]["reason"] == "regression"


def test_history_is_newest_first(store):
    store.promote(version(1, None))
    store.promote(version(2, 1))
    store.promote(version(3, 2))
    assert [v.number for v in store.history(2)] == [3, 2]


def test_an_upgrade_outcome_is_kept_once(store):
    assert store.upgrade("run/1") is None
    store.save_upgrade("run/1", {"result": "promoted", "promoted_version": 2, "waiting": {"c-1": "gated"}})
    store.save_upgrade("run/1", {"result": "nothing to apply"})
    assert store.upgrade("run/1") == {"result": "promoted", "promoted_version": 2, "waiting": {"c-1": "gated"}}
