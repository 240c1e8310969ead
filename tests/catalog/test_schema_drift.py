"""Feed evolution (issue 13): a field that changes shape is kept raw and recorded as schema drift,
never rejects a model nor deactivates it; only the essentials (id, name, base prompt/completion
prices) reject an entry. Entries here are synthetic; the real snapshots are run through the sync
at the end (../shared/fixtures, skipped when absent)."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from shared.bench import budget
from shared.catalog.diff import MassDeactivationRefused, StoredModel, plan_model_changes
from shared.catalog.models import DriftLog, bounding_pricing, parse_models, upper_bound_pricing
from shared.catalog.openrouter import OpenRouterClient
from shared.catalog.store import InMemoryCatalogStore
from shared.catalog.sync import CatalogSync, SyncRecord, run_sync
from shared.config import settings_from_env
from tests.catalog.test_models import synthetic_entry
from tests.catalog.test_real_snapshots import SNAPSHOT_FILES, independent_diff, raw
from tests.conftest import TEST_ENV

LATER = {"knowledge_cutoff": "2025-06-30", "expiration_date": "2026-12-31", "links": {"details": "/x"},
         "reasoning": {"supported": True}, "benchmarks": {"mmlu": 0.9}, "alias_target": "acme/widget-1",
         "supported_voices": ["alloy"], "default_parameters": {"temperature": 0.7}}
ESSENTIAL = {"id", "name", "pricing", "pricing.prompt", "pricing.completion"}
# fields typed as a string: any object or list there is drift
STRING_FIELDS = {"canonical_slug", "hugging_face_id", "description", "knowledge_cutoff", "expiration_date",
                 "alias_target", "architecture.modality", "architecture.tokenizer", "architecture.instruct_type"}
# fields typed as an object: a list there is drift
OBJECT_FIELDS = {"architecture", "top_provider", "per_request_limits", "links", "default_parameters"}
SHAPES = {
    "string to object": {"id": "acme/other", "kind": "alias"},
    "object to list": [{"tier": 1, "prompt": "0.1"}, {"tier": 2}],
    "new nested list": [[1, 2], ["a", [3]]],
    "null": None,
    "number as string": "12345",
}
COPIES = 3      # each mutated field appears in this many entries: its drift count


def base_entry(model_id: str) -> dict[str, Any]:
    return synthetic_entry(id=model_id, **copy.deepcopy(LATER))


def field_paths(entry: dict[str, Any]) -> list[str]:
    """Every field of an entry, one level into objects (architecture.tokenizer, pricing.image…)."""
    paths = []
    for key, value in entry.items():
        paths.append(key)
        if isinstance(value, dict):
            paths += [f"{key}.{sub}" for sub in value]
    return sorted(paths)


def mutate(entry: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(entry)
    *parents, last = path.split(".")
    target = out
    for p in parents:
        target = target[p]
    target[last] = copy.deepcopy(value)
    return out


def baseline() -> list[dict[str, Any]]:
    return [base_entry(f"acme/model-{i}") for i in range(COPIES)] + [base_entry("acme/untouched")]


def stored_active(models) -> dict[str, StoredModel]:
    return {m.id: StoredModel(id=m.id, content_hash=m.content_hash(), active=True, pricing=dict(m.pricing))
            for m in models}


def essential_fails(path: str, value: Any) -> bool:
    """Independently: does this value break an essential?"""
    if path == "pricing.prompt" or path == "pricing.completion":
        return not (value is None or (isinstance(value, str) and value.strip().isdigit()))
    if path == "pricing":
        return value is not None and not isinstance(value, dict)
    if path == "id":
        return True                       # none of the shapes is an author/slug id
    return path == "name" and not isinstance(value, str)


CASES = [(path, shape) for path in field_paths(base_entry("acme/x")) for shape in SHAPES]


@pytest.mark.parametrize("path, shape", CASES, ids=[f"{p}-{s}" for p, s in CASES])
def test_a_changed_field_keeps_the_model_and_is_drift_once(path, shape):
    """Every field, every shape change: kept (unless an essential), the drift list names the
    field path once with its count, and parsing deactivates nothing."""
    value = SHAPES[shape]
    before, _ = parse_models(baseline())
    entries = [mutate(e, path, value) if i < COPIES else e for i, e in enumerate(baseline())]
    drift = DriftLog()
    models, rejected = parse_models(entries, drift)
    rows = drift.rows()
    paths = [r.path for r in rows]
    assert len(paths) == len(set(paths))
    if path in ESSENTIAL and essential_fails(path, value):
        assert [m.id for m in models] == ["acme/untouched"]
        assert len(rejected) == COPIES and all(r.reason.startswith(path) for r in rejected), rejected
        if path != "id":
            assert [r.model_id for r in rejected] == [f"acme/model-{i}" for i in range(COPIES)]
            listed = [r.model_id for r in rejected]
            plan = plan_model_changes(stored_active(before), models, 0.1, listed)
            assert plan.deactivated == []
        else:   # an unreadable id cannot be seen: the guard refuses to deactivate 3 of 4
            with pytest.raises(MassDeactivationRefused):
                plan_model_changes(stored_active(before), models, 0.1)
        return
    assert rejected == [], rejected
    assert [m.id for m in models] == [m.id for m in before]
    assert plan_model_changes(stored_active(before), models, 0.1).deactivated == []
    for row in rows:
        assert row.path == path or row.path.startswith(path + "."), rows
        assert row.count == COPIES and row.example_model == "acme/model-0"
    structured = not isinstance(value, str) and value is not None
    if (path in STRING_FIELDS and structured) or (path in OBJECT_FIELDS and isinstance(value, list)):
        assert paths == [path], rows
    if path in paths:
        row = rows[paths.index(path)]
        assert json.loads(row.example.rstrip("…")) == value if len(row.example) < 200 else True
        for m in models[:COPIES]:
            assert {"path": path, "json": json.dumps(value, sort_keys=True)} in m.unparsed
        assert models[COPIES].unparsed == []
    # the rest of the model is as before: name and base prices never move with another field
    for old, new in zip(before[:COPIES], models[:COPIES]):
        if path != "name":
            assert new.name == old.name
        if not path.startswith("pricing"):
            assert new.pricing == old.pricing


def test_the_issue_shapes_tiered_overrides_and_an_object_alias_target():
    """The two shapes of the 2026-08 feed (synthesised: no such snapshot is recorded)."""
    tiers = [{"prompt": "0.000004", "completion": "0.000018", "min_prompt_tokens": 200000},
             {"prompt": "0.000006", "completion": "0.000016", "min_prompt_tokens": 1000000}]
    entry = base_entry("acme/tiered")
    entry["pricing"]["overrides"] = tiers
    entry["alias_target"] = {"id": "acme/widget-1-20260101", "name": "Widget"}
    drift = DriftLog()
    (m,), rejected = parse_models([entry], drift)
    assert rejected == []
    assert [r.path for r in drift.rows()] == ["alias_target"]
    assert m.pricing == {"completion": "0.000015", "prompt": "0.000003"}
    assert m.pricing_tiers == [
        {"prices": {"completion": "0.000018", "prompt": "0.000004"}, "conditions": {"min_prompt_tokens": 200000}},
        {"prices": {"completion": "0.000016", "prompt": "0.000006"}, "conditions": {"min_prompt_tokens": 1000000}}]
    # the budget's upper bound uses the most expensive tier, key by key
    assert upper_bound_pricing(m.pricing, m.pricing_tiers) == {"prompt": "0.000006", "completion": "0.000018"}
    doc = m.model_dump(mode="json")
    rates = budget.rates_of(m.id, bounding_pricing(doc))
    assert (str(rates.prompt), str(rates.completion)) == ("0.000006", "0.000018")
    # a tier price that does not read cannot be bounded: the budget refuses the model
    entry["pricing"]["overrides"] = [{"prompt": {"per": "token"}}]
    drift = DriftLog()
    (m,), _ = parse_models([entry], drift)
    assert "pricing.overrides[].prompt" in [r.path for r in drift.rows()]
    with pytest.raises(budget.Unpriced):
        budget.rates_of(m.id, bounding_pricing(m.model_dump(mode="json")))


def test_a_model_without_the_new_fields_keeps_its_hash():
    """The fields added for drift do not change the stored hash of an unchanged model."""
    (m,), _ = parse_models([base_entry("acme/x")])
    assert m.content_hash() == m.model_copy(update={"unparsed": [], "pricing_tiers": []}).content_hash()
    legacy = {k: v for k, v in m.model_dump(mode="json").items() if k not in ("pricing_tiers", "unparsed")}
    import hashlib
    expected = hashlib.sha256(json.dumps(legacy, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert m.content_hash() == expected


def test_drift_examples_are_redacted_and_truncated():
    secret = "sk-or-v1-" + "a1" * 20
    entry = base_entry("acme/x")
    entry["description"] = {"note": secret, "pad": "x" * 500}
    drift = DriftLog()
    parse_models([entry], drift)
    (row,) = drift.rows()
    assert secret not in row.example and "[REDACTED]" in row.example and len(row.example) <= 201


# --- the sync ------------------------------------------------------------------------------------

def sync_settings(max_share: str = "0.1"):
    return settings_from_env({**TEST_ENV, "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1",
                              "REPORTS_BUCKET": "raw-test", "MASS_DEACTIVATION_MAX_SHARE": max_share})


def feed(monkeypatch, entries: list[Any]) -> None:
    """The model feed, served without HTTP (the sync's parsing is what is under test)."""
    page = SimpleNamespace(body=json.dumps({"data": entries}).encode())
    monkeypatch.setattr(OpenRouterClient, "fetch_models", lambda self: (copy.deepcopy(entries), [page]))


def sync_models(store: InMemoryCatalogStore, run_id: str) -> SyncRecord:
    """The sync's model phase; the real pairs drop more than the 10 % guard, so no guard here."""
    rec = SyncRecord(sync_run_id=run_id, mode="quick", started_at=datetime.now(timezone.utc), source="test")
    sync = CatalogSync(sync_settings("1"), rec, store)
    try:
        sync.sync_models()
    finally:
        sync.api.close()
    return rec


def test_a_rejected_entry_with_a_readable_id_stays_active_and_the_sync_is_partial(monkeypatch):
    store = InMemoryCatalogStore()
    entries = baseline()
    feed(monkeypatch, entries)
    monkeypatch.setattr(CatalogSync, "sync_endpoints", lambda self: None)
    assert run_sync(sync_settings(), "quick", "s-1", store=store).status == "succeeded"
    changed = copy.deepcopy(entries)
    changed[0]["pricing"]["prompt"] = {"tiers": ["0.1"]}            # an essential: rejected
    changed[1]["alias_target"] = {"id": "acme/model-0"}            # not essential: drift
    feed(monkeypatch, changed)
    rec = run_sync(sync_settings(), "quick", "s-2", store=store)
    assert rec.status == "partial"
    assert [(r.model_id, r.reason.split(":")[0]) for r in rec.rejected] == [("acme/model-0", "pricing.prompt")]
    assert rec.deactivated == [] and rec.counts["deactivated"] == 0
    assert set(store.models([], active_only=True)) == {e["id"] for e in entries}
    assert [(d.path, d.count) for d in rec.schema_drift] == [("alias_target", 1)]
    assert any("schema drift" in w for w in rec.warnings)
    stored = store.models(["unparsed"])["acme/model-1"]["unparsed"]
    assert stored == [{"path": "alias_target", "json": '{"id": "acme/model-0"}'}]


def test_nested_lists_are_storable_in_firestore():
    """Firestore refuses arrays in arrays: kept extras and tier conditions hold none."""
    entry = base_entry("acme/x")
    entry["future"] = [[1, 2], [3]]
    entry["pricing"]["overrides"] = [{"prompt": "0.1", "when": [[1, 2]]}]
    (m,), _ = parse_models([entry])

    def nested(value: Any, in_list: bool = False) -> bool:
        if isinstance(value, list):
            return in_list or any(nested(v, True) for v in value)
        if isinstance(value, dict):
            return any(nested(v) for v in value.values())
        return False
    assert not nested(m.model_dump(mode="json"))
    assert json.loads(m.extra["future"][0]) == [1, 2]


@pytest.mark.parametrize("name", SNAPSHOT_FILES)
def test_every_real_snapshot_parses_without_drift(name):
    """Every recorded snapshot: 0 rejected, no drift on the formats it was recorded in."""
    entries = raw(name)
    drift = DriftLog()
    models, rejected = parse_models(entries, drift)
    assert rejected == [] and len(models) == len(entries)
    assert drift.rows() == []


def test_sync_through_the_real_snapshots_deactivates_only_what_the_feed_dropped(monkeypatch):
    """Snapshot after snapshot through the sync, then the newest with the 2026-08 shapes
    synthesised on one entry in six: deactivations are exactly the ids the feed dropped
    (computed from the raw JSON), never one caused by parsing."""
    store = InMemoryCatalogStore()
    previous: list[dict[str, Any]] = []
    for i, name in enumerate(SNAPSHOT_FILES):
        entries = raw(name)
        feed(monkeypatch, entries)
        rec = sync_models(store, f"s-{i}")
        _, removed, _ = independent_diff(previous, entries) if previous else (None, set(), None)
        assert rec.rejected == [] and set(rec.deactivated) == removed, name
        previous = entries
    evolved = copy.deepcopy(previous)
    for n, e in enumerate(evolved):
        if n % 6 == 0:
            e["pricing"]["overrides"] = [{"prompt": "0.01", "completion": "0.02", "min_prompt_tokens": 200000}]
        if n % 6 == 1:
            e["alias_target"] = {"id": e["id"], "variant": "latest"}
    feed(monkeypatch, evolved)
    rec = sync_models(store, "s-evolved")
    assert rec.rejected == [] and rec.deactivated == []
    assert [(d.path, d.count) for d in rec.schema_drift] == [("alias_target", len(evolved[1::6]))]
    assert set(store.models([], active_only=True)) == {e["id"] for e in evolved}
