"""The alerts function in the local cloud: a report-published message on the emulator reaches
GitHub (the fake), Slack (a local webhook receiver) and e-mail (a local STARTTLS SMTP server),
is recorded in Firestore, and a second delivery of the same run's message sends nothing again."""
from __future__ import annotations

import json
import os

import pytest

from infra import local_stack
from infra.fake_github import FakeGitHub, FakeGitHubState
from infra.local_smtp import LocalSmtp
from infra.webhook_receiver import WebhookReceiver
from shared.alerts import records
from shared.messages import ReportPublished, RunContext, RunOptions
from shared.platform import pubsub, storage
from tests.alerts.helpers import STARTED, report
from tests.conftest import wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]

REPO = "acme/platform"
TOKEN = "ghp_" + "planted0e2e0github0" * 2
HOOK_SECRET = "planted-e2e-hook-" + "0a1b2c3d" * 3
SMTP_PASSWORD = "planted-e2e-smtp-" + "4e5f6a7b" * 3


def test_a_published_report_alerts_every_channel_once(cloud):
    github = FakeGitHub(FakeGitHubState(TOKEN, {REPO: {"README.md": "x\n"}})).start()
    hook = WebhookReceiver().start()
    smtp = LocalSmtp(user="alerts", password=SMTP_PASSWORD).start()
    env = {"ALERT_GITHUB": "true", "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url,
           "SLACK_WEBHOOK_URL": hook.url(f"/services/T/B/{HOOK_SECRET}"), "SMTP_HOST": smtp.host,
           "SMTP_PORT": str(smtp.port), "SMTP_USERNAME": "alerts", "SMTP_PASSWORD": SMTP_PASSWORD,
           "SMTP_CA_FILE": str(smtp.ca_file), "ALERT_EMAIL_FROM": "pipeline@example.test",
           "ALERT_EMAIL_TO": "ops@example.test", "ALERT_BACKOFF_BASE_S": "0.1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)          # the restarted instance takes its settings from this environment
    try:
        local_stack.kill_and_restart(cloud.state_dir, "alerts")
        run_id = "e2e-alerts-1"
        data = report(run_id)
        folder = f"reports/{STARTED:%Y-%m-%d}/{run_id}/"
        storage.write_bytes(cloud.bucket, folder + "report.json", json.dumps(data).encode(), "application/json")
        from shared.report import metrics

        metrics.record(data)                    # as the reporter does: the alerts count lands here
        hook.state.fail(1, 503)                 # the first Slack try fails: retried within the delivery
        msg = ReportPublished(run=RunContext(run_id=run_id, options=RunOptions(), started_at=STARTED),
                              markdown_uri=f"gs://{cloud.bucket}/{folder}report.md",
                              json_uri=f"gs://{cloud.bucket}/{folder}report.json", safe=False, safe_label="SAFE=false",
                              simulated=False, demo=False, reasons=data["reasons"])
        pubsub.publish("report-published", msg, run_id=run_id)
        repo = records.FirestoreAlertRecords()
        done = wait_until(lambda: all((repo.get(run_id, c) or {}).get("status") == "sent"
                                      for c in ("github", "slack", "email")), 60, "three alerts sent")
        assert done
        [issue] = github.state.issues(REPO)
        assert issue["title"] == "[pipeline] 2026-W48 SAFE=false: benchmark, upgrade"
        assert [r["answered"] for r in hook.state.received()] == [503, 200]
        assert repo.get(run_id, "slack")["attempts"] == 2
        assert len(smtp.messages) == 1 and "benchmark: 1 of 2 models failed" in smtp.messages[0].get_content()
        wait_until(lambda: metrics.repository().get(run_id).alerts_sent == 3, 30, "the run metrics' alerts count")

        pubsub.publish("report-published", msg, run_id=run_id)        # a duplicate of the run's message
        wait_until(lambda: cloud.log("alerts").count("alert already handled for this run") >= 3, 60,
                   "the duplicate to be handled")
        assert len(github.state.issues(REPO)) == 1 and github.state.issues(REPO)[0]["comments"] == []
        assert len(hook.state.received()) == 2 and len(smtp.messages) == 1
        log = cloud.log("alerts")
        for secret in (TOKEN, HOOK_SECRET, SMTP_PASSWORD):
            assert secret not in log
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        local_stack.kill_and_restart(cloud.state_dir, "alerts")      # back to no channel for the other tests
        github.stop()
        hook.stop()
        smtp.stop()
