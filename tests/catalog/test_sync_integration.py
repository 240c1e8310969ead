"""Catalog sync against the emulators (in-process run_sync; real HTTP to the replay server)."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from shared.catalog import store as catalog_store
from shared.catalog.sync import run_sync
from shared.config import settings_from_env
from shared.platform import firestore as fs
from shared.platform import storage
from tests.conftest import DEMO_DATA, fixture_path

pytestmark = pytest.mark.emulators

WEEK1 = json.loads((DEMO_DATA / "week1.json").read_text())
WEEK2 = json.loads((DEMO_DATA / "week2.json").read_text())


MODEL_FIELDS = ["active", "first_seen_at", "last_seen_at", "updated_at", "inactive_since", "reactivated_at",
                "content_hash", "pricing", "capabilities"]


def store() -> catalog_store.CatalogStore:
    return catalog_store.repository()


def models_collection() -> dict[str, dict]:
    return store().models(MODEL_FIELDS)


def model_status(model_id: str) -> dict:
    """Endpoint status documents have no reader but the sync's hashes: read the layout itself."""
    return fs.client().collection(catalog_store.MODEL_STATUS).document(fs.doc_id(model_id)).get().to_dict()


def with_env(**overrides: str):
    import os

    return settings_from_env({**os.environ, **overrides})


def test_full_sync_populates_catalog_categories_rankings_routing_and_records(cloud, settings):
    rec = run_sync(settings, "full", "t-full-1")
    assert rec.status == "succeeded", rec.errors or rec.error
    ids = {m["id"] for m in WEEK1["models"]}
    assert rec.counts["seen"] == len(ids) and rec.counts["added"] == len(ids)
    stored = models_collection()
    assert set(stored) == ids
    assert all(m["active"] and m["first_seen_at"] and m["content_hash"] for m in stored.values())
    auto = stored["openrouter/auto"]
    assert auto["capabilities"]["dynamic_pricing"] is True and auto["pricing"]["prompt"] == "-1"

    cats = store().categories()
    assert len(cats) == 12 and cats["marketing/seo"]["parent"] == "marketing"
    assert cats["marketing/seo"]["depth"] == 1 and cats["marketing"]["depth"] == 0

    prog = store().ranking("programming")
    assert [e["model_id"] for e in prog["latest_entries"]] == WEEK1["rankings"]["programming"][:10]
    snaps = store().ranking_snapshots("programming")
    assert len(snaps) == 1
    snap = snaps[0]
    assert snap["parser_version"] == 1 and "category=programming" in snap["source_url"]
    assert [e["rank"] for e in snap["entries"]] == list(range(1, 11))

    routing = store().routing()["marketing/seo"]
    seo = WEEK1["rankings"]["marketing/seo"]
    assert routing["primary_model"] == seo[0] and routing["fallbacks"] == seo[1:3]
    assert routing["source"].startswith("seed:rankings:")

    status = model_status("openai/gpt-demo-5")
    assert status["available"] is True and status["total_endpoints"] == len(WEEK1["endpoints"]["openai/gpt-demo-5"])
    assert "openrouter/auto" in rec.endpoints["routers_not_checked"]

    saved = store().sync_run("t-full-1")
    assert saved["status"] == "succeeded" and saved["counts"]["added"] == len(ids)
    assert saved["timings_s"].keys() >= {"sync_models", "sync_rankings", "sync_endpoints"}
    archived = [u for u in rec.raw_archive if u.endswith("/models.json")]
    assert archived and f"/{catalog_store.RAW_PREFIX}/" in archived[0]
    bucket, path = storage.split_uri(archived[0])
    assert len(json.loads(storage.read_bytes(bucket, path))["data"]) == len(ids)


def test_unchanged_resync_writes_no_model_document(cloud, settings):
    run_sync(settings, "full", "t-a")
    before = {k: v["updated_at"] for k, v in models_collection().items()}
    rec = run_sync(settings, "full", "t-b")
    assert rec.counts["unchanged"] == rec.counts["seen"] and rec.counts["updated"] == 0
    assert rec.writes.get("models", 0) == 0
    assert rec.writes.get("model_status", 0) == 0  # endpoint status unchanged too
    assert {k: v["updated_at"] for k, v in models_collection().items()} == before


