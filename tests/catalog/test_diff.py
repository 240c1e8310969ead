"""Unit tests for the pure change planner (shared/catalog/diff.py) on synthetic models."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared.catalog.diff import MassDeactivationRefused, PriceChange, StoredModel, plan_model_changes
from shared.catalog.models import NORMALISER_VERSION, CatalogModel, OpenRouterModel, normalise

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)
PREVIOUS = NOW - timedelta(hours=6)


def model(model_id: str, prompt: str = "0.000001", completion: str = "0.000002",
          context_length: int = 8192, **extra: Any) -> CatalogModel:
    """A synthetic catalog model."""
    return normalise(OpenRouterModel.model_validate({
        "id": model_id, "name": model_id.split("/")[1].title(), "context_length": context_length,
        "pricing": {"prompt": prompt, "completion": completion}, **extra}))


def stored(m: CatalogModel, active: bool = True, content_hash: str | None = None) -> StoredModel:
    return StoredModel(id=m.id, content_hash=content_hash if content_hash is not None else m.content_hash(),
                       active=active, pricing=dict(m.pricing))


def stored_map(*items: StoredModel) -> dict[str, StoredModel]:
    return {s.id: s for s in items}


def test_classification_of_every_kind():
    """add / update / unchanged / price change / deactivate / reactivate are classified exactly."""
    same = model("a/same")
    ctx_old, ctx_new = model("a/ctx", context_length=8192), model("a/ctx", context_length=32768)
    price_old, price_new = model("a/price", prompt="0.000001"), model("a/price", prompt="0.000002")
    gone = model("a/gone")
    back_old, back_new = model("a/back"), model("a/back")
    others = [model(f"z/filler-{i}") for i in range(10)]  # keeps the deactivated share small
    st = stored_map(stored(same), stored(ctx_old), stored(price_old), stored(gone),
                    stored(back_old, active=False), *[stored(o) for o in others])
    fresh = model("a/new")
    fetched = [same, ctx_new, price_new, back_new, fresh, *others]

    plan = plan_model_changes(st, fetched, max_deactivate_share=0.10)

    assert [m.id for m in plan.added] == ["a/new"]
    assert sorted(m.id for m in plan.updated) == ["a/ctx", "a/price"]
    assert [m.id for m in plan.reactivated] == ["a/back"]
    assert plan.deactivated == ["a/gone"]
    assert plan.unchanged == 1 + len(others)
    assert [(p.model_id, p.old, p.new) for p in plan.price_changes] == [
        ("a/price", {"completion": "0.000002", "prompt": "0.000001"},
         {"completion": "0.000002", "prompt": "0.000002"})]
    assert plan.counts() == {"seen": len(fetched), "added": 1, "updated": 2, "price_changed": 1,
                             "deactivated": 1, "reactivated": 1, "unchanged": 11}


def test_price_change_of_inactive_model_counts_as_reactivation_and_price_change():
    """A reactivated model with a new price is reactivated (not updated) and a price change."""
    old, new = model("a/m", prompt="0.000001"), model("a/m", prompt="0.000003")
    plan = plan_model_changes(stored_map(stored(old, active=False)), [new], max_deactivate_share=0.1)
    assert [m.id for m in plan.reactivated] == ["a/m"]
    assert plan.updated == [] and plan.unchanged == 0
    assert [p.model_id for p in plan.price_changes] == ["a/m"]


def test_format_only_change_is_unchanged():
    """Same meaning in another spelling (explicit zero key, trailing zeros) is not an update."""
    old = model("a/m", prompt="0.0000010")
    new = normalise(OpenRouterModel.model_validate({
        "id": "a/m", "name": "M", "context_length": 8192,
        "pricing": {"completion": "2e-6", "prompt": "0.000001", "request": "0"}}))
    plan = plan_model_changes(stored_map(stored(old)), [new], max_deactivate_share=0.1)
    assert plan.unchanged == 1 and plan.updated == [] and plan.price_changes == []


def test_hash_only_change_is_update_without_price_change():
    """A stored hash that differs (e.g. older normaliser) makes an update but no price change."""
    m = model("a/m")
    plan = plan_model_changes(stored_map(stored(m, content_hash="stale")), [m], max_deactivate_share=0.1)
    assert [x.id for x in plan.updated] == ["a/m"] and plan.price_changes == []


def test_price_change_as_dict_lists_only_changed_keys():
    """PriceChange.as_dict names each changed key with old and new, None for absent."""
    pc = PriceChange("a/m", {"prompt": "0.000001", "completion": "0.000002"},
                     {"prompt": "0.000001", "completion": "0.000003", "image": "0.01"})
    assert pc.as_dict() == {"model_id": "a/m", "changes": {
        "completion": {"old": "0.000002", "new": "0.000003"},
        "image": {"old": None, "new": "0.01"}}}


def test_stored_model_from_doc_defaults():
    """A stored document without active/pricing/hash reads as inactive, empty."""
    s = StoredModel.from_doc({"id": "a/m"})
    assert s == StoredModel(id="a/m", content_hash="", active=False, pricing={})


# --- documents --------------------------------------------------------------------------------

def _plan_with_everything():
    same = model("a/same")
    changed_old, changed_new = model("a/changed", context_length=1), model("a/changed", context_length=2)
    back = model("a/back")
    gone = model("a/gone")
    others = [model(f"z/filler-{i}") for i in range(10)]
    st = stored_map(stored(same), stored(changed_old), stored(back, active=False), stored(gone),
                    *[stored(o) for o in others])
    return plan_model_changes(st, [same, changed_new, back, model("a/new"), *others], max_deactivate_share=0.1)


def test_documents_only_for_changes():
    """Unchanged models produce no document; each changed model produces exactly one."""
    docs = _plan_with_everything().documents(NOW, PREVIOUS)
    assert sorted(d[0] for d in docs) == ["a/back", "a/changed", "a/gone", "a/new"]


def test_added_document():
    """Added: full fields, active True, first_seen_at/last_seen_at now, written whole ("set")."""
    docs = {d[0]: d for d in _plan_with_everything().documents(NOW, PREVIOUS)}
    _, data, op = docs["a/new"]
    expected_model = model("a/new")
    assert op == "set"
    assert data["active"] is True
    assert data["first_seen_at"] == NOW and data["last_seen_at"] == NOW and data["updated_at"] == NOW
    assert data["inactive_since"] is None
    assert data["content_hash"] == expected_model.content_hash()
    assert data["normaliser_version"] == NORMALISER_VERSION
    assert data["pricing"] == {"completion": "0.000002", "prompt": "0.000001"}
    assert data["id"] == "a/new" and data["name"] == "New"


def test_updated_document_merges_without_touching_first_seen_or_active():
    """Updated: an "update" of the given fields, last_seen_at now, no first_seen_at/active keys."""
    docs = {d[0]: d for d in _plan_with_everything().documents(NOW, PREVIOUS)}
    _, data, op = docs["a/changed"]
    assert op == "update"
    assert data["context_length"] == 2 and data["last_seen_at"] == NOW
    assert "first_seen_at" not in data and "active" not in data


def test_updated_document_carries_whole_pricing_map():
    """An update replaces the pricing map: a price key the feed dropped is absent from the data."""
    old = normalise(OpenRouterModel.model_validate({
        "id": "a/m", "name": "M", "pricing": {"prompt": "0.000001", "image": "0.001"}}))
    new = normalise(OpenRouterModel.model_validate({"id": "a/m", "name": "M", "pricing": {"prompt": "0.000001"}}))
    plan = plan_model_changes(stored_map(stored(old)), [new], max_deactivate_share=0.1)
    [(model_id, data, op)] = plan.documents(NOW, PREVIOUS)
    assert (model_id, op) == ("a/m", "update")
    assert data["pricing"] == {"prompt": "0.000001"}
    assert [p.as_dict() for p in plan.price_changes] == [
        {"model_id": "a/m", "changes": {"image": {"old": "0.001", "new": None}}}]


def test_deactivated_document():
    """Deactivated: only active False, inactive_since now, last_seen_at = previous sync; "update"."""
    docs = {d[0]: d for d in _plan_with_everything().documents(NOW, PREVIOUS)}
    assert docs["a/gone"] == ("a/gone", {"active": False, "inactive_since": NOW, "updated_at": NOW,
                                         "last_seen_at": PREVIOUS}, "update")


def test_deactivated_document_without_previous_sync():
    """With no previous sync time, last_seen_at is not written."""
    docs = {d[0]: d for d in _plan_with_everything().documents(NOW, None)}
    assert docs["a/gone"][1] == {"active": False, "inactive_since": NOW, "updated_at": NOW}


def test_reactivated_document():
    """Reactivated: active True, inactive_since None, reactivated_at now; "update"."""
    docs = {d[0]: d for d in _plan_with_everything().documents(NOW, PREVIOUS)}
    _, data, op = docs["a/back"]
    assert op == "update"
    assert data["active"] is True and data["inactive_since"] is None
    assert data["reactivated_at"] == NOW and data["last_seen_at"] == NOW
    assert "first_seen_at" not in data


# --- mass-deactivation guard ------------------------------------------------------------------

def test_empty_feed_always_refused_even_with_nothing_stored():
    """An empty feed is refused, whatever is stored (even nothing)."""
    with pytest.raises(MassDeactivationRefused, match="listed no models; refusing to deactivate 0"):
        plan_model_changes({}, [], max_deactivate_share=1.0)
    st = stored_map(stored(model("a/x")))
    with pytest.raises(MassDeactivationRefused, match="refusing to deactivate 1 active"):
        plan_model_changes(st, [], max_deactivate_share=1.0)


def test_first_sync_into_empty_store_adds_all():
    """Nothing stored: every model is added, the guard does not apply."""
    plan = plan_model_changes({}, [model("a/x"), model("a/y")], max_deactivate_share=0.0)
    assert [m.id for m in plan.added] == ["a/x", "a/y"] and plan.deactivated == []


def _ten_stored():
    ms = [model(f"a/m{i}") for i in range(10)]
    return ms, stored_map(*[stored(m) for m in ms])


def test_guard_allows_exactly_the_limit():
    """Deactivating 1 of 10 active (10 %) passes at a 0.10 limit."""
    ms, st = _ten_stored()
    plan = plan_model_changes(st, ms[1:], max_deactivate_share=0.10)
    assert plan.deactivated == ["a/m0"]


def test_guard_refuses_above_the_limit():
    """Deactivating 2 of 10 (20 %) raises, naming the counts and MASS_DEACTIVATION_MAX_SHARE."""
    ms, st = _ten_stored()
    with pytest.raises(MassDeactivationRefused) as exc:
        plan_model_changes(st, ms[2:], max_deactivate_share=0.10)
    msg = str(exc.value)
    assert "deactivate 2 of 10 active models (20% > limit 10%)" in msg
    assert "MASS_DEACTIVATION_MAX_SHARE" in msg


def test_guard_counts_only_active_models():
    """Inactive stored models do not count toward the share (already deactivated)."""
    ms, st = _ten_stored()
    for m in ms[:5]:
        st[m.id] = stored(m, active=False)
    # 5 active; dropping one active of 5 is 20 %
    with pytest.raises(MassDeactivationRefused, match="1 of 5"):
        plan_model_changes(st, [m for m in ms if m.id != "a/m9"], max_deactivate_share=0.10)
