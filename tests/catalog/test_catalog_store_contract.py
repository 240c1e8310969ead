"""One contract, two implementations: the catalog store in memory (unit tests) and in Firestore +
Cloud Storage (the emulators). A behaviour the fake gets wrong would make the sync's unit tests
lie, so both run the same tests."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from shared.catalog import store as catalog_store
from shared.catalog.sync import SyncRecord, load_record
from shared.platform import storage
from tests.conftest import BOTH_BACKENDS, either

NOW = datetime(2026, 5, 4, 3, 0, tzinfo=timezone.utc)
# keys Firestore would refuse or misread as document ids, and two that must not collide
HOSTILE = ["openai/gpt-4o", "a/b/c/", ".", "..", "__reserved__", "a%2Fb", "a/b", "ünï/cödé",
           "x/" + "long-" * 700]


@pytest.fixture(params=BOTH_BACKENDS)
def store(request):
    return either(request, catalog_store.InMemoryCatalogStore, catalog_store.FirestoreCatalogStore)


def raw_bucket(store) -> str:
    from shared.config import get_settings

    return "raw-test" if isinstance(store, catalog_store.InMemoryCatalogStore) else get_settings().require_raw_bucket()


def read_object(store, uri: str) -> bytes:
    if isinstance(store, catalog_store.InMemoryCatalogStore):
        return store.objects[uri]
    return storage.read_bytes(*storage.split_uri(uri))


def model(mid: str, **extra) -> dict:
    return {"id": mid, "name": mid.upper(), "active": True, "content_hash": "h1", "context_length": 8192,
            "pricing": {"prompt": "0.000001", "completion": "0.000002"}, "canonical_slug": f"{mid}-2026",
            "capabilities": {"tools": True}, "first_seen_at": NOW, **extra}


def test_models_written_read_projected_and_rewritten_idempotently(store):
    docs = [(m, model(m), "set") for m in ("openai/a", "anthropic/b")]
    assert store.write_models(docs) == 2
    assert store.write_models(docs) == 2                  # the same set again changes nothing
    got = store.models(["content_hash", "pricing"])
    assert got == {m: {"id": m, "content_hash": "h1", "pricing": model(m)["pricing"]}
                   for m in ("openai/a", "anthropic/b")}
    assert store.models_by_id(["openai/a", "absent/x"], ["name", "context_length"]) == \
        {"openai/a": {"id": "openai/a", "name": "OPENAI/A", "context_length": 8192}}
    assert store.models_by_id([], ["name"]) == {}
    assert store.models(["first_seen_at"])["openai/a"]["first_seen_at"] == NOW


def test_update_replaces_top_level_fields_whole_and_deactivation_leaves_the_active_set(store):
    store.write_models([(m, model(m), "set") for m in ("openai/a", "anthropic/b", "google/c")])
    later = NOW + timedelta(days=7)
    assert store.write_models([
        ("openai/a", {"pricing": {"prompt": "0.000003"}, "updated_at": later}, "update"),
        ("google/c", {"active": False, "inactive_since": later}, "update"),
    ]) == 2
    assert set(store.models(["canonical_slug", "capabilities"], active_only=True)) == {"openai/a", "anthropic/b"}
    assert store.models(["canonical_slug"], active_only=True)["anthropic/b"] == \
        {"id": "anthropic/b", "canonical_slug": "anthropic/b-2026"}
    every = store.models(["active", "pricing", "inactive_since", "name"])
    assert every["openai/a"]["pricing"] == {"prompt": "0.000003"}     # the completion key is gone
    assert every["google/c"] == {"id": "google/c", "active": False, "inactive_since": later,
                                 "pricing": model("google/c")["pricing"], "name": "GOOGLE/C"}
    store.write_models([("google/c", {"active": True, "inactive_since": None}, "update")])
    assert "google/c" in store.models([], active_only=True)


def test_model_for_a_hugging_face_repo(store):
    store.write_models([("meta/llama", model("meta/llama", hugging_face_id="meta-llama/Llama-3"), "set"),
                        ("openai/a", model("openai/a", hugging_face_id=None), "set")])
    assert store.model_id_for_hugging_face("meta-llama/Llama-3") == "meta/llama"
    assert catalog_store.model_id_for_hugging_face("meta-llama/Llama-3", store) == "meta/llama"
    assert store.model_id_for_hugging_face("nobody/none") is None


def test_categories_added_deactivated_and_reactivated(store):
    cats = [("programming", {"slug": "programming", "depth": 0, "active": True}, "set"),
            ("marketing/seo", {"slug": "marketing/seo", "parent": "marketing", "depth": 1, "active": True}, "set")]
    assert store.write_categories(cats) == 2
    store.write_categories([("marketing/seo", {"active": False, "inactive_since": NOW}, "update")])
    got = store.categories()
    assert set(got) == {"programming", "marketing/seo"}
    assert got["marketing/seo"] == {"slug": "marketing/seo", "parent": "marketing", "depth": 1,
                                    "active": False, "inactive_since": NOW}
    store.write_categories([("marketing/seo", {"active": True, "inactive_since": None}, "update")])
    assert store.categories()["marketing/seo"]["active"] is True


def snapshot(category: str, top: list[str], at: datetime) -> tuple[dict, dict]:
    entries = [{"rank": i + 1, "model_id": m, "tokens": None} for i, m in enumerate(top)]
    return ({"category": category, "entries": entries, "fetched_at": at},
            {"category": category, "latest_fetched_at": at, "latest_entries": entries,
             "movements": {"first_snapshot": False, "entered": []}})


def test_ranking_snapshots_are_append_only_and_ordered_by_id(store):
    assert store.ranking("marketing/seo") is None and store.ranking_snapshots("marketing/seo") == []
    order = ["2026-05-11T030000Z_s2", "2026-05-04T030000Z_s1", "2026-05-18T030000Z_s3"]
    for i, sid in enumerate(order):
        snap, latest = snapshot("marketing/seo", [f"m/{i}", "m/x"], NOW + timedelta(days=i))
        assert store.add_ranking_snapshot("marketing/seo", sid, snap, {**latest, "latest_snapshot_id": sid})
    snap, latest = snapshot("marketing/seo", ["rewritten/no"], NOW)
    assert store.add_ranking_snapshot("marketing/seo", order[0], snap, latest) is False
    snaps = store.ranking_snapshots("marketing/seo")
    assert [s["snapshot_id"] for s in snaps] == sorted(order)
    assert snaps[1]["entries"][0]["model_id"] == "m/0"              # untouched by the refused rewrite
    latest = store.ranking("marketing/seo")
    assert latest["latest_snapshot_id"] == order[-1] and latest["latest_entries"][0]["model_id"] == "m/2"
    assert store.ranking_snapshots("programming") == []


def test_latest_ranking_fields_replace_and_keep_the_rest(store):
    snap, latest = snapshot("programming", ["a/1"], NOW)
    store.add_ranking_snapshot("programming", "s1", snap, {**latest, "note": "kept"})
    snap, latest = snapshot("programming", ["b/2"], NOW)
    store.add_ranking_snapshot("programming", "s2", snap, {**latest, "movements": {"entered": [{"model_id": "b/2"}]}})
    got = store.ranking("programming")
    assert got["note"] == "kept" and got["movements"] == {"entered": [{"model_id": "b/2"}]}


def test_routing_is_seeded_once_and_read_as_targets(store):
    entry = {"primary_model": "openai/a", "fallbacks": ["anthropic/b"], "updated_at": NOW, "source": "seed:x"}
    assert store.seed_routing("marketing/seo", entry) is True
    assert store.seed_routing("marketing/seo", {**entry, "primary_model": "other/z"}) is False
    assert store.seed_routing("programming", entry) is True
    store.seed_routing("science", {**entry, "primary_model": None})
    routing = store.routing()
    assert routing["marketing/seo"] == {**entry, "category": "marketing/seo"}
    assert catalog_store.routing_targets(store) == {"openai/a": ["marketing/seo", "programming"]}


def test_status_hashes_follow_the_latest_write(store):
    assert store.status_hashes() == {}
    docs = [(m, {"model_id": m, "status_hash": f"h-{m}", "available": True, "checked_at": NOW}, "set")
            for m in ("openai/a", "cohere/r")]
    assert store.write_model_status(docs) == 2
    store.write_model_status([("cohere/r", {"model_id": "cohere/r", "status_hash": "h2", "available": False}, "set")])
    assert store.status_hashes() == {"openai/a": "h-openai/a", "cohere/r": "h2"}


def test_catalog_meta_updates_keep_other_fields(store):
    assert store.catalog_meta() == {}
    store.update_catalog_meta({"last_models_sync_at": NOW, "active_models": 3})
    store.update_catalog_meta({"active_models": 4, "last_sync_run_id": "s2"})
    assert store.catalog_meta() == {"last_models_sync_at": NOW, "active_models": 4, "last_sync_run_id": "s2"}


def test_raw_archive_is_kept_under_the_run_day_and_id(store):
    bucket = raw_bucket(store)
    uri = store.archive_raw(bucket, "s-archive", NOW, "models.json", b'{"data": []}')
    assert uri == f"gs://{bucket}/raw/openrouter/2026-05-04/s-archive/models.json"
    again = store.archive_raw(bucket, "s-archive", NOW, "models.json", json.dumps({"data": [1]}).encode())
    assert again == uri and json.loads(read_object(store, uri)) == {"data": [1]}


def record(sync_run_id: str, **extra) -> dict:
    return SyncRecord(sync_run_id=sync_run_id, mode="full", started_at=NOW, source="http://replay",
                      **extra).model_dump(mode="python")


def test_a_claimed_run_reads_as_running_then_is_saved_and_done(store):
    assert store.sync_run("s1") is None and load_record("s1", store) is None
    assert store.claim_sync_run("s1", record("s1", dry_run=True, weekly_run_id="w1")) == "claimed"
    running = load_record("s1", store)
    assert running.status == "running" and running.dry_run is True and running.weekly_run_id == "w1"
    assert store.sync_run("s1")["attempts"] == 1
    assert store.claim_sync_run("s1", record("s1")) == "busy"
    with store.keep_sync_run_alive("s1"):
        assert store.sync_run("s1")["status"] == "running"
    store.save_sync_run("s1", record("s1", status="succeeded", counts={"added": 3}))
    done = load_record("s1", store)
    assert done.status == "succeeded" and done.counts == {"added": 3} and done.started_at == NOW
    assert store.claim_sync_run("s1", record("s1")) == "done"


def test_a_half_written_record_is_a_valid_running_record(store):
    """What a claim left before the record was written whole (the fields the claim had then):
    a reader polling it must get a typed running record, not a validation error."""
    claim_only = {"sync_run_id": "s-half", "mode": "quick", "started_at": NOW, "source": "http://replay"}
    assert store.claim_sync_run("s-half", claim_only) == "claimed"
    rec = load_record("s-half", store)
    assert isinstance(rec, SyncRecord) and rec.status == "running" and rec.mode == "quick"
    assert rec.counts == {} and rec.finished_at is None and rec.added == []


def test_an_errored_run_is_claimed_again_and_a_dead_claim_taken_over(store):
    store.save_sync_run("s-err", record("s-err", status="errored", error="boom"))
    assert store.claim_sync_run("s-err", record("s-err")) == "claimed"
    assert store.sync_run("s-err")["status"] == "running"
    gone = datetime.now(timezone.utc) - timedelta(minutes=5)
    store.save_sync_run("s-dead", {**record("s-dead"), "claimed_at": gone, "attempts": 1})
    assert store.claim_sync_run("s-dead", record("s-dead")) == "claimed"
    assert store.sync_run("s-dead")["takeovers"] == 1 and store.sync_run("s-dead")["attempts"] == 2


def test_hostile_keys_round_trip_and_never_collide(store):
    store.write_models([(k, model(k, hugging_face_id=f"hf/{i}"), "set") for i, k in enumerate(HOSTILE)])
    assert set(store.models(["name"])) == set(HOSTILE)
    assert set(store.models_by_id(HOSTILE, ["name"])) == set(HOSTILE)
    assert store.model_id_for_hugging_face(f"hf/{len(HOSTILE) - 1}") == HOSTILE[-1]
    store.write_models([(k, {"active": False}, "update") for k in HOSTILE[:2]])
    assert set(store.models([], active_only=True)) == set(HOSTILE[2:])
    store.write_categories([(k, {"slug": k, "active": True}, "set") for k in HOSTILE])
    assert set(store.categories()) == set(HOSTILE)
    for k in HOSTILE:
        store.seed_routing(k, {"primary_model": k})
        snap, latest = snapshot(k, [k], NOW)
        assert store.add_ranking_snapshot(k, f"2026-05-04T030000Z_{k}", snap, latest)
        assert store.ranking(k)["latest_entries"][0]["model_id"] == k
        assert [s["snapshot_id"] for s in store.ranking_snapshots(k)] == [f"2026-05-04T030000Z_{k}"]
        assert store.claim_sync_run(k, record(k)) == "claimed" and load_record(k, store).sync_run_id == k
    assert set(store.routing()) == set(HOSTILE)
    store.write_model_status([(k, {"model_id": k, "status_hash": k}, "set") for k in HOSTILE])
    assert store.status_hashes() == {k: k for k in HOSTILE}


def test_the_newest_drift_check_is_the_one_that_finished_last(store):
    from datetime import datetime, timezone

    assert store.latest_drift_check() is None
    for check_id, day in (("d-old", 1), ("d-new", 3), ("d-mid", 2)):
        store.save_drift_check(check_id, {"check_id": check_id, "result": "clean",
                                          "finished_at": datetime(2026, 11, day, tzinfo=timezone.utc)})
    assert store.latest_drift_check()["check_id"] == "d-new"