def test_week2_changes_are_counted_exactly_and_routing_is_not_edited(cloud, settings):
    run_sync(settings, "full", "t-w1")
    routing_before = store().routing()
    cloud.replay_control("POST", "load", {"week": 2})
    rec = run_sync(settings, "full", "t-w2")
    w1 = {m["id"]: m for m in WEEK1["models"]}
    w2 = {m["id"]: m for m in WEEK2["models"]}

    def prices(m):
        return {k: Decimal(v) for k, v in m["pricing"].items() if Decimal(v) != 0}

    assert set(rec.added) == set(w2) - set(w1)
    assert set(rec.deactivated) == set(w1) - set(w2)
    expected_price = {i for i in set(w1) & set(w2) if prices(w1[i]) != prices(w2[i])}
    assert {p["model_id"] for p in rec.price_changes} == expected_price
    assert "anthropic/claude-demo-sonnet" not in expected_price  # the format-only change
    stored = models_collection()
    removed = (set(w1) - set(w2)).pop()
    assert stored[removed]["active"] is False and stored[removed]["inactive_since"] is not None
    assert rec.endpoints["unavailable"] == ["cohere/command-demo-r"]
    unavailable = model_status("cohere/command-demo-r")
    assert unavailable["available"] is False and stored["cohere/command-demo-r"]["active"] is True
    moves = rec.rankings["programming"]["movements"]
    assert {e["model_id"] for e in moves["entered"]} == \
        set(WEEK2["rankings"]["programming"][:10]) - set(WEEK1["rankings"]["programming"][:10])
    assert len(store().ranking_snapshots("programming")) == 2  # append-only
    assert store().routing() == routing_before


def test_returning_model_is_reactivated(cloud):
    settings = with_env(MASS_DEACTIVATION_MAX_SHARE="0.2")  # week 2 → 1 removes 2 of 17 models
    run_sync(settings, "quick", "t-r1")
    cloud.replay_control("POST", "load", {"week": 2})
    run_sync(settings, "quick", "t-r2")
    cloud.replay_control("POST", "load", {"week": 1})
    rec = run_sync(settings, "quick", "t-r3")
    removed = sorted({m["id"] for m in WEEK1["models"]} - {m["id"] for m in WEEK2["models"]})
    assert rec.reactivated == removed
    doc = models_collection()[removed[0]]
    assert doc["active"] is True and doc["inactive_since"] is None and doc["reactivated_at"]


@pytest.mark.parametrize("fault, reason", [
    ({"status": 200, "body": {"data": []}}, "listed no models"),
    ({"status": 200, "body": "<html><body>Bad gateway</body></html>", "content_type": "text/html"},
     "not valid JSON"),
    ({"truncate": True}, "not valid JSON"),
    ({"status": 200, "body": {"error": {"message": "rate limited"}}}, "no 'data' list"),
    ({"status": 500}, "failed after 3 attempts"),
])
def test_bad_feed_fails_the_run_and_changes_nothing(cloud, settings, fault, reason):
    run_sync(settings, "quick", "t-good")
    before = models_collection()
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models", "count": -1, **fault})
    rec = run_sync(settings, "quick", "t-bad")
    assert rec.status == "failed" and reason in rec.error
    assert models_collection() == before
    saved = store().sync_run("t-bad")
    assert saved["status"] == "failed" and reason in saved["error"]


def test_shrunken_feed_is_refused_by_the_mass_deactivation_guard(cloud, settings):
    run_sync(settings, "quick", "t-g1")
    before = models_collection()
    shrunk = {"data": WEEK1["models"][:12]}  # 4 of 16 gone: 25% > 10%
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models", "count": 1, "status": 200,
                                            "body": shrunk})
    rec = run_sync(settings, "quick", "t-g2")
    assert rec.status == "failed" and "MASS_DEACTIVATION_MAX_SHARE" in rec.error
    assert models_collection() == before
    # with the limit raised for one run the removal is applied
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models", "count": 1, "status": 200,
                                            "body": shrunk})
    rec = run_sync(with_env(MASS_DEACTIVATION_MAX_SHARE="0.5"), "quick", "t-g3")
    assert rec.status in ("succeeded", "partial") and len(rec.deactivated) == 4


def test_malformed_entry_is_rejected_alone(cloud, settings):
    bad = [{"id": "no-slash", "name": "x"}, {"id": "a/b", "name": "B", "pricing": {"prompt": "cheap"}}, 42]
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models", "count": 1, "status": 200,
                                            "body": {"data": WEEK1["models"] + bad}})
    rec = run_sync(settings, "quick", "t-rej")
    assert rec.counts["added"] == len(WEEK1["models"]) and rec.counts["rejected"] == 3
    reasons = {r.index: r.reason for r in rec.rejected}
    n = len(WEEK1["models"])
    assert "author/slug" in reasons[n] and "pricing.prompt" in reasons[n + 1] and "not an object" in reasons[n + 2]
    saved = store().sync_run("t-rej")
    assert len(saved["rejected"]) == 3


def test_transient_errors_are_retried_then_succeed(cloud, settings):
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models", "count": 2, "status": 503})
    rec = run_sync(settings, "quick", "t-retry")
    assert rec.status in ("succeeded", "partial")
    models_calls = [r for r in cloud.replay_requests() if r["path"] == "/api/v1/models"]
    assert len(models_calls) == 3


