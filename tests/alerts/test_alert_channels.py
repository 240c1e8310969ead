"""Each alert channel against a local server over real HTTP/SMTP (infra/fake_github.py,
infra/webhook_receiver.py, infra/local_smtp.py: never the real services), driven through the
stage (shared/alerts/stage.py) with in-memory alert records: what is sent, retries with backoff,
a permanent failure recorded without blocking the others, a redelivery sending nothing twice,
and no secret in any log or record."""
from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from infra.fake_github import FakeGitHub, FakeGitHubState
from infra.local_smtp import LocalSmtp
from infra.webhook_receiver import WebhookReceiver
from shared.alerts import records as records_mod
from shared.alerts.stage import Deps, send_alerts
from shared.config import settings_from_env
from shared.log import JsonFormatter
from shared.platform.events import RetryLater
from tests.alerts.helpers import BUCKET, message, raw, report
from tests.conftest import TEST_ENV

REPO = "acme/platform"
TOKEN = "ghp_" + "planted0github0token0" * 2
SLACK_SECRET = "planted-slack-hook-" + "a1b2c3d4" * 3
SMTP_PASSWORD = "planted-smtp-pw-" + "9f8e7d6c" * 3
SECRETS = (TOKEN, SLACK_SECRET, SMTP_PASSWORD)


@pytest.fixture(scope="module")
def servers():
    github = FakeGitHub(FakeGitHubState(TOKEN)).start()
    hook = WebhookReceiver().start()
    smtp = LocalSmtp(user="alerts", password=SMTP_PASSWORD).start()
    try:
        yield github, hook, smtp
    finally:
        github.stop()
        hook.stop()
        smtp.stop()


@pytest.fixture
def local(servers):
    github, hook, smtp = servers
    github.state.reset({REPO: {"README.md": "platform\n"}})
    hook.state.reset()
    smtp.messages.clear()
    smtp.envelopes.clear()
    smtp.fail_next.clear()
    return github, hook, smtp


def make_settings(servers, **extra: str):
    github, hook, smtp = servers
    return settings_from_env({
        **TEST_ENV, "REPORTS_BUCKET": BUCKET,
        "ALERT_GITHUB": "true", "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url,
        "SLACK_WEBHOOK_URL": hook.url(f"/services/T0/B0/{SLACK_SECRET}"),
        "SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port), "SMTP_USERNAME": "alerts", "SMTP_PASSWORD": SMTP_PASSWORD,
        "SMTP_CA_FILE": str(smtp.ca_file), "SMTP_TIMEOUT_S": "5",
        "ALERT_EMAIL_FROM": "pipeline@example.test", "ALERT_EMAIL_TO": "ops@example.test, lead@example.test",
        "ALERT_MAX_ATTEMPTS": "3", "ALERT_BACKOFF_BASE_S": "0.01", "ALERT_BACKOFF_MAX_S": "0.05", **extra})


