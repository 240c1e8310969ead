"""Operators read the serving history and roll back by hand, through the CLI and the api,
audited; rolling back restores exactly what was served."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import httpx
import pytest

from shared.pipeline import REPO_ROOT
from shared.serving import store as serving_store
from shared.serving.changes import Change, build_candidate, initial_version
from shared.serving.models import load_defaults

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


def cli(cloud, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(cloud.env)
    return subprocess.run([sys.executable, "-m", "shared.cli", "--stack-env", "/nonexistent/no-stack.env", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def two_versions():
    prompts, strategies = load_defaults()
    v1 = initial_version([{"id": m, "name": m} for m in ("a/one", "b/two")], [],
                         {"programming": {"primary_model": "a/one", "fallbacks": ["b/two"]}}, prompts, strategies,
                         "sync:s1", NOW)
    change = Change(kind="routing_primary", target="programming", before={"primary": "a/one", "fallbacks": ["b/two"]},
                    after={"primary": "b/two", "fallbacks": ["a/one"]})
    store = serving_store.repository()
    assert store.promote(v1) == "promoted"
    assert store.promote(build_candidate(v1, [change], "operator:ana", "approved", NOW)) == "promoted"
    return v1


def test_history_show_and_an_audited_rollback(cloud):
    v1 = two_versions()
    p = cli(cloud, "serving", "history")
    assert p.returncode == 0 and "* v2 (parent 1)" in p.stdout and "current version: 2" in p.stdout
    shown = json.loads(cli(cloud, "serving", "show", "1").stdout)
    assert shown["routing"]["programming"]["primary"] == "a/one"
    p = cli(cloud, "serving", "rollback", "--to", "1", "--reason", "regressed on programming", "--by", "ana")
    assert p.returncode == 0 and "moved from version 2 to 1 by ana" in p.stdout
    assert serving_store.current(serving_store.repository()).content() == v1.content()   # exactly as before
    history = httpx.get(cloud.function_url("api") + "/serving/history", timeout=30).json()
    assert history["current"] == 1 and history["events"][0]["by"] == "operator:ana"
    assert history["events"][0]["reason"] == "regressed on programming"
    r = httpx.post(cloud.function_url("api") + "/serving/rollback", json={"to": 2, "reason": "fixed", "by": "bo"},
                   timeout=30)
    assert r.status_code == 200 and r.json() == {"from": 1, "to": 2, "by": "bo", "reason": "fixed"}
    r = httpx.post(cloud.function_url("api") + "/serving/rollback", json={"to": 9, "reason": "nope", "by": "bo"},
                   timeout=30)
    assert r.status_code == 404
    assert httpx.get(cloud.function_url("api") + "/serving/show", timeout=30).json()["number"] == 2
    assert cli(cloud, "serving", "rollback", "--to", "7", "--reason", "none", "--by", "x").returncode == 1


def test_gated_changes_are_listed_shown_and_decided_once_through_the_cli_and_the_api(cloud):
    from concurrent.futures import ThreadPoolExecutor

    from shared.planning import plans

    route = Change(kind="routing_primary", target="programming", before={"primary": "a/one", "fallbacks": []},
                   after={"primary": "b/two", "fallbacks": ["a/one"]}, risk="MEDIUM", decision="gated")
    price = Change(kind="pricing_update", target="b/two", before={"prompt": "1"}, after={"prompt": "2"},
                   risk="MEDIUM", decision="gated")
    plans.repository().open_reviews([plans.review_item(c, "run-9", NOW) for c in (route, price)])
    p = cli(cloud, "changes", "list", "--status", "pending")
    assert p.returncode == 0 and route.id in p.stdout and price.id in p.stdout and "2 review item(s)" in p.stdout
    assert json.loads(cli(cloud, "changes", "show", route.id).stdout)["change"]["after"]["primary"] == "b/two"
    p = cli(cloud, "changes", "approve", route.id, "--by", "ana", "--reason", "leader for three weeks")
    assert p.returncode == 0 and "approved by ana" in p.stdout
    p = cli(cloud, "changes", "reject", route.id, "--by", "bo", "--reason", "too late")
    assert p.returncode == 1 and "was approved already (by ana)" in p.stderr

    def approve(who: str) -> int:
        return httpx.post(cloud.function_url("api") + "/changes/approve", timeout=30,
                          json={"id": price.id, "by": who, "reason": "cheaper"}).status_code
    with ThreadPoolExecutor(max_workers=5) as pool:
        codes = sorted(pool.map(approve, [f"op{i}" for i in range(5)]))
    assert codes == [200, 409, 409, 409, 409]
    items = httpx.get(cloud.function_url("api") + "/changes", params={"status": "approved"}, timeout=30).json()
    assert {i["change_id"] for i in items["items"]} == {route.id, price.id}
    r = httpx.post(cloud.function_url("api") + "/changes/reject", json={"id": "nope", "by": "x", "reason": "nope"},
                   timeout=30)
    assert r.status_code == 404
