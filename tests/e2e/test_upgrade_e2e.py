"""The upgrade loop end to end through Pub/Sub on the demo data (week 1 seeds the catalog; week 2
gives technology a new ranking leader): LOW changes auto-applied and promoted, the routing change
gated; approved and applied (CLI and api) with a SIMULATED post-change benchmark; promoted, or,
when the simulator degrades the new primary, rolled back with the serving documents unchanged
byte for byte. Redelivered messages change nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from shared.cycle import runs
from shared.cycle.trigger import request_sync, request_weekly_run
from shared.messages import ApplyApproved, PostChangeMeasured, RunOptions
from shared.pipeline import REPO_ROOT, load_manifest
from shared.planning import plans
from shared.platform import firestore as fs
from shared.platform import message_log, pubsub
from shared.serving import store as serving_store
from tests.conftest import wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
NEW_LEADER = "anthropic/claude-demo-sonnet"


def cli(cloud, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(cloud.env)
    return subprocess.run([sys.executable, "-m", "shared.cli", "--stack-env", "/nonexistent/no-stack.env", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def api(cloud, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{cloud.function_url('api')}{path}", timeout=60, **kw)


def serving_documents() -> str:
    """Every serving document as stored in Firestore, serialized byte for byte."""
    db = fs.client()
    docs = {f"{c}/{s.id}": s.to_dict() for c in (serving_store.POINTER_COLLECTION, serving_store.VERSIONS)
            for s in db.collection(c).stream()}
    return json.dumps(docs, sort_keys=True, default=str)


def week_two(cloud) -> tuple[dict, dict]:
    """Week 1 seeds the catalog and serving version 1; the week-2 cycle plans and upgrades."""
    request_sync("full", requested_by="test")
    wait_until(lambda: serving_store.repository().current_number() == 1, 90, "serving version 1")
    cloud.replay_control("POST", "load", {"week": 2})
    out = request_weekly_run(RunOptions(demo=True), requested_by="test")
    run = wait_until(lambda: (r := runs.get_run(out["run_id"])) and r["status"] in ("completed", "failed") and r,
                     300, "the week-2 run")
    assert run["status"] == "completed", run["stages"]
    (item,) = [r for r in plans.repository().reviews("pending") if r["kind"] == "routing_primary"
               and r["target"] == "technology"]
    return run, item


def test_week_two_auto_applies_low_changes_gates_the_route_and_promotes_it_once_approved(cloud):
    run, item = week_two(cloud)
    upgrade = run["stages"]["upgrade"]["summary"]
    store = serving_store.repository()
    assert upgrade["result"] == "promoted" and upgrade["promoted_version"] == 2 and store.current_number() == 2
    assert upgrade["post_benchmark_needed"] is False and item["change_id"] in upgrade["waiting"]
    assert store.version(2).routing["technology"].primary == "openai/gpt-demo-5"       # gated: not applied
    assert item["change"]["after"]["primary"] == NEW_LEADER and item["risk"] == "MEDIUM"

    # the suite runs 4 cases per category here: one case is 25 points, so the new primary must be
    # reliably as good for a promotion to be deterministic
    httpx.post(f"{cloud.simulator.root_url}/_sim/quality",
               json={"model": NEW_LEADER, "quality": {"default": 1.0}}, timeout=5).raise_for_status()
    approved = cli(cloud, "changes", "approve", item["change_id"], "--by", "ana", "--reason", "leader for 2 weeks")
    assert approved.returncode == 0, approved.stderr
    r = api(cloud, "POST", "/changes/apply", json={"ids": [item["change_id"]], "by": "ana",
                                                   "reason": "apply now", "demo": True})
    assert r.status_code == 202, r.text
    upgrade_id = r.json()["upgrade_id"]
    outcome = wait_until(lambda: (o := api(cloud, "GET", f"/upgrades/status?id={upgrade_id}")).status_code == 200
                         and o.json()["result"] != "measuring" and o.json(), 300, "the measured candidate")
    assert outcome["result"] == "promoted" and outcome["promoted_version"] == 3, outcome["rollback"]["reason"]
    post = outcome["post_benchmark"]
    assert post["status"] == "complete" and post["simulated"] and post["phase"] == "post"
    assert set(post["models"]) == {NEW_LEADER}                         # the old primary came from the pre run
    assert outcome["pre_bench_id"] == f"{run['run_id']}.benchmark-pre"
    assert {c["route"] for c in outcome["post_change"]["comparisons"]} == {"technology"}
    v3 = store.version(3)
    assert v3.routing["technology"].primary == NEW_LEADER and v3.created_by == "operator:ana" and v3.parent == 2
    assert plans.repository().review(item["change_id"])["status"] == "applied"
    assert api(cloud, "POST", "/changes/apply", json={"ids": [item["change_id"]], "by": "ana",
                                                      "reason": "again"}).status_code == 409

    # every message of the loop delivered again, twice: nothing changes
    before, record = serving_documents(), store.upgrade(upgrade_id)
    topic = load_manifest().function("upgrade").trigger_topic
    again = [pubsub.publish(topic, msg) for _ in range(2) for msg in (
        ApplyApproved(upgrade_id=upgrade_id, change_ids=[item["change_id"]], by="ana", reason="apply now", demo=True),
        PostChangeMeasured(upgrade_id=upgrade_id, bench_id=post["bench_id"]))]
    wait_until(lambda: all(message_log.delivery(m) for m in again), 60, "the redeliveries handled")
    assert serving_documents() == before and store.upgrade(upgrade_id) == record


def test_a_degraded_new_primary_is_rolled_back_and_serving_is_byte_identical(cloud):
    run, item = week_two(cloud)
    # the simulator now answers badly as the new primary (the pre-change run measured the old one)
    httpx.post(f"{cloud.simulator.root_url}/_sim/quality",
               json={"model": NEW_LEADER, "quality": {"default": 0.1}}, timeout=5).raise_for_status()
    r = api(cloud, "POST", "/changes/approve", json={"id": item["change_id"], "by": "bo", "reason": "looks right"})
    assert r.status_code == 200, r.text
    before = serving_documents()
    applied = cli(cloud, "changes", "apply", item["change_id"], "--by", "bo", "--reason", "apply now", "--demo",
                  "--json", "--timeout", "300")
    assert applied.returncode == 1, applied.stderr                   # rolled back: documented exit 1
    outcome = json.loads(applied.stdout)
    assert serving_documents() == before and serving_store.repository().current_number() == 2
    rb = outcome["rollback"]
    assert outcome["result"] == "rolled back" and rb["kept_version"] == 2 and rb["candidate_version"] == 3
    assert rb["changes"] == [item["change_id"]] and "technology" in rb["reason"] and NEW_LEADER in rb["reason"]
    assert rb["figures"] and all(f["after_pass_rate"] < f["before_pass_rate"] for f in rb["figures"])
    assert f"upgrade {outcome['upgrade_id']}: rolled back" in applied.stderr     # progress goes to stderr
    review = plans.repository().review(item["change_id"])
    assert review["status"] == "rolled_back" and review["rolled_back_in"] == outcome["upgrade_id"]
    found = cli(cloud, "status", outcome["upgrade_id"], "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["kind"] == "upgrade"


def test_a_strategy_change_gets_a_real_ab_run_and_is_approvable_only_with_it(cloud):
    """The benchmark function runs the science route's model with its current strategy (chain of
    thought) and the proposed one (self-consistency, k=3) on the same cases; the paired verdict is
    attached to the review item; approval is refused before it and accepted after."""
    from shared.serving.ab import request_ab_tests
    from shared.serving.changes import Change

    request_sync("full", requested_by="test")
    version = wait_until(lambda: serving_store.current(serving_store.repository()), 90, "serving version 1")
    assert version.strategy_for("science").name == "chain_of_thought"
    change = Change(kind="strategy_change", target="science", before=version.strategies["science"].model_dump(),
                    after={"name": "self_consistency", "params": {"k": 3}}, decision="gated", risk="HIGH",
                    decision_rule="risk policy: HIGH")
    store = plans.repository()
    store.open_reviews([plans.review_item(change, "test-run", version.created_at)])
    early = cli(cloud, "changes", "approve", change.id, "--by", "ana", "--reason", "sounds good")
    assert early.returncode == 1 and "cannot be approved without an A/B result attached" in early.stderr
    topic = load_manifest().function("benchmark").trigger_topic
    assert request_ab_tests([change], version, store, lambda msg: pubsub.publish(topic, msg)) == [change.id]
    ab = wait_until(lambda: ((store.review(change.id) or {}).get("ab") or {}).get("status") == "complete"
                    and store.review(change.id)["ab"], 300, "the A/B result")
    primary = version.routing["science"].primary
    assert {c["route"] for c in ab["comparisons"]} == {"science"} and len(ab["comparisons"]) == 6
    assert ab["simulated"] and ab["verdict"] in ("no regression", "regression") and len(ab["scores"]) == 2
    assert all(label.startswith(f"{primary}#") for label in ab["scores"])
    assert all(c["current_pass_rate"] is not None and c["proposed_pass_rate"] is not None for c in ab["comparisons"])
    shown = json.loads(cli(cloud, "changes", "show", change.id, "--json").stdout)
    assert shown["ab"]["text"] == ab["text"]
    r = api(cloud, "POST", "/changes/approve", json={"id": change.id, "by": "ana", "reason": "A/B attached"})
    assert r.status_code == 200, r.text


def test_the_next_weekly_cycle_measures_an_approved_change_and_can_be_safe(cloud):
    """An approved routing change waits for the next weekly cycle: its upgrade stage stays open
    while the post-change benchmark runs, then promotes; with nothing else changed and every
    check passed, the run is SAFE (a demo: simulated models)."""
    first, item = week_two(cloud)
    httpx.post(f"{cloud.simulator.root_url}/_sim/quality",
               json={"model": NEW_LEADER, "quality": {"default": 1.0}}, timeout=5).raise_for_status()
    assert cli(cloud, "changes", "approve", item["change_id"], "--by", "ana", "--reason", "ok").returncode == 0
    from infra.demo import DEMO_SCAN_DATE
    from shared.cycle.trigger import request_research_scan
    from shared.research.store import repository as research_store

    scan = request_research_scan(as_of=DEMO_SCAN_DATE, requested_by="test")     # the digest needs a scan
    wait_until(lambda: (s := research_store().load_scan(scan["scan_id"])) and s.status != "running", 120, "the scan")
    out = request_weekly_run(RunOptions(demo=True), requested_by="test")        # the same week 2 data again
    run = wait_until(lambda: (r := runs.get_run(out["run_id"])) and r["status"] in ("completed", "failed") and r,
                     300, "the second run")
    assert run["status"] == "completed", run["stages"]
    plan = plans.repository().get(out["run_id"])
    assert {c.kind for c in plan.changes} <= {"routing_primary", "strategy_change"}     # the catalog is unchanged
    upgrade = run["stages"]["upgrade"]["summary"]
    assert upgrade["result"] == "promoted" and upgrade["measured"] == [item["change_id"]], upgrade
    assert upgrade["post_benchmark"]["bench_id"] == f"{out['run_id']}.benchmark-post"
    assert serving_store.repository().version(upgrade["promoted_version"]).routing["technology"].primary == NEW_LEADER
    assert run["safe"] is True and run["safe_label"] == "SAFE=true (DEMO: simulated models)", run["reasons"]