def test_paged_feed_is_followed(cloud, settings):
    cloud.replay_control("POST", "load", {"week": 1, "page_size": 5})
    rec = run_sync(settings, "quick", "t-paged")
    assert rec.counts["seen"] == len(WEEK1["models"])
    assert len([u for u in rec.raw_archive if "models-page-" in u]) == -(-len(WEEK1["models"]) // 5)


def test_token_volumes_with_key_and_key_never_recorded(cloud):
    secret = "sk-or-test-DO-NOT-LEAK-42"
    rec = run_sync(with_env(OPENROUTER_API_KEY=secret), "rankings", "t-tokens")
    entries = store().ranking("programming")["latest_entries"]
    slug_of = {m["id"]: m["canonical_slug"] for m in WEEK1["models"]}
    vol = WEEK1["token_volumes"]["programming"]
    assert [e["tokens"] for e in entries] == [vol.get(slug_of[e["model_id"]]) for e in entries]
    assert all(r["has_auth"] for r in cloud.replay_requests() if "rankings-daily" in r["path"])
    saved = json.dumps(store().sync_run("t-tokens"), default=str)
    assert secret not in saved and secret not in rec.model_dump_json()


def test_without_key_tokens_are_reported_missing_not_invented(cloud, settings):
    rec = run_sync(settings, "rankings", "t-notokens")
    entries = store().ranking("science")["latest_entries"]
    assert all(e["tokens"] is None for e in entries)
    assert "no OPENROUTER_API_KEY" in rec.rankings["science"]["tokens"]
    assert not any("rankings-daily" in r["path"] for r in cloud.replay_requests())


def test_one_failing_category_is_isolated(cloud, settings):
    run_sync(settings, "full", "t-iso-1")
    cloud.replay_control("POST", "load", {"week": 2})
    # the endpoints call of one model fails for good; everything else proceeds
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models/openai/gpt-demo-5/endpoints",
                                            "count": -1, "status": 500})
    rec = run_sync(settings, "full", "t-iso-2")
    assert rec.status == "partial"
    assert len(rec.errors) == 1 and "openai/gpt-demo-5" in rec.errors[0]
    assert rec.counts["added"] == 2 and rec.endpoints["fetched"] == rec.endpoints["checked"] - 1


def test_dry_run_writes_no_catalog_document(cloud, settings):
    rec = run_sync(settings, "full", "t-dry", dry_run=True)
    assert rec.status == "succeeded" and rec.counts["added"] == len(WEEK1["models"])
    assert store().models([]) == store().categories() == store().routing() == store().status_hashes() == {}
    assert store().ranking("programming") is None and store().catalog_meta() == {}
    assert store().sync_run("t-dry")["dry_run"] is True


def test_same_sync_run_id_runs_once(cloud, settings):
    first = run_sync(settings, "quick", "t-once")
    second = run_sync(settings, "quick", "t-once")
    assert first.status == "succeeded" and second.status == "duplicate"
    assert len([r for r in cloud.replay_requests() if r["path"] == "/api/v1/models"]) == 1


def test_real_snapshots_in_sequence_through_firestore(cloud):
    """The four recorded OpenRouter snapshots, synced in date order into the emulator."""
    files = [fixture_path("openrouter", f"models-{d}.json")
             for d in ("2025-12-26", "2026-01-28", "2026-02-27", "2026-05-01")]
    settings = with_env(MASS_DEACTIVATION_MAX_SHARE="0.2")
    previous = None
    for i, path in enumerate(files):
        data = json.loads(path.read_text())["data"]
        cloud.replay_control("POST", "load", {"models_file": str(path)})
        rec = run_sync(settings, "quick", f"t-real-{i}")
        ids = {m["id"] for m in data}
        assert rec.counts["rejected"] == 0 and rec.counts["seen"] == len(ids)
        if previous is not None:
            prev_ids = set(previous)
            assert set(rec.added) == ids - prev_ids
            assert set(rec.deactivated) == prev_ids - ids

            def p(m):
                return {k: Decimal(str(v)) for k, v in m["pricing"].items() if Decimal(str(v)) != 0}
            now = {m["id"]: m for m in data}
            changed = {i for i in ids & prev_ids if p(now[i]) != p(previous[i])}
            assert {c["model_id"] for c in rec.price_changes} == changed
        previous = {m["id"]: m for m in data}
    active = [d for d in models_collection().values() if d["active"]]
    assert len(active) == len(previous)


def test_writes_are_committed_in_batches_of_at_most_500(cloud, monkeypatch):
    db = fs.client()
    sizes: list[int] = []
    real_batch = db.batch

    def counting_batch():
        batch = real_batch()
        real_commit = batch.commit

        def commit(*a, **kw):
            sizes.append(len(batch._write_pbs))
            return real_commit(*a, **kw)
        batch.commit = commit
        return batch

    monkeypatch.setattr(db, "batch", counting_batch)
    col = db.collection("batch_probe")
    written = fs.commit_in_batches((col.document(f"d{i}"), {"i": i}, "set") for i in range(1201))
    assert written == 1201 and sizes == [500, 500, 201]
    assert len(list(col.select([]).stream())) == 1201
