"""Whole catalog syncs against the in-memory store: real HTTP to the replay server (demo data,
week 1 then week 2), no emulator. The contract suite keeps the fake honest."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from shared.catalog.store import InMemoryCatalogStore, routing_targets
from shared.catalog.sync import load_record, model_details, run_sync
from shared.config import settings_from_env
from shared.platform import firestore as fs
from tests.conftest import DEMO_DATA, TEST_ENV

WEEK1 = json.loads((DEMO_DATA / "week1.json").read_text())
WEEK2 = json.loads((DEMO_DATA / "week2.json").read_text())
W1 = {m["id"]: m for m in WEEK1["models"]}
W2 = {m["id"]: m for m in WEEK2["models"]}


@pytest.fixture(scope="module")
def replay(demo_replay):
    return demo_replay


@pytest.fixture
def settings(replay, monkeypatch):
    replay.state.load_week(1)

    def no_firestore():
        raise AssertionError("the in-memory sync touched Firestore")
    monkeypatch.setattr(fs, "client", no_firestore)
    return settings_from_env({**TEST_ENV, "OPENROUTER_BASE_URL": replay.base_url, "REPORTS_BUCKET": "raw-test"})


def top(week: dict, category: str) -> list[str]:
    return week["rankings"][category][:10]


def test_week1_then_week2_full_sync(replay, settings):
    store = InMemoryCatalogStore()
    first = run_sync(settings, "full", "s-w1", store=store)
    assert first.status == "succeeded", first.errors or first.error
    assert first.counts["seen"] == first.counts["added"] == len(W1) and first.deactivated == []
    assert set(store.models([], active_only=True)) == set(W1)
    assert len(store.categories()) == 12 and first.categories["added"]
    assert [e["model_id"] for e in store.ranking("programming")["latest_entries"]] == top(WEEK1, "programming")
    seeded = store.routing()
    assert sorted(first.routing_seeded) == sorted(seeded)
    assert seeded["marketing/seo"]["primary_model"] == WEEK1["rankings"]["marketing/seo"][0]
    assert set(routing_targets(store)) == {e["primary_model"] for e in seeded.values()}
    assert first.writes["models"] == len(W1) and first.writes["rankings"] == 2 * len(first.rankings)
    assert any(u.endswith("/s-w1/models.json") for u in first.raw_archive)
    assert all(u in store.objects for u in first.raw_archive)
    assert load_record("s-w1", store).model_dump() == first.model_dump()

    replay.state.load_week(2)
    second = run_sync(settings, "full", "s-w2", store=store)
    assert second.status == "succeeded", second.errors or second.error
    removed = set(W1) - set(W2)
    assert set(second.added) == set(W2) - set(W1) and len(second.added) == 2
    assert second.deactivated == sorted(removed) == ["mistralai/mistral-demo-small"]
    assert second.counts["added"] == 2 and second.counts["deactivated"] == 1 and second.reactivated == []

    def prices(m):
        return {k: Decimal(v) for k, v in m["pricing"].items() if Decimal(v) != 0}
    assert {p["model_id"] for p in second.price_changes} == \
        {i for i in set(W1) & set(W2) if prices(W1[i]) != prices(W2[i])}
    assert set(store.models([], active_only=True)) == set(W2)
    assert store.models(["active"])["mistralai/mistral-demo-small"]["active"] is False
    assert second.endpoints["unavailable"] == ["cohere/command-demo-r"]
    assert store.status_hashes().keys() >= set(W2) - {"openrouter/auto"}

    moves = second.rankings["programming"]["movements"]
    assert {e["model_id"] for e in moves["entered"]} == set(top(WEEK2, "programming")) - set(top(WEEK1, "programming"))
    assert [e["model_id"] for e in store.ranking("programming")["latest_entries"]] == top(WEEK2, "programming")
    snaps = store.ranking_snapshots("programming")
    assert [s["sync_run_id"] for s in snaps] == ["s-w1", "s-w2"]
    assert store.routing() == seeded and second.routing_seeded == []      # never edited by a sync
    assert model_details(second.added, store).keys() == set(second.added)


def test_an_unchanged_resync_writes_no_model_and_a_redelivery_runs_nothing(settings):
    store = InMemoryCatalogStore()
    run_sync(settings, "quick", "s-a", store=store)
    again = run_sync(settings, "quick", "s-b", store=store)
    assert again.counts["unchanged"] == len(W1) and again.writes.get("models", 0) == 0
    assert again.writes.get("model_status", 0) == 0
    duplicate = run_sync(settings, "quick", "s-b", store=store)
    assert duplicate.status == "duplicate" and "already succeeded" in duplicate.warnings[0]


def test_a_reader_during_the_run_gets_a_typed_running_record(settings):
    seen = []

    class Watched(InMemoryCatalogStore):
        def write_models(self, writes):
            seen.append(load_record("s-live", self))       # another process polling mid-sync
            return super().write_models(writes)

    store = Watched()
    run_sync(settings, "quick", "s-live", dry_run=False, weekly_run_id="w-1", store=store)
    assert seen[0].status == "running" and seen[0].weekly_run_id == "w-1" and seen[0].finished_at is None
    assert load_record("s-live", store).status == "succeeded"


def test_a_dry_run_writes_no_catalog_document(settings):
    store = InMemoryCatalogStore()
    rec = run_sync(settings, "full", "s-dry", dry_run=True, store=store)
    assert rec.status == "succeeded" and rec.counts["would_write_models"] == len(W1)
    assert store.models([]) == store.categories() == store.routing() == store.status_hashes() == {}
    assert store.ranking("programming") is None and store.catalog_meta() == {}
    assert load_record("s-dry", store).dry_run is True
