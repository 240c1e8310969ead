"""The drift check through the local cloud: a full sync asks for one (clean), then each injected
drift (a stored price edited, a model dropped from the feed, a route to an inactive model, a
category's rankings deleted) is reported exactly once by POST /drift/check → drift_check function."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import DEMO_DATA, wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
WEEK1 = json.loads((DEMO_DATA / "week1.json").read_text())


def _drift_record(check_id: str):
    from shared.catalog.drift import load_record

    return load_record(check_id)


def test_drift_check_reports_each_injected_drift_once(cloud, tmp_path):
    from shared.catalog.store import CATEGORIES, MODELS, RANKINGS, FirestoreCatalogStore
    from shared.catalog.sync import load_record
    from shared.cycle.trigger import request_sync
    from shared.platform import firestore as fs
    from shared.serving.models import Route
    from shared.serving.store import current, repository

    sync_id = request_sync("full")["sync_run_id"]
    wait_until(lambda: (r := load_record(sync_id)) and r.status in ("succeeded", "partial"), 120, "the full sync")
    after = wait_until(lambda: _drift_record(f"drift-after-{sync_id}"), 90, "the drift check after the sync")
    assert after["result"] == "clean", after["findings"]
    assert after["checks"]["api_db"]["status"] == "ran"      # catalog_api over HTTP against Firestore

    db, catalog = fs.client(), FirestoreCatalogStore()
    routing = catalog.routing()
    version = current(repository())
    assert version is not None
    routed = sorted(version.routing)
    inactive_route, unranked = routed[0], next(c for c in routed[1:]
                                               if version.routing[c].primary != version.routing[routed[0]].primary)
    primaries = {r.primary for r in version.routing.values()}
    ids = sorted(m["id"] for m in WEEK1["models"])
    dropped = next(m for m in ids if m not in primaries)
    edited = next(m for m in ids if m != dropped and m not in primaries)

    # 1. a stored price edited
    db.collection(MODELS).document(fs.doc_id(edited)).update({"pricing.prompt": "9.99"})
    # 2. the feed no longer lists a model
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"data": [m for m in WEEK1["models"] if m["id"] != dropped]}))
    cloud.replay_control("POST", "load", {"models_file": str(feed)})
    # 3. a route to an inactive model (a new serving version)
    db.collection(MODELS).document(fs.doc_id("retired/old-model")).set(
        {"id": "retired/old-model", "name": "Retired", "active": False})
    v2 = version.model_copy(update={"number": version.number + 1, "parent": version.number,
                                    "routing": {**version.routing, inactive_route: Route(primary="retired/old-model")}})
    assert repository().promote(v2) == "promoted"
    # 4. an active category's rankings deleted
    db.collection(RANKINGS).document(fs.doc_id(unranked)).delete()
    assert db.collection(CATEGORIES).document(fs.doc_id(unranked)).get().to_dict()["active"] is True
    assert routing    # the catalog table exists too; the serving version is what is checked

    r = httpx.post(cloud.function_url("api") + "/drift/check", timeout=30)
    assert r.status_code == 202, r.text
    status_url = r.json()["status_url"]

    def finished():
        got = httpx.get(cloud.function_url("api") + status_url, timeout=30)
        return got.status_code == 200 and got.json()
    rec = wait_until(finished, 90, status_url)
    found = sorted((f["kind"], f["what"]) for f in rec["findings"])
    assert found == sorted([("price_mismatch", edited), ("extra_model", dropped),
                            ("primary_inactive", inactive_route), ("category_without_ranking", unranked)])
    assert rec["result"] == "drift" and rec["routing_source"] == f"serving version {v2.number}"
    assert rec["checks"]["api_db"] == {"status": "ran", "findings": 0, "detail": rec["checks"]["api_db"]["detail"]}
    assert f"against serving version {v2.number}" in rec["checks"]["api_db"]["detail"]   # the API follows v2
    assert rec["counts"] == {"price_mismatch": 1, "extra_model": 1, "primary_inactive": 1,
                             "category_without_ranking": 1}
    assert rec["duration_s"] > 0
    assert "drift check" in cloud.log("drift_check")
