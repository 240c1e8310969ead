"""The drift check (shared/catalog/drift.py): each finding kind from the pure comparisons, and the
runner against the in-memory repositories fed by a real sync of the demo data (replay server)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.catalog import drift
from shared.catalog.models import parse_models
from shared.catalog.store import InMemoryCatalogStore
from shared.catalog.sync import run_sync
from shared.config import settings_from_env
from shared.serving.store import InMemoryServingStore
from tests.conftest import TEST_ENV

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def _entry(model_id: str, prompt: str = "0.000001", context: int = 8192, params: list[str] | None = None) -> dict:
    return {"id": model_id, "name": model_id, "context_length": context,
            "pricing": {"prompt": prompt, "completion": "0.000002"},
            "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
            "supported_parameters": params or []}


def _stored(entries: list[dict]) -> dict[str, dict]:
    models, _ = parse_models(entries)
    return {m.id: {"id": m.id, "active": True, "pricing": dict(m.pricing), "context_length": m.context_length,
                   "capabilities": dict(m.capabilities)} for m in models}


def _feed(entries: list[dict]):
    return parse_models(entries)[0]


FEED = [_entry("a/one"), _entry("b/two"), _entry("c/three")]


def kinds(findings) -> list[tuple[str, str]]:
    return [(f.kind, f.what) for f in findings]


# --- openrouter_db --------------------------------------------------------------------------------------
def test_a_matching_feed_is_no_drift():
    assert drift.compare_feed(_feed(FEED), _stored(FEED)) == []


def test_missing_not_stored_and_stored_inactive():
    stored = _stored(FEED[:1] + FEED[2:])
    stored["c/three"]["active"] = False
    found = drift.compare_feed(_feed(FEED), stored)
    assert kinds(found) == [("missing_model", "b/two"), ("missing_model", "c/three")]
    assert found[0].found == "not stored" and "stored inactive" in found[1].found
    assert found[0].where == "models/b/two"


def test_extra_model_but_not_a_rejected_one_nor_an_inactive_one():
    stored = _stored(FEED + [_entry("d/gone"), _entry("e/malformed"), _entry("f/retired")])
    stored["f/retired"]["active"] = False
    found = drift.compare_feed(_feed(FEED), stored, rejected={"e/malformed"})
    assert kinds(found) == [("extra_model", "d/gone")]
    assert (found[0].expected, found[0].found) == ("not listed by OpenRouter", "stored active")


def test_price_mismatch_names_only_the_differing_keys():
    stored = _stored(FEED)
    stored["a/one"]["pricing"]["prompt"] = "0.5"
    found = drift.compare_feed(_feed(FEED), stored)
    assert kinds(found) == [("price_mismatch", "a/one")]
    assert found[0].expected == {"prompt": "0.000001"} and found[0].found == {"prompt": "0.5"}


def test_context_and_capability_mismatches():
    stored = _stored(FEED)
    stored["b/two"]["context_length"] = 4096
    stored["c/three"]["capabilities"]["tools"] = True
    found = drift.compare_feed(_feed(FEED), stored)
    assert kinds(found) == [("capability_mismatch", "c/three"), ("context_mismatch", "b/two")]
    assert found[0].expected == {"tools": False} and found[0].found == {"tools": True}
    assert (found[1].expected, found[1].found) == (8192, 4096)


# --- routing_rankings -----------------------------------------------------------------------------------
def _ranking(top: list[str], fetched: datetime = NOW - timedelta(days=1)) -> dict:
    return {"category": "x", "latest_snapshot_id": "snap-1", "latest_fetched_at": fetched,
            "latest_entries": [{"rank": i + 1, "model_id": m} for i, m in enumerate(top)]}


def _routing(routes, rankings, models=None, statuses=None, active=("programming",), top_n=10, max_age=8):
    models = models if models is not None else {"a/one": {"active": True}, "b/two": {"active": True}}
    return drift.compare_routing({c: (p, f"serving_versions/1/routing/{c}") for c, p in routes.items()}, rankings,
                                 models, statuses or {}, set(active), NOW, top_n, max_age)


def test_a_routed_top_model_is_no_drift():
    assert _routing({"programming": "a/one"}, {"programming": _ranking(["a/one", "b/two"])}) == []


def test_primary_not_in_top():
    found = _routing({"programming": "b/two"}, {"programming": _ranking(["a/one", "b/two"])}, top_n=1)
    assert kinds(found) == [("primary_not_in_top", "programming")]
    assert found[0].found == "b/two" and "top 1" in found[0].expected


def test_primary_inactive_is_the_one_finding_of_its_route():
    models = {"a/one": {"active": False, "inactive_since": "2026-05-01"}}
    found = _routing({"programming": "a/one"}, {"programming": _ranking(["b/two"])}, models=models)
    assert kinds(found) == [("primary_inactive", "programming")]      # not also "not in the top"
    found = _routing({"programming": "z/unknown"}, {"programming": _ranking(["a/one"])})
    assert kinds(found) == [("primary_inactive", "programming")] and found[0].found == "not in the catalog"


def test_primary_endpoints_down():
    statuses = {"a/one": {"available": False, "live_endpoints": 0, "total_endpoints": 3}}
    found = _routing({"programming": "a/one"}, {"programming": _ranking(["a/one"])}, statuses=statuses)
    assert kinds(found) == [("primary_endpoints_down", "programming")]
    assert found[0].found == "0 of 3 endpoints live"


def test_ranking_stale():
    found = _routing({"programming": "a/one"}, {"programming": _ranking(["a/one"], NOW - timedelta(days=9))})
    assert kinds(found) == [("ranking_stale", "programming")] and found[0].where == "rankings/programming"


def test_route_without_ranking_only_for_a_category_that_is_not_active():
    assert kinds(_routing({"legacy": "a/one"}, {})) == [("route_without_ranking", "legacy")]
    assert _routing({"programming": "a/one"}, {}) == []     # the validation query reports it


# --- validation_queries ---------------------------------------------------------------------------------
def test_stale_models_only_when_no_sync_saw_the_catalog_since_the_cutoff():
    cutoff = NOW - timedelta(days=7)
    candidates = {"a/one": {"id": "a/one", "last_seen_at": NOW - timedelta(days=20)}}
    assert drift.stale_models(candidates, NOW - timedelta(hours=6), cutoff) == []
    found = drift.stale_models(candidates, NOW - timedelta(days=8), cutoff)
    assert kinds(found) == [("stale_last_seen", "a/one")]
    assert kinds(drift.stale_models(candidates, None, cutoff)) == [("stale_last_seen", "a/one")]


def test_active_categories_without_ranking():
    categories = {"programming": {"active": True}, "legal": {"active": True}, "old": {"active": False}}
    found = drift.categories_without_ranking(categories, {"programming": _ranking(["a/one"])}, {"legal": "b/two"})
    assert kinds(found) == [("category_without_ranking", "legal")]
    assert found[0].found == "no ranking stored (routed to b/two)"


def test_api_db_names_what_the_read_api_answers_differently():
    db_routing = {"programming": {"primary": "a/one", "fallbacks": ["b/two"]}}
    found = drift.compare_api({"a/one", "b/two"}, db_routing, {"a/one", "x/ghost"},
                              {"programming": {"primary": "b/two", "fallbacks": []}, "legal": {"primary": "a/one"}},
                              "http://api")
    assert kinds(found) == [("api_missing_model", "b/two"), ("api_extra_model", "x/ghost"),
                            ("api_routing_mismatch", "legal"), ("api_routing_mismatch", "programming")]
    assert found[3].expected == db_routing["programming"] and found[0].where == "http://api/models"
    assert drift.compare_api({"a/one"}, db_routing, {"a/one"}, db_routing, "http://api") == []


def test_api_db_not_compared_is_named_never_a_pass():
    check = drift.CheckOutcome(status="not_available", detail="CATALOG_API_URL is not set")
    assert drift.outcome_of([], {"api_db": check}) == "clean"     # not run is not drift, and it is named
    assert drift.outcome_of([], {"api_db": check, "openrouter_db": drift.CheckOutcome(status="error")}) \
        == "incomplete"


# --- the runner against the in-memory repositories ------------------------------------------------------
@pytest.fixture
def synced(demo_replay):
    settings = settings_from_env({**TEST_ENV, "OPENROUTER_BASE_URL": demo_replay.base_url,
                                  "REPORTS_BUCKET": "b", "GOOGLE_CLOUD_PROJECT": "p"})
    catalog, serving = InMemoryCatalogStore(), InMemoryServingStore()
    demo_replay.state.load_week(1)
    demo_replay.state.faults.clear()
    assert run_sync(settings, "full", "sync-1", store=catalog).status in ("succeeded", "partial")
    return settings, catalog, serving


def check(settings, catalog, serving, check_id="drift-1"):
    return drift.run_drift_check(settings, check_id, catalog=catalog, serving=serving)


def test_runner_clean_catalog_is_no_drift_and_keeps_the_record(synced):
    rec = check(*synced)
    assert rec.result == "clean", rec.findings
    assert rec.findings == [] and rec.counts == {}
    assert {n: c.status for n, c in rec.checks.items()} == {
        "openrouter_db": "ran", "routing_rankings": "ran", "validation_queries": "ran", "api_db": "not_available"}
    assert rec.routing_source == "catalog routing table"
    stored = synced[1].drift_check("drift-1")
    assert stored["result"] == "clean" and stored["checks"]["api_db"]["status"] == "not_available"
    assert stored["checks"]["api_db"]["detail"] == "CATALOG_API_URL is not set: the read API was not compared"


def test_runner_reports_each_injected_kind_once(synced, demo_replay):
    settings, catalog, serving = synced
    models = catalog.collections["models"]
    priced = next(m for m in sorted(models) if models[m]["pricing"].get("prompt"))
    models[priced]["pricing"]["prompt"] = "123"
    routing = catalog.routing()
    category, entry = sorted(routing.items())[0]
    primary = entry["primary_model"]
    models[primary]["active"] = False                   # the feed lists it: missing; the route: inactive
    ranked_out = next(c for c in sorted(routing) if routing[c]["primary_model"] != primary)
    del catalog.collections["rankings"][ranked_out]     # an active, routed category without rankings
    routed_to_it = sorted(c for c, e in routing.items() if e["primary_model"] == primary)   # one per route
    rec = check(settings, catalog, serving)
    assert rec.result == "drift"
    assert sorted(kinds(rec.findings)) == sorted([("price_mismatch", priced), ("missing_model", primary),
                                                  *[("primary_inactive", c) for c in routed_to_it],
                                                  ("category_without_ranking", ranked_out)])
    assert category in routed_to_it and ranked_out not in routed_to_it
    assert rec.counts == {"price_mismatch": 1, "missing_model": 1, "primary_inactive": len(routed_to_it),
                          "category_without_ranking": 1}


def test_runner_feed_unavailable_is_incomplete_not_clean(synced, demo_replay):
    settings, catalog, serving = synced
    demo_replay.state.faults.append({"path_prefix": "/api/v1/models", "status": 503})
    try:
        rec = check(settings, catalog, serving)
    finally:
        demo_replay.state.faults.clear()
    assert rec.checks["openrouter_db"].status == "error" and "feed not compared" in rec.checks["openrouter_db"].detail
    assert rec.result == "incomplete"


def test_runner_reads_the_current_serving_version_first(synced):
    from shared.serving.bootstrap import ensure_version_one
    from shared.serving.models import Route

    settings, catalog, serving = synced
    v1 = ensure_version_one(catalog, serving, NOW, "test")
    category = sorted(v1.routing)[0]
    catalog.collections["models"]["retired/old"] = {"id": "retired/old", "active": False, "inactive_since": NOW}
    v2 = v1.model_copy(update={"number": 2, "parent": 1,
                               "routing": {**v1.routing, category: Route(primary="retired/old")}})
    assert serving.promote(v2) == "promoted"
    rec = check(settings, catalog, serving)
    assert rec.routing_source == "serving version 2"
    assert kinds(rec.findings) == [("primary_inactive", category)]
    assert rec.findings[0].where == f"serving_versions/2/routing/{category}"


def test_stale_query_in_memory_matches_the_firestore_semantics():
    store = InMemoryCatalogStore()
    store.write_models([("a/one", {"id": "a/one", "active": True, "last_seen_at": NOW - timedelta(days=9)}, "set"),
                        ("b/two", {"id": "b/two", "active": True, "last_seen_at": NOW}, "set"),
                        ("c/three", {"id": "c/three", "active": False, "last_seen_at": NOW - timedelta(days=9)}, "set"),
                        ("d/four", {"id": "d/four", "active": True}, "set")])
    assert list(store.stale_active_models(NOW - timedelta(days=7))) == ["a/one"]
