"""Operators inspect and replay what happened, through the CLI and the api, on the local cloud:
reports in the bucket (the emulator, never real GCS), dead letters, poison messages kept with
their message id and payload, and any record found by its id or by its message's id."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import httpx
import pytest

from shared.messages import BenchRequest
from shared.pipeline import REPO_ROOT
from tests.conftest import wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]


def cli(cloud, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(cloud.env)
    return subprocess.run([sys.executable, "-m", "shared.cli", "--stack-env", "/nonexistent/no-stack.env", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)


def api(cloud, path: str, **params) -> httpx.Response:
    return httpx.get(cloud.function_url("api") + path, params=params, timeout=30)


def test_poison_messages_are_kept_with_id_topic_reason_and_payload(cloud):
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(cloud.project, "catalog-sync-requests")
    message_id = publisher.publish(topic, b'{"mode": "sideways"}').result(timeout=10)
    kept = wait_until(lambda: [p for p in api(cloud, "/ops/poison").json()["recent"]
                               if p["message_id"] == message_id], 30, "the poison message kept")[0]
    assert kept["function"] == "catalog_sync" and kept["topic"] == "catalog-sync-requests"
    assert "mode: Input should be" in kept["reason"] and kept["payload"] == '{"mode": "sideways"}'
    assert api(cloud, "/ops/poison").json()["counts"]["poison_messages"]["catalog_sync"] >= 1
    p = cli(cloud, "ops", "poison")
    assert p.returncode == 0 and message_id in p.stdout and "catalog-sync-requests" in p.stdout
    log = next(json.loads(line) for line in cloud.log("catalog_sync").splitlines()
               if line.startswith("{") and "poison message" in line and message_id in line)
    assert log["severity"] == "ERROR" and log["message_id"] == message_id


def test_dead_letters_list_show_replay_purge(cloud):
    body = BenchRequest(bench_id="dl-bench-1", models=["sim/steady"], max_cases_per_category=1).model_dump(mode="json")
    assert cloud.dead_letter("benchmark", json.dumps(body).encode(), "9001").status_code == 200
    # the benchmark run was never created: its status says dead-lettered, not "not found (yet)"
    status = api(cloud, "/bench/status", id="dl-bench-1").json()
    assert status["status"] == "dead_lettered" and status["dead_letters"] == ["9001"]
    p = cli(cloud, "status", "dl-bench-1")
    assert p.returncode == 0 and "dead-lettered: message(s) 9001" in p.stdout
    listed = api(cloud, "/deadletters").json()["items"]
    assert [d["message_id"] for d in listed] == ["9001"] and listed[0]["topic"] == "benchmark-requests"
    shown = json.loads(cli(cloud, "deadletters", "show", "9001").stdout)
    assert shown["body"] == body and shown["function"] == "benchmark" and shown["delivery_attempts"] == "5"
    p = cli(cloud, "deadletters", "replay", "9001")
    assert p.returncode == 0 and "published again to benchmark-requests" in p.stdout, p.stderr
    done = wait_until(lambda: (r := api(cloud, "/bench/status", id="dl-bench-1").json()).get("status")
                      in ("complete", "incomplete", "failed", "budget_exhausted") and r, 120, "the replayed run")
    assert done["bench_id"] == "dl-bench-1"
    assert len(api(cloud, "/deadletters/show", id="9001").json()["replays"]) == 1
    assert cli(cloud, "deadletters", "purge").returncode == 2         # nothing named: refused
    p = cli(cloud, "deadletters", "purge", "9001")
    assert p.returncode == 0 and "purged 1" in p.stdout
    assert api(cloud, "/deadletters/show", id="9001").status_code == 404
    p = cli(cloud, "deadletters", "show", "9001")
    assert p.returncode == 1 and "no dead letter with message id" in p.stderr and "Traceback" not in p.stderr


def test_a_message_id_finds_the_record_it_created(cloud):
    r = httpx.post(cloud.function_url("api") + "/openrouter/sync", timeout=30)
    out = r.json()
    found = wait_until(lambda: (f := api(cloud, "/status", id=out["message_id"])).status_code == 200 and f.json(),
                       60, "the sync found by its message id")
    assert found["kind"] == "sync_run" and found["id"] == out["sync_run_id"]
    assert found["message"]["message_id"] == out["message_id"]
    p = cli(cloud, "status", out["message_id"], "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["record"]["sync_run_id"] == out["sync_run_id"]
    missing = api(cloud, "/status", id="nothing-here")
    assert missing.status_code == 404 and "no record, message or dead letter" in missing.json()["error"]


def test_reports_are_listed_and_shown_from_the_bucket(cloud):
    """Two runs on one day (a scheduled run, then a dry run): two folders, the first report
    untouched by the second; list shows both, show --week the newest and says so."""
    from shared.cycle.trigger import request_weekly_run
    from shared.messages import RunOptions
    from shared.platform import storage

    def weekly(**options) -> dict:
        out = request_weekly_run(RunOptions(benchmarks=False, **options), requested_by="test")
        return wait_until(lambda: (r := api(cloud, "/weekly/status", run_id=out["run_id"]).json()).get("status")
                          in ("completed", "failed") and r, 120, "the weekly run")

    run = weekly()
    md_uri = run["report"]["markdown"]
    first = storage.read_bytes(*storage.split_uri(md_uri))
    dry = weekly(dry_run=True)
    assert dry["run_id"] != run["run_id"]
    assert storage.split_uri(dry["report"]["markdown"])[1] == \
        f"reports/{dry['started_at'][:10]}/{dry['run_id']}/report.md"
    assert storage.read_bytes(*storage.split_uri(md_uri)) == first          # not overwritten
    latest = json.loads(storage.read_bytes(cloud.bucket, "reports/latest.json"))
    assert (latest["run_id"], latest["markdown"]) == (dry["run_id"], dry["report"]["markdown"])
    p = cli(cloud, "reports", "list")
    assert p.returncode == 0 and md_uri in p.stdout and dry["report"]["markdown"] in p.stdout
    assert f"{run['run_id']}  {run['safe_label']}" in p.stdout
    week = "{}-W{:02d}".format(*datetime.now(timezone.utc).isocalendar()[:2])
    listed = api(cloud, "/reports", week=week).json()["items"]
    assert [r["run_id"] for r in listed][:2] == [dry["run_id"], run["run_id"]]
    assert md_uri in [r["uri"] for r in listed]
    p = cli(cloud, "reports", "show", "--week", week)
    assert p.returncode == 0 and p.stdout.startswith("# Weekly improvement report")
    assert dry["report"]["markdown"] in p.stderr and "showing the newest, run " + dry["run_id"] in p.stderr
    p = cli(cloud, "reports", "show", run["run_id"])
    assert p.returncode == 0 and p.stdout.strip() == first.decode().strip() and md_uri in p.stderr
    shown = api(cloud, "/reports/show", name=run["run_id"], format="json").json()
    assert json.loads(shown["text"])["run_id"] == run["run_id"]
    bad = api(cloud, "/reports/show", name="../secrets")
    assert bad.status_code == 404 and "is not a report" in bad.json()["error"]
    assert api(cloud, "/reports", week="48").status_code == 400
