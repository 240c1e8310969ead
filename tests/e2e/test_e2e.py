"""End to end on the local cloud: real Pub/Sub push into functions-framework processes."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from shared.cycle import runs
from shared.messages import CatalogSyncRequest, RunContext, RunOptions, WeeklyCycleRequest
from shared.platform import firestore as fs
from shared.platform import pubsub, storage
from tests.conftest import DEMO_DATA, wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]

WEEK1 = json.loads((DEMO_DATA / "week1.json").read_text())


def push(cloud, function: str, topic: str, body: bytes, message_id: str,
         publish_time: datetime | None = None) -> httpx.Response:
    """Deliver a message the way the Pub/Sub push subscription does (a redelivery repeats it)."""
    envelope = {"message": {"data": base64.b64encode(body).decode(), "messageId": message_id,
                            "publishTime": (publish_time or datetime.now(timezone.utc)).isoformat()
                            .replace("+00:00", "Z"), "attributes": {}},
                "subscription": f"projects/{cloud.project}/subscriptions/{function}-push"}
    return httpx.post(f"{cloud.function_url(function)}/projects/{cloud.project}/topics/{topic}",
                      json=envelope, timeout=120)


def scheduled_run_id() -> str:
    """The scheduler's payload carries no run id: its run is this ISO week's."""
    year, week, _ = datetime.now(timezone.utc).isocalendar()
    return f"weekly-{year}-W{week:02d}"


def wait_run(run_id: str, timeout_s: float = 60) -> dict:
    return wait_until(lambda: (r := runs.get_run(run_id)) and r.get("status") in ("completed", "failed") and r,
                      timeout_s, f"weekly run {run_id}")


def counter(doc: str, field: str) -> int:
    data = fs.client().collection("ops").document(doc).get().to_dict() or {}
    return int(data.get(field, 0))


def sync_runs_for(run_id: str) -> list[dict]:
    return [d for d in (s.to_dict() for s in fs.client().collection("sync_runs").stream())
            if d.get("weekly_run_id") == run_id]


def drain(subscription: str) -> list[dict]:
    from google.cloud import pubsub_v1

    sub = pubsub_v1.SubscriberClient()
    path = sub.subscription_path(os.environ["GOOGLE_CLOUD_PROJECT"], subscription)
    out = []
    while True:
        resp = sub.pull(request={"subscription": path, "max_messages": 50}, timeout=5)
        if not resp.received_messages:
            return out
        sub.acknowledge(request={"subscription": path, "ack_ids": [m.ack_id for m in resp.received_messages]})
        out += [json.loads(m.message.data) for m in resp.received_messages]


def test_weekly_cycle_through_pubsub_writes_the_report(cloud):
    drain("report-published-inspect")
    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest(full=True, dry_run=False, benchmarks=True))
    run_id = scheduled_run_id()
    run = wait_run(run_id)
    assert run["status"] == "completed" and run["safe"] is False
    stages = run["stages"]
    assert stages["catalog_sync"]["status"] == "succeeded" and stages["reporter"]["status"] == "succeeded"
    assert stages["upgrade"]["status"] == "succeeded"
    assert stages["upgrade"]["summary"]["result"] == "nothing to apply"   # version 1 is this week's catalog
    plan = stages["planner"]
    assert plan["status"] == "succeeded" and plan["summary"]["based_on_version"] == 1   # made from this sync
    assert plan["summary"]["plan_id"] == run_id
    assert stages["research_digest"]["status"] == "failed"  # no research scan ran this week
    bench = stages["benchmark"]
    assert bench["status"] == "succeeded" and bench["summary"]["simulated"] is True
    assert bench["summary"]["shards"] > 1  # fanned out through Pub/Sub and fanned in once
    routed = {d["primary_model"] for d in (s.to_dict() for s in fs.client().collection("routing").stream())}
    assert set(bench["summary"]["models"]) == routed
    bucket, md_path = storage.split_uri(run["report"]["markdown"])
    assert md_path == f"reports/{run['started_at']:%Y-%m-%d}/{run_id}/report.md" and bucket == cloud.bucket
    md = storage.read_bytes(bucket, md_path).decode()
    assert "`SAFE=false (simulated models)`" in md and "no change needed a post-change benchmark" in md
    assert "the benchmark ran against simulated models" in md      # never evidence outside a demo
    assert "## 4. Benchmark results" in md and "**SIMULATED**" in md and "Score (95% CI)" in md
    assert f"### Added models ({len(WEEK1['models'])})" in md
    report = json.loads(storage.read_bytes(*storage.split_uri(run["report"]["json"])))
    assert report["safe"] is False and report["summary"]["models_added"] == len(WEEK1["models"])
    assert report["simulated"] is True and report["demo"] is False
    assert run["safe_label"] == "SAFE=false (simulated models)" and run["simulated"] is True
    assert report["run_id"] == run_id
    published = wait_until(lambda: drain("report-published-inspect"), 20, "report-published message")
    assert [p["run"]["run_id"] for p in published] == [run_id] and published[0]["safe"] is False
    # the HTML page beside them, the index linking to it, the run's metrics for the charts
    html = storage.read_bytes(*storage.split_uri(run["report"]["html"])).decode()
    assert run["report"]["html"].endswith(f"/{run_id}/report.html") and html.count("<svg") >= 3
    assert "SAFE=false (simulated models)" in html and "<script" not in html
    index = storage.read_bytes(cloud.bucket, "reports/index.html").decode()
    assert f'href="{run["started_at"]:%Y-%m-%d}/{run_id}/report.html"' in index
    from shared.report import metrics

    stored = metrics.FirestoreRunMetrics().get(run_id)
    assert stored.safe_label == run["safe_label"] and stored.simulated is True
    assert {s.model for s in stored.benchmark_scores} == routed and stored.sync_duration_s is not None


def test_redelivered_messages_change_nothing_twice(cloud):
    body = WeeklyCycleRequest().model_dump_json().encode()
    assert push(cloud, "weekly_cycle", "weekly-cycle-requests", body, "dup-1").status_code == 200
    assert push(cloud, "weekly_cycle", "weekly-cycle-requests", body, "dup-1").status_code == 200
    # the scheduler's message published twice (a publisher retry: another message id) starts nothing
    assert push(cloud, "weekly_cycle", "weekly-cycle-requests", body, "dup-1-again").status_code == 200
    run_id = scheduled_run_id()
    run = wait_run(run_id)
    assert [r["run_id"] for r in (s.to_dict() for s in fs.client().collection("weekly_runs").stream())] == [run_id]
    assert len(sync_runs_for(run_id)) == 1
    # the catalog stage's message delivered again after the run finished: no second sync, no new report
    stage_msg = CatalogSyncRequest(mode="full", run=RunContext(
        run_id=run_id, options=RunOptions(), started_at=run["started_at"])).model_dump_json().encode()
    assert push(cloud, "catalog_sync", "catalog-sync-requests", stage_msg, "dup-2").status_code == 200
    time.sleep(1.0)
    again = runs.get_run(run_id)
    assert len(sync_runs_for(run_id)) == 1
    assert again["stages"]["catalog_sync"]["attempts"] == 1 and again["stages"]["reporter"]["attempts"] == 1
    assert again["stages"]["reporter"]["finished_at"] == run["stages"]["reporter"]["finished_at"]


def test_poison_messages_are_acknowledged_counted_and_not_retried(cloud):
    from google.cloud import pubsub_v1

    drain("pipeline-dead-letter-inspect")
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(cloud.project, "catalog-sync-requests")
    publisher.publish(topic, b"{not json").result(timeout=10)
    publisher.publish(topic, b'{"mode": "sideways"}').result(timeout=10)
    wait_until(lambda: counter("poison_messages", "catalog_sync") == 2, 20, "two poison messages counted")
    time.sleep(3)  # a retried message would be counted again
    assert counter("poison_messages", "catalog_sync") == 2
    assert drain("pipeline-dead-letter-inspect") == []
    assert list(fs.client().collection("sync_runs").stream()) == []
    log = cloud.log("catalog_sync")
    assert "poison message acknowledged and dropped" in log and "mode: Input should be" in log


def test_stale_event_is_dropped_with_a_log(cloud):
    old = datetime.now(timezone.utc) - timedelta(days=2)
    body = CatalogSyncRequest(mode="quick", request_id="stale-1").model_dump_json().encode()
    assert push(cloud, "catalog_sync", "catalog-sync-requests", body, "stale-1", old).status_code == 200
    assert counter("stale_events", "catalog_sync") == 1
    assert fs.client().collection("sync_runs").document("stale-1").get().exists is False
    assert "stale event dropped" in cloud.log("catalog_sync")


def test_failed_sync_still_ends_in_an_honest_report(cloud):
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models", "count": -1, "status": 503})
    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest())
    run = wait_run(scheduled_run_id())
    assert run["stages"]["catalog_sync"]["status"] == "failed"
    assert "model feed unavailable" in run["stages"]["catalog_sync"]["error"]
    md = storage.read_bytes(*storage.split_uri(run["report"]["markdown"])).decode()
    assert "`SAFE=false`" in md and "model feed unavailable, nothing changed" in md
    assert list(fs.client().collection("models").limit(1).stream()) == []
    # nothing to plan against and nothing to upgrade: both say so, and the run still ends
    assert "the catalog is empty" in run["stages"]["planner"]["error"]
    assert "the planner stage did not make one" in run["stages"]["upgrade"]["error"]


@pytest.mark.skipif(not shutil.which("gcloud"), reason="gcloud CLI not installed")
def test_gcloud_pubsub_publish_triggers_a_sync(cloud):
    env = {**os.environ, **cloud.env}
    proc = subprocess.run(["gcloud", "pubsub", "topics", "publish", "catalog-sync-requests",
                           f"--project={cloud.project}", '--message={"mode": "quick", "request_id": "gcloud-1"}'],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rec = wait_until(lambda: (d := fs.client().collection("sync_runs").document("gcloud-1").get().to_dict())
                     and d.get("status") not in (None, "running") and d, 30, "sync gcloud-1")
    assert rec["status"] == "succeeded" and rec["mode"] == "quick"
    assert rec["counts"]["added"] == len(WEEK1["models"])


def test_message_for_an_unknown_run_is_dropped_not_retried(cloud):
    from shared.messages import StageDone

    ctx = RunContext(run_id="no-such-run", options=RunOptions(), started_at=datetime.now(timezone.utc))
    body = StageDone(run=ctx, stage="catalog_sync", status="succeeded").model_dump_json().encode()
    r = push(cloud, "reporter", "upgrade-completed", body, "ghost-1")
    assert r.status_code == 200  # acknowledged: a retry could never succeed
    assert counter("poison_messages", "reporter") == 1
    assert "message for an unknown weekly run dropped" in cloud.log("reporter")


def test_research_scan_through_pubsub_and_the_weekly_digest(cloud):
    from shared.messages import ResearchScanRequest

    pubsub.publish("research-scan-requests", ResearchScanRequest(scan_id="e2e-scan", as_of="2026-11-22"))
    rec = wait_until(lambda: (d := fs.client().collection("research_scans").document("e2e-scan").get().to_dict())
                     and d.get("status") not in (None, "running") and d, 90, "research scan e2e-scan")
    assert rec["status"] == "succeeded" and rec["counts"]["new"] > 0
    assert storage.read_bytes(*storage.split_uri(rec["findings_uri"])).decode().startswith("# Research findings")
    # the same request delivered again does not scan twice
    body = ResearchScanRequest(scan_id="e2e-scan", as_of="2026-11-22").model_dump_json().encode()
    assert push(cloud, "research_scan", "research-scan-requests", body, "again-1").status_code == 200
    assert fs.client().collection("research_scans").document("e2e-scan").get().to_dict()["finished_at"] == rec["finished_at"]

    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest())
    run = wait_run(scheduled_run_id())
    digest = run["stages"]["research_digest"]
    assert digest["status"] == "succeeded" and digest["summary"]["scan_ids"] == ["e2e-scan"]
    assert digest["summary"]["findings"] == rec["counts"]["new"]
    md = storage.read_bytes(*storage.split_uri(run["report"]["markdown"])).decode()
    assert "## 5. Research highlights" in md and f"{rec['counts']['new']} new relevant findings" in md
    assert "research_digest: " not in "\n".join(run["reasons"])  # the research check passed


def test_weekly_digest_fails_honestly_without_a_scan(cloud):
    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest())
    run = wait_run(scheduled_run_id())
    assert run["stages"]["research_digest"]["status"] == "failed"
    assert any("no research scan finished" in r for r in run["reasons"])
