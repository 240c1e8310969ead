"""Fault injection through the local cloud: instances that die mid-stage, messages that die,
and triggers that come in bursts. Recovery times are printed (`pytest -s`), not asserted."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from infra import local_stack
from shared.cycle import runs
from shared.messages import CatalogSyncRequest, WeeklyCycleRequest
from shared.platform import firestore as fs
from shared.platform import pubsub, storage
from tests.conftest import wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]


def finished(run_id: str, timeout_s: float) -> dict:
    return wait_until(lambda: (r := runs.get_run(run_id)) and r.get("status") in ("completed", "failed") and r,
                      timeout_s, f"weekly run {run_id} to finish", interval_s=0.5)


def test_an_instance_killed_mid_stage_is_taken_over_and_the_run_completes(cloud):
    # every feed request is slowed so the sync is surely in progress when its instance dies
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/", "count": -1, "delay_s": 0.4})
    run_id = "fault-kill-catalog"
    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest(run_id=run_id, benchmarks=False, requested_by="test"))
    wait_until(lambda: runs.stage_state(run_id, "catalog_sync").get("status") == "running", 60,
               "catalog_sync to start", interval_s=0.1)
    time.sleep(1.0)
    killed_at = time.monotonic()
    local_stack.kill_and_restart(cloud.state_dir, "catalog_sync")
    cloud.replay_control("DELETE", "faults")
    run = finished(run_id, 400)
    recovered_s = time.monotonic() - killed_at
    stage = run["stages"]["catalog_sync"]
    print(f"\ncatalog_sync killed mid-stage: run {run['status']} {recovered_s:.0f} s after the kill; "
          f"attempts {stage['attempts']}, takeovers {stage.get('takeovers')}, stage duration {stage['duration_s']} s")
    assert run["status"] == "completed" and stage["status"] == "succeeded"
    assert stage.get("takeovers", 0) >= 1 and stage["attempts"] >= 2
    md = storage.read_bytes(*storage.split_uri(run["report"]["markdown"])).decode()
    assert "| catalog_sync | succeeded (attempts " in md and "taken over" in md


def seed_a_busy_research_week(findings: int) -> None:
    """A finished scan and many findings this week: the digest reads them all, which keeps the
    research_digest stage busy long enough to be killed in the middle of it."""
    from shared.research.store import ScanRecord, repository

    now = datetime.now(timezone.utc)
    store = repository()
    scan = ScanRecord(scan_id="busy-week", as_of=now.date(), window_start=now, window_end=now, config="test",
                      scorer="test", started_at=now)
    store.claim_scan(scan)
    store.finish_scan(scan.model_copy(update={"status": "succeeded", "finished_at": now}))
    store.save_findings([{"id": f"seed-{i}", "title": f"Seeded finding {i} " + "x" * 400,
                          "url": f"https://example.org/{i}", "impact": "low", "relevance": 0.1,
                          "first_seen_at": now} for i in range(findings)], {})


def test_a_research_digest_instance_killed_mid_stage_is_taken_over(cloud):
    seed_a_busy_research_week(6000)
    run_id = "fault-kill-digest"
    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest(run_id=run_id, benchmarks=False, requested_by="test"))
    wait_until(lambda: runs.stage_state(run_id, "research_digest").get("status") == "running", 120,
               "research_digest to start", interval_s=0.02)
    killed_at = time.monotonic()
    local_stack.kill_and_restart(cloud.state_dir, "research_digest")
    run = finished(run_id, 400)
    assert_taken_over(run, "research_digest", time.monotonic() - killed_at)
    assert run["stages"]["research_digest"]["summary"]["findings"] == 6000


def test_a_reporter_instance_killed_while_writing_the_report_is_taken_over(cloud):
    """The reporter hangs on a storage emulator that stopped answering (SIGSTOP), so it is surely
    past its claim and inside the stage when its instance dies."""
    run_id = "fault-kill-reporter"
    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest(run_id=run_id, benchmarks=False, requested_by="test"))
    # after catalog_sync nothing writes to the bucket until the reporter: 3 Pub/Sub hops later
    wait_until(lambda: runs.stage_state(run_id, "catalog_sync").get("status") == "succeeded", 120,
               "catalog_sync to finish", interval_s=0.02)
    local_stack.freeze(cloud.state_dir, "storage-emulator")
    try:
        wait_until(lambda: runs.stage_state(run_id, "reporter").get("status") == "running", 120,
                   "the reporter to start", interval_s=0.05)
        time.sleep(1.0)
        assert runs.get_run(run_id)["status"] == "running"   # stuck writing: the bucket does not answer
        killed_at = time.monotonic()
        local_stack.kill_and_restart(cloud.state_dir, "reporter",
                                     before_restart=lambda: local_stack.freeze(cloud.state_dir, "storage-emulator",
                                                                               frozen=False))
    finally:
        local_stack.freeze(cloud.state_dir, "storage-emulator", frozen=False)
    run = finished(run_id, 400)
    assert_taken_over(run, "reporter", time.monotonic() - killed_at)


def assert_taken_over(run: dict, stage_name: str, recovered_s: float) -> None:
    stage = run["stages"][stage_name]
    print(f"\n{stage_name} killed mid-stage: run {run['status']} {recovered_s:.0f} s after the kill; "
          f"attempts {stage['attempts']}, takeovers {stage.get('takeovers')}, stage duration {stage['duration_s']} s")
    assert run["status"] == "completed" and stage["status"] == "succeeded"
    assert stage.get("takeovers", 0) >= 1 and stage["attempts"] >= 2
    md = storage.read_bytes(*storage.split_uri(run["report"]["markdown"])).decode()
    # the reporter's own row is written while it runs
    shown = "writing this report" if stage_name == "reporter" else "succeeded"
    assert f"| {stage_name} | {shown} (attempts {stage['attempts']}, taken over " in md


def test_a_dead_lettered_stage_ends_the_run_failed_with_a_report(cloud):
    """The dead-letter consumer, fed the way Pub/Sub forwards a message after its last attempt."""
    run_id = "fault-dead-letter"
    ctx = runs.create_run(WeeklyCycleRequest(run_id=run_id, requested_by="test"), run_id, "m-1")
    body = CatalogSyncRequest(mode="full", run=ctx).model_dump_json().encode()
    r = cloud.dead_letter("catalog_sync", body, "dl-1")
    assert r.status_code == 200, r.text
    run = runs.get_run(run_id)
    assert run["status"] == "failed" and run["safe"] is False
    assert run["stages"]["catalog_sync"]["status"] == "failed"
    assert "dead-lettered after 5 delivery attempts" in run["stages"]["catalog_sync"]["error"]
    md = storage.read_bytes(*storage.split_uri(run["report"]["markdown"])).decode()
    assert "catalog_sync: stage failed: its message was dead-lettered after 5 delivery attempts" in md
    kept = fs.client().collection("dead_letters").document("dl-1").get().to_dict()
    assert kept["function"] == "catalog_sync" and kept["run_id"] == run_id and '"mode": "full"' in kept["payload"]


def test_a_stage_that_never_gets_its_lease_dead_letters_through_pubsub(cloud):
    """Every delivery fails (a live lease held elsewhere, forever): after max_delivery_attempts
    Pub/Sub dead-letters the message and the consumer ends the run, report written."""
    run_id = "fault-never-lease"
    ctx = runs.create_run(WeeklyCycleRequest(run_id=run_id, requested_by="test"), run_id, "m-2")
    forever = datetime.now(timezone.utc) + timedelta(days=1)
    runs.repository().update_stages(run_id, {"catalog_sync": {"status": "running", "claimed_at": forever}})
    started = time.monotonic()
    pubsub.publish("catalog-sync-requests", CatalogSyncRequest(mode="full", run=ctx))
    run = finished(run_id, 900)
    print(f"\nstage message dead-lettered and the run ended {time.monotonic() - started:.0f} s after publishing")
    assert run["status"] == "failed" and "dead-lettered" in run["stages"]["catalog_sync"]["error"]
    assert run["report"]["markdown"].startswith("gs://")


def test_concurrent_triggers_make_one_cycle(cloud):
    def trigger(_: int) -> httpx.Response:
        return httpx.post(f"{cloud.function_url('api')}/weekly/run", json={"benchmarks": False}, timeout=60)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(trigger, range(20)))
    assert all(r.status_code in (202, 409) for r in responses), [r.text for r in responses]
    published = [r.json()["run_id"] for r in responses if r.status_code == 202]
    for run_id in published:      # every published trigger reaches a record: running or rejected
        wait_until(lambda: runs.get_run(run_id), 60, f"record of {run_id}")
    records = [s.to_dict() for s in fs.client().collection("weekly_runs").stream()]
    started = [r for r in records if r["status"] != "rejected"]
    assert len(started) == 1, [(r["run_id"], r["status"]) for r in records]
    assert all(r["running_run_id"] == started[0]["run_id"] for r in records if r["status"] == "rejected")
    assert all(r.json()["run_id"] == started[0]["run_id"] for r in responses if r.status_code == 409)
    assert finished(started[0]["run_id"], 120)["status"] == "completed"


# The Pub/Sub emulator sometimes stops redelivering a subscription's messages after several
# pushes are refused while the instance restarts (3 shards in flight at the kill): 2 of 5 runs on
# this machine saw no push for 10 minutes, with the retry policy's 60 s maximum backoff. GCP
# redelivers; the emulator cannot be relied on here, so this test runs only when asked.
@pytest.mark.skipif(not os.environ.get("RUN_EMULATOR_FLAKY"), reason="Pub/Sub emulator may stop redelivering "
                    "after refused pushes; set RUN_EMULATOR_FLAKY=1 to run it")
def test_a_benchmark_instance_killed_mid_shard_is_taken_over_and_the_run_completes(cloud):
    """The benchmark's shards run on the instance that dies; their retries take them over."""
    run_id = "fault-kill-benchmark"
    pubsub.publish("weekly-cycle-requests", WeeklyCycleRequest(run_id=run_id, requested_by="test"))
    bench_id = f"{run_id}.benchmark-pre"
    wait_until(lambda: any((s or {}).get("status") == "running"
                           for s in ((runs_bench(bench_id) or {}).get("shards") or {}).values()),
               120, "a benchmark shard to start", interval_s=0.1)
    killed_at = time.monotonic()
    local_stack.kill_and_restart(cloud.state_dir, "benchmark")
    run = finished(run_id, 600)
    recovered_s = time.monotonic() - killed_at
    doc = runs_bench(bench_id)
    takeovers = sum((s or {}).get("takeovers", 0) for s in doc["shards"].values())
    print(f"\nbenchmark killed mid-shard: run {run['status']} {recovered_s:.0f} s after the kill; "
          f"{takeovers} shard takeover(s), {doc['shards_done']} of {doc['plan']['shard_count']} shards done")
    assert run["status"] == "completed" and run["stages"]["benchmark"]["status"] == "succeeded"
    assert doc["status"] == "complete" and doc["shards_done"] == doc["plan"]["shard_count"]
    assert takeovers >= 1


def runs_bench(bench_id: str) -> dict | None:
    from shared.bench.fanout import load_bench

    return load_bench(bench_id)