class Reports:
    """The bucket's report objects, in memory (read as the stage reads them)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, data: Any) -> None:
        self.objects[data["paths"]["json"]] = raw(data)

    def read(self, msg, settings):
        body = self.objects.get(msg.json_uri)
        return (body, None) if body is not None else (None, "no such object")


@pytest.fixture
def deps(local):
    sleeps: list[float] = []
    d = Deps(settings=make_settings(local), records=records_mod.InMemoryAlertRecords(), read=Reports().read,
             sleep=sleeps.append)
    d.reports = d.read.__self__          # type: ignore[attr-defined]
    d.sleeps = sleeps                     # type: ignore[attr-defined]
    return d


def publish(deps, data: dict[str, Any], **extra: Any) -> dict[str, str]:
    deps.reports.put(data)
    return send_alerts(message(data, run_id=data["run_id"], **extra), deps)


@pytest.fixture
def logs():
    """Every log line of the test as the functions write them (JSON), to grep for secrets."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("httpx", "httpcore"):      # as shared.log.configure sets them in every function
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- what each channel sends ----------------------------------------------------------------------
def test_a_safe_false_report_goes_to_every_channel_with_title_reasons_and_links(deps, local, logs):
    github, hook, smtp = local
    data = report()
    assert publish(deps, data) == {"github": "sent", "slack": "sent", "email": "sent"}

    [issue] = github.state.issues(REPO)
    assert issue["title"] == "[pipeline] 2026-W48 SAFE=false: benchmark, upgrade"
    assert issue["labels"] == ["pipeline-safe-false"] and issue["state"] == "open"
    for text in ("benchmark: 1 of 2 models failed", "upgrade: the candidate was rolled back",
                 "critical regression a/one", "rollback candidate version 5", data["paths"]["json"],
                 "https://console.cloud.google.com/storage/browser/_details/alert-reports/reports/2026-11-29/"):
        assert text in issue["body"]

    [post] = hook.state.received()
    assert post["path"].endswith(SLACK_SECRET) and post["content_type"].startswith("application/json")
    blocks = post["json"]["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "[pipeline] 2026-W48 SAFE=false: benchmark, upgrade"}
    assert "*SAFE=false*" in blocks[1]["text"]["text"] and "• benchmark: 1 of 2 models failed" in blocks[1]["text"]["text"]
    assert "critical regression a/one" in blocks[2]["text"]["text"]
    assert "|report (Markdown)>" in blocks[3]["elements"][0]["text"]

    [mail] = smtp.messages
    assert smtp.envelopes[0]["tls"] and smtp.envelopes[0]["to"] == ["ops@example.test", "lead@example.test"]
    assert mail["Subject"] == "[pipeline] 2026-W48 SAFE=false: benchmark, upgrade (run weekly-2026-W48)"
    assert mail["From"] == "pipeline@example.test" and mail["Message-ID"] == "<alert.weekly-2026-W48@weekly-pipeline>"
    body = mail.get_content()
    assert "benchmark: 1 of 2 models failed" in body and data["paths"]["markdown"] in body
    assert "rollback candidate version 5: rolled back; serving stays at version 4" in body

    for channel in ("github", "slack", "email"):
        rec = deps.records.get("weekly-2026-W48", channel)
        assert (rec["status"], rec["attempts"], rec["last_error"]) == ("sent", 1, None), channel
        assert rec["week"] == "2026-W48" and rec["sent_at"]
    assert deps.records.get("weekly-2026-W48", "github")["sent"]["action"] == "opened"
    assert deps.records.get("weekly-2026-W48", "email")["sent"]["to"] == ["ops@example.test", "lead@example.test"]
    assert_no_secret(logs.getvalue(), json.dumps(deps.records.docs, default=str))


def test_one_issue_per_week_a_rerun_comments_and_a_safe_run_closes_it(deps, local):
    github, hook, smtp = local
    publish(deps, report("weekly-2026-W48"))
    assert publish(deps, report("manual-1")) == {"github": "sent", "slack": "sent", "email": "sent"}
    [issue] = github.state.issues(REPO)                           # no second issue for the week
    assert len(issue["comments"]) == 1 and "still not SAFE" in issue["comments"][0]
    assert "manual-1" in issue["comments"][0]
    # another week's failure is its own issue
    publish(deps, report("manual-2"), run=message(run_id="manual-2").run.model_copy(
        update={"started_at": message().run.started_at.replace(day=30)}))
    assert [i["title"][:19] for i in github.state.issues(REPO)] == ["[pipeline] 2026-W48", "[pipeline] 2026-W49"]
    # a SAFE run of W48 comments and closes W48's issue; Slack and e-mail have nothing to say
    assert publish(deps, report("manual-3", safe=True)) == {"github": "sent", "slack": "nothing to send",
                                                           "email": "nothing to send"}
    w48, w49 = github.state.issues(REPO)
    assert (w48["state"], w48["state_reason"], w49["state"]) == ("closed", "completed", "open")
    assert "`manual-3` of 2026-W48 is **SAFE=true**: closing" in w48["comments"][-1]
    assert deps.records.get("manual-3", "github")["sent"] == {
        "repository": REPO, "week": "2026-W48", "action": "closed", "issues": [1], "url": w48_url(github, 1)}
    # a SAFE run with no open issue for its week does nothing, recorded as skipped
    assert publish(deps, report("manual-4", safe=True))["github"] == "skipped"
    assert len(hook.state.received()) == 3 and len(smtp.messages) == 3


def w48_url(github: FakeGitHub, number: int) -> str:
    return f"{github.base_url}/{REPO}/issues/{number}"


# --- retries, failures, redeliveries --------------------------------------------------------------
def test_a_failing_channel_is_retried_with_backoff_then_succeeds(deps, local):
    github, hook, smtp = local
    hook.state.fail(2, 503)
    smtp.fail(1, 451)
    github.state.faults.append({"method": "POST", "path_prefix": f"/repos/{REPO}/issues", "status": 502, "count": 1})
    assert publish(deps, report()) == {"github": "sent", "slack": "sent", "email": "sent"}
    assert [r["answered"] for r in hook.state.received()] == [503, 503, 200]
    assert len(smtp.messages) == 1 and len(github.state.issues(REPO)) == 1
    slack = deps.records.get("weekly-2026-W48", "slack")
    assert (slack["status"], slack["attempts"], slack["last_error"]) == ("sent", 3, None)
    assert deps.records.get("weekly-2026-W48", "email")["attempts"] == 2
    assert deps.records.get("weekly-2026-W48", "github")["attempts"] == 2
    assert len(deps.sleeps) == 4 and all(0 <= s <= 0.05 for s in deps.sleeps)


def test_a_permanent_failure_is_recorded_and_blocks_no_other_channel(deps, local, logs):
    github, hook, smtp = local
    hook.state.fail(5, 404, f"no_service {SLACK_SECRET}")          # a revoked webhook: not retried
    deps.settings = make_settings(local, GITHUB_TOKEN="ghp_" + "wrong0token0planted0" * 2)
    smtp.fail(5, 451)                                               # transient, but every try
    outcome = publish(deps, report())
    assert outcome == {"github": "failed", "slack": "failed", "email": "failed"}
    slack = deps.records.get("weekly-2026-W48", "slack")
    assert (slack["status"], slack["attempts"], slack["permanent"]) == ("failed", 1, True)
    assert "HTTP 404" in slack["last_error"] and "[REDACTED]" in slack["last_error"]
    gh = deps.records.get("weekly-2026-W48", "github")
    assert (gh["status"], gh["attempts"], gh["permanent"]) == ("failed", 1, True) and "401" in gh["last_error"]
    mail = deps.records.get("weekly-2026-W48", "email")
    assert (mail["status"], mail["attempts"], mail["permanent"]) == ("failed", 3, False)
    assert "451" in mail["last_error"]
    # the failures are recorded: a redelivery does not send them again
    assert publish(deps, report()) == {"github": "already", "slack": "already", "email": "already"}
    assert len(hook.state.received()) == 1
    assert_no_secret(logs.getvalue(), json.dumps(deps.records.docs, default=str))
    assert '"alert channel failed; recorded, the other channels go on"' in logs.getvalue()


def test_one_channel_down_the_others_still_go(deps, local):
    github, hook, smtp = local
    deps.settings = make_settings(local, SLACK_WEBHOOK_URL="http://127.0.0.1:9/hook-nobody-listens")
    assert publish(deps, report()) == {"github": "sent", "slack": "failed", "email": "sent"}
    rec = deps.records.get("weekly-2026-W48", "slack")
    assert rec["attempts"] == 3 and "connection error" in rec["last_error"]


def test_a_redelivered_message_sends_nothing_twice(deps, local):
    github, hook, smtp = local
    data = report()
    assert publish(deps, data) == {"github": "sent", "slack": "sent", "email": "sent"}
    assert publish(deps, data) == {"github": "already", "slack": "already", "email": "already"}
    assert len(github.state.issues(REPO)) == 1 and github.state.issues(REPO)[0]["comments"] == []
    assert len(hook.state.received()) == 1 and len(smtp.messages) == 1


def test_a_channel_held_by_a_live_attempt_is_retried_later(deps, local):
    github, hook, smtp = local
    deps.records.claim("weekly-2026-W48", "slack", {})               # another instance is sending it
    with pytest.raises(RetryLater, match="slack"):
        publish(deps, report())
    assert len(hook.state.received()) == 0 and len(smtp.messages) == 1     # the others went


def test_an_unreadable_report_still_alerts_safe_false(deps, local, logs):
    github, hook, smtp = local
    msg = message(report(safe=True))
    assert send_alerts(msg, deps) == {"github": "sent", "slack": "sent", "email": "sent"}
    [issue] = github.state.issues(REPO)
    assert issue["title"] == "[pipeline] 2026-W48 SAFE=false: report unreadable"
    assert "no such object" in issue["body"]
    assert "report JSON unusable: alerting SAFE=false from the message alone" in logs.getvalue()


def test_no_channel_configured_sends_nothing(local):
    d = Deps(settings=settings_from_env({**TEST_ENV}), records=records_mod.InMemoryAlertRecords(),
             read=lambda m, s: pytest.fail("nothing to read for"))
    assert send_alerts(message(), d) == {}
