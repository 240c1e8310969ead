"""The parser and the change planner on recorded real OpenRouter payloads (../shared/fixtures).

Expected values are computed independently from the raw JSON in this file, never by the code
under test. Tests skip (with a message) when the fixtures are absent."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.catalog.diff import MassDeactivationRefused, StoredModel, plan_model_changes
from shared.catalog.models import parse_models
from shared.catalog.rankings import parse_token_volumes
from tests.conftest import FIXTURES, load_fixture_json, missing_fixture

SNAPSHOT_FILES = [
    "models-2025-12-26.json",
    "models-2026-01-28.json",
    "models-2026-02-27.json",
    "models-2026-05-01.json",
]
SNAPSHOT_FILES.sort()  # chronological == by file name
PAIRS = list(zip(SNAPSHOT_FILES, SNAPSHOT_FILES[1:]))
RANKINGS_FILE = "rankings-frontend-month-2026-08-08.json"

_cache: dict[str, Any] = {}


def raw(name: str) -> list[dict[str, Any]]:
    if name not in _cache:
        _cache[name] = load_fixture_json("openrouter", name)["data"]
    return _cache[name]


def parsed(name: str):
    key = "parsed:" + name
    if key not in _cache:
        _cache[key] = parse_models(raw(name))
    return _cache[key]


# --- independent computations (from the raw JSON only) -----------------------------------------

def independent_pricing(pricing: dict[str, Any] | None) -> dict[str, Decimal]:
    out = {}
    for key, value in (pricing or {}).items():
        d = Decimal(str(value))
        if d != 0:
            out[key] = d
    return out


def independent_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]):
    o = {m["id"]: m for m in old}
    n = {m["id"]: m for m in new}
    added = set(n) - set(o)
    removed = set(o) - set(n)
    price_changed = {i for i in set(o) & set(n)
                     if independent_pricing(o[i].get("pricing")) != independent_pricing(n[i].get("pricing"))}
    return added, removed, price_changed


def stored_from(name: str) -> dict[str, StoredModel]:
    models, rejected = parsed(name)
    assert rejected == []
    return {m.id: StoredModel(id=m.id, content_hash=m.content_hash(), active=True, pricing=dict(m.pricing))
            for m in models}


# --- tests ------------------------------------------------------------------------------------

def test_fixture_list_is_the_four_recorded_snapshots():
    """Guards the parametrisation: four snapshot files exist beside the repository."""
    present = sorted(p.name for p in (FIXTURES / "openrouter").glob("models-*.json")) \
        if (FIXTURES / "openrouter").exists() else []
    if not present:
        missing_fixture(str(FIXTURES / "openrouter"))
    assert present == SNAPSHOT_FILES


@pytest.mark.parametrize("name", SNAPSHOT_FILES)
def test_every_real_model_parses(name):
    """Every entry of each real snapshot parses; none is rejected; count equals len(data)."""
    data = raw(name)
    models, rejected = parsed(name)
    assert [r.model_dump() for r in rejected] == []
    assert len(models) == len(data)
    assert [m.id for m in models] == [e["id"] for e in data]


@pytest.mark.parametrize("name", SNAPSHOT_FILES)
def test_real_dynamic_prices_marked(name):
    """Exactly the entries with a '-1' price get dynamic_pricing."""
    expected = {e["id"] for e in raw(name) if any(str(v) == "-1" for v in (e.get("pricing") or {}).values())}
    models, _ = parsed(name)
    assert {m.id for m in models if m.capabilities["dynamic_pricing"]} == expected


@pytest.mark.parametrize("old_name, new_name", PAIRS)
def test_planner_matches_independent_diff(old_name, new_name):
    """Added / deactivated / price-changed ids equal an independent computation from raw JSON."""
    added, removed, price_changed = independent_diff(raw(old_name), raw(new_name))
    new_models, rejected = parsed(new_name)
    assert rejected == []
    plan = plan_model_changes(stored_from(old_name), new_models, max_deactivate_share=1.0)
    assert {m.id for m in plan.added} == added
    assert set(plan.deactivated) == removed
    assert plan.deactivated == sorted(removed)
    assert {p.model_id for p in plan.price_changes} == price_changed
    assert len(plan.price_changes) == len(price_changed)  # no duplicates
    assert plan.reactivated == []
    # every model present in both is either updated or unchanged
    assert len(plan.updated) + plan.unchanged == len(set(m["id"] for m in raw(old_name))
                                                    & set(m["id"] for m in raw(new_name)))
    assert plan.seen == len(raw(new_name))
    # each price change reports old/new as stored, normalised
    for pc in plan.price_changes:
        changes = pc.as_dict()["changes"]
        assert changes, pc.model_id


def test_format_change_does_not_inflate_price_changes():
    """2025-12 lists zero keys explicitly, 2026-01 omits them: only real price changes count."""
    old_name, new_name = "models-2025-12-26.json", "models-2026-01-28.json"
    old, new = raw(old_name), raw(new_name)
    _, _, price_changed = independent_diff(old, new)
    o = {m["id"]: m for m in old}
    n = {m["id"]: m for m in new}
    raw_dict_differs = {i for i in set(o) & set(n) if o[i].get("pricing") != n[i].get("pricing")}
    # the premise: the raw dicts differ for many more models than the real price changes
    assert len(raw_dict_differs) > len(price_changed)
    plan = plan_model_changes(stored_from(old_name), parsed(new_name)[0], max_deactivate_share=1.0)
    assert len(plan.price_changes) == len(price_changed)


@pytest.mark.parametrize("old_name, new_name", PAIRS)
def test_mass_deactivation_guard_on_real_pairs(old_name, new_name):
    """The guard (10 %) refuses exactly the pairs whose independent removed share exceeds 10 %."""
    old, new = raw(old_name), raw(new_name)
    _, removed, _ = independent_diff(old, new)
    share = len(removed) / len({m["id"] for m in old})
    stored = stored_from(old_name)
    fetched = parsed(new_name)[0]
    if share > 0.10:
        with pytest.raises(MassDeactivationRefused) as exc:
            plan_model_changes(stored, fetched, max_deactivate_share=0.10)
        assert f"deactivate {len(removed)} of {len(stored)} active" in str(exc.value)
    else:
        plan = plan_model_changes(stored, fetched, max_deactivate_share=0.10)
        assert set(plan.deactivated) == removed


def test_same_snapshot_twice_is_all_unchanged():
    """Re-reading a snapshot against itself changes nothing."""
    name = SNAPSHOT_FILES[-1]
    plan = plan_model_changes(stored_from(name), parsed(name)[0], max_deactivate_share=0.10)
    assert plan.counts() == {"seen": len(raw(name)), "added": 0, "updated": 0, "price_changed": 0,
                             "deactivated": 0, "reactivated": 0, "unchanged": len(raw(name))}


def test_real_rankings_token_volumes():
    """parse_token_volumes sums prompt+completion per permaslug over the real frontend rows."""
    rows = load_fixture_json("openrouter", RANKINGS_FILE)["data"]
    volumes = parse_token_volumes({"data": rows})
    # The recorded data holds one row with an empty permaslug (and zero tokens): it cannot be
    # attributed to a model, so it is not a key. Every non-empty permaslug is.
    permaslugs = {r["model_permaslug"] for r in rows if r["model_permaslug"]}
    assert len(volumes) == len(permaslugs)
    assert set(volumes) == permaslugs
    assert "" not in volumes
    # pick a permaslug with several rows so the sum is exercised
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["model_permaslug"]] = counts.get(r["model_permaslug"], 0) + 1
    slug = max(sorted(counts), key=lambda s: counts[s])
    assert counts[slug] > 1
    expected = sum(int(r["total_prompt_tokens"] or 0) + int(r["total_completion_tokens"] or 0)
                   for r in rows if r["model_permaslug"] == slug)
    assert volumes[slug] == expected
    # and the grand total
    assert sum(volumes.values()) == sum(int(r["total_prompt_tokens"] or 0) + int(r["total_completion_tokens"] or 0)
                                        for r in rows)
