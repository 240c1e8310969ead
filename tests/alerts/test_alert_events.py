"""The pure alert rules (shared/alerts/events.py): which events a report produces, and a report
that cannot be used giving a SAFE=false alert from the message, never a crash."""
from __future__ import annotations

import pytest

from shared.alerts.events import derive, iso_week
from tests.alerts.helpers import STARTED, message, raw, report


def kinds(alert) -> list[tuple[str, str]]:
    return [(e.kind, e.subject) for e in alert.events]


def test_a_failing_report_gives_each_event_type():
    data = report()
    data["stages"][3] = {"stage": "planner", "status": "failed", "error": "RuntimeError: boom"}
    alert = derive(message(data), raw(data))
    assert not alert.safe and alert.week == "2026-W48" and alert.report_error is None
    assert alert.failing_checks == ["benchmark", "upgrade"]
    assert alert.title == "[pipeline] 2026-W48 SAFE=false: benchmark, upgrade"
    assert kinds(alert) == [("safe_false", "benchmark"), ("safe_false", "upgrade"),
                            ("critical_regression", "a/one"), ("rollback", "candidate version 5"),
                            ("failed_stage", "planner")]
    rollback = alert.events[3]
    assert "serving stays at version 4" in rollback.detail and "programming" in rollback.detail
    assert "RuntimeError: boom" in alert.events[4].detail
    assert alert.reasons == data["reasons"]
    assert alert.links()["json_console"].endswith("alert-reports/reports/2026-11-29/weekly-2026-W48/report.json")


def test_a_safe_report_gives_no_event():
    data = report(safe=True)
    alert = derive(message(data), raw(data))
    assert alert.safe and alert.events == [] and alert.title == "[pipeline] 2026-W48 SAFE=true"


@pytest.mark.parametrize("extra,expected", [
    # an alert-level drop is not critical; a critical one is, whatever the state says
    ({"benchmark": {"models": {"m/x": {"regression": {"level": "alert", "state": "warn", "text": "t"}}}}}, []),
    ({"benchmark": {"models": {"m/x": {"regression": {"level": "critical", "state": "regression", "text": "t"}}}}},
     [("critical_regression", "m/x")]),
    ({"upgrades": {"rollback": {"kept_version": 2}}}, [("rollback", "candidate version None")]),
    ({"stages": [{"stage": "benchmark", "status": "failed"}, {"stage": "upgrade", "status": "skipped"}]},
     [("failed_stage", "benchmark")]),
    # odd shapes in the optional sections are ignored, not a crash
    ({"benchmark": {"models": ["not", "a", "map"]}, "upgrades": {"rollback": "yes"}},
     [("rollback", "candidate version None")]),
    # the newest drift check found drift; a clean one, or a drift field of another shape, is no event
    ({"drift": {"result": "drift", "check_id": "d1", "counts": {"price_mismatch": 1}}}, [("drift", "drift check d1")]),
    ({"drift": {"result": "clean", "check_id": "d2"}}, []),
    ({"drift": ["drift"]}, []),
])
def test_each_event_rule_on_a_safe_report(extra, expected):
    data = {**report(safe=True), "benchmark": {}, "upgrades": {}, **extra}
    assert kinds(derive(message(data), raw(data))) == expected


def test_message_and_report_must_both_say_safe():
    data = report(safe=True)
    alert = derive(message(data, safe=False, safe_label="SAFE=false"), raw(data))
    assert not alert.safe and alert.safe_label == "SAFE=false" and kinds(alert) == [("safe_false", "run")]


@pytest.mark.parametrize("body,why", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (raw({"run_id": "weekly-2026-W48", "safe": "yes"}), "not a weekly report"),
    (raw(report(run_id="someone-else")), "run 'someone-else''s, not 'weekly-2026-W48''s"),
    (None, "no such object"),
])
def test_an_unusable_report_alerts_safe_false_from_the_message(body, why):
    msg = message(report(safe=True))           # even a message that says SAFE=true
    alert = derive(msg, body, "no such object" if body is None else None)
    assert not alert.safe and alert.safe_label == "SAFE=false (report unreadable)"
    assert why in alert.report_error and msg.json_uri in alert.report_error
    assert [e.kind for e in alert.events] == ["report_unreadable", "safe_false"]
    assert alert.title == "[pipeline] 2026-W48 SAFE=false: report unreadable"
    assert alert.reasons[0] == alert.report_error


def test_hostile_report_text_is_cut_and_has_no_line_breaks_in_the_title():
    data = report()
    data["checks"][1]["name"] = "bench\r\nBcc: victim@example.com"
    data["reasons"] = ["x" * 5000]
    alert = derive(message(data), raw(data))
    assert "\n" not in alert.title and "\r" not in alert.title
    assert len(alert.reasons[0]) == 1000 and alert.reasons[0].endswith("…")


def test_iso_week_is_utc():
    assert iso_week(STARTED) == "2026-W48"
    from datetime import datetime, timedelta, timezone
    late_sunday = datetime(2026, 11, 29, 23, 30, tzinfo=timezone(timedelta(hours=-5)))   # Monday in UTC
    assert iso_week(late_sunday) == "2026-W49"
