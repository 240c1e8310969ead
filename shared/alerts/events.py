"""Which alerts a published report produces: pure rules over the ReportPublished message and the
report JSON it points to (shared/report/weekly.py WeeklyReport), so they are tested without any
server.

Events: `safe_false` (the run is not SAFE: its failing checks and reasons), `critical_regression`
(a benchmarked model dropped by the critical level), `rollback` (the upgrade's candidate was
rolled back), `failed_stage` (a weekly-chain stage failed) and `report_unreadable` (the report
JSON could not be read or is not a report: the alert is built from the message alone and says
SAFE=false, since nothing in the report can be checked).
The report is outside input: it is validated field by field, never trusted for its shape.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.messages import ReportPublished

EventKind = Literal["safe_false", "critical_regression", "rollback", "failed_stage", "report_unreadable", "drift"]
FAILED_STAGE_STATUSES = ("failed",)
MAX_TEXT = 1000          # one reason, one detail: longer text is cut in an alert (the report keeps all)
MAX_ITEMS = 30           # reasons / events listed in one alert
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def clean(text: Any, limit: int = MAX_TEXT) -> str:
    """Report text as alert text: control characters out (no header or line injection), length capped."""
    out = _CONTROL.sub(" ", str(text if text is not None else ""))
    return out if len(out) <= limit else out[:limit - 1] + "…"


class AlertEvent(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: EventKind
    subject: str          # the check, model, stage or candidate it is about
    detail: str


class Alert(BaseModel):
    """What every channel renders: the run, its week, SAFE, the reasons, the events and links."""
    model_config = ConfigDict(frozen=True)
    run_id: str
    week: str                              # ISO week of the run's start: "2026-W48"
    safe: bool
    safe_label: str
    reasons: list[str]
    failing_checks: list[str]
    events: list[AlertEvent]
    markdown_uri: str
    json_uri: str
    report_error: str | None = None        # why the report JSON could not be used

    @property
    def title(self) -> str:
        """`[pipeline] 2026-W48 SAFE=false: benchmark, upgrade` (the GitHub issue's, the mail's subject)."""
        if self.safe:
            return f"{week_marker(self.week)} SAFE=true"
        what = ", ".join(self.failing_checks) or ("report unreadable" if self.report_error else "see reasons")
        return clean(f"{week_marker(self.week)} SAFE=false: {what}", 200)

    def kinds(self) -> list[str]:
        return sorted({e.kind for e in self.events})

    def links(self) -> dict[str, str]:
        """The report's objects: gs:// URIs and their Cloud Console pages."""
        out: dict[str, str] = {}
        for name, uri in (("markdown", self.markdown_uri), ("json", self.json_uri)):
            out[name] = uri
            if uri.startswith("gs://") and "/" in uri[5:]:
                out[f"{name}_console"] = "https://console.cloud.google.com/storage/browser/_details/" + uri[5:]
        return out


def week_marker(week: str) -> str:
    return f"[pipeline] {week}"


def iso_week(when: datetime) -> str:
    year, week, _ = when.astimezone(timezone.utc).isocalendar()
    return f"{year}-W{week:02d}"


# --- the report's fields the rules read (anything else in it is ignored) --------------------------
class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Check(_Loose):
    name: str
    passed: bool
    detail: str = ""


class _Stage(_Loose):
    stage: str
    status: str
    error: str | None = None


class _Report(_Loose):
    run_id: str
    safe: bool
    safe_label: str
    reasons: list[str]
    checks: list[_Check]
    stages: list[_Stage]
    benchmark: dict[str, Any] = {}
    upgrades: dict[str, Any] = {}
    drift: Any = {}                        # optional; an odd shape is no event, never an unreadable report


class ReportUnreadable(ValueError):
    """The report JSON is missing, not JSON, or not a weekly report of this run."""


def parse_report(raw: bytes, run_id: str) -> _Report:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportUnreadable(f"not JSON ({exc.__class__.__name__}: {clean(exc, 200)})") from None
    if not isinstance(data, dict):
        raise ReportUnreadable(f"a JSON {type(data).__name__}, not an object")
    try:
        report = _Report.model_validate(data)
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:5])
        raise ReportUnreadable(f"not a weekly report: {clean(why, 500)}") from None
    if report.run_id != run_id:
        raise ReportUnreadable(f"the report is run {clean(report.run_id, 100)!r}'s, not {run_id!r}'s")
    return report


def critical_regressions(benchmark: dict[str, Any]) -> list[AlertEvent]:
    models = benchmark.get("models") if isinstance(benchmark, dict) else None
    out = []
    for model, info in sorted((models or {}).items()) if isinstance(models, dict) else []:
        verdict = info.get("regression") if isinstance(info, dict) else None
        if isinstance(verdict, dict) and verdict.get("level") == "critical":
            out.append(AlertEvent(kind="critical_regression", subject=clean(model, 200),
                                  detail=clean(verdict.get("text") or "critical drop against the baseline")))
    return out


def rollback_event(upgrades: dict[str, Any]) -> AlertEvent | None:
    rollback = upgrades.get("rollback") if isinstance(upgrades, dict) else None
    if not rollback:
        return None
    rb = rollback if isinstance(rollback, dict) else {}
    kept, candidate = rb.get("kept_version"), rb.get("candidate_version")
    return AlertEvent(kind="rollback", subject=clean(f"candidate version {candidate}", 200),
                      detail=clean(f"rolled back; serving stays at version {kept}: {rb.get('reason') or 'it regressed'}"))


def derive(msg: ReportPublished, raw: bytes | None, read_error: str | None = None) -> Alert:
    """The alert of a published report. `raw` is the report JSON (None when it could not be read,
    `read_error` saying why). A report that cannot be used gives a SAFE=false alert from the
    message with a `report_unreadable` event: an unverifiable run is never reported safe."""
    base = {"run_id": msg.run.run_id, "week": iso_week(msg.run.started_at), "markdown_uri": msg.markdown_uri,
            "json_uri": msg.json_uri}
    try:
        if raw is None:
            raise ReportUnreadable(read_error or "not read")
        report = parse_report(raw, msg.run.run_id)
    except ReportUnreadable as exc:
        error = f"report JSON {msg.json_uri} unusable: {exc}"
        reasons = [clean(r) for r in msg.reasons[:MAX_ITEMS]]
        events = [AlertEvent(kind="report_unreadable", subject=clean(msg.json_uri, 300), detail=clean(error))]
        events.append(AlertEvent(kind="safe_false", subject="report", detail=clean(
            f"the report could not be checked; the message said {msg.safe_label}")))
        return Alert(**base, safe=False, safe_label=clean("SAFE=false (report unreadable)", 200),
                     reasons=[clean(error), *reasons], failing_checks=[], events=events, report_error=error)
    # both must say safe: a message and a report that disagree are not a safe run
    safe = report.safe and msg.safe
    failing = [c for c in report.checks if not c.passed]
    events: list[AlertEvent] = []
    if not safe:
        events += [AlertEvent(kind="safe_false", subject=clean(c.name, 100), detail=clean(c.detail))
                   for c in failing] or [AlertEvent(kind="safe_false", subject="run",
                                                    detail=clean(report.safe_label, 200))]
    events += critical_regressions(report.benchmark)
    if (rb := rollback_event(report.upgrades)) is not None:
        events.append(rb)
    if (dr := drift_event(report.drift)) is not None:
        events.append(dr)
    events += [AlertEvent(kind="failed_stage", subject=clean(s.stage, 100),
                          detail=clean(f"stage {s.status}" + (f": {s.error}" if s.error else "")))
               for s in report.stages if s.status in FAILED_STAGE_STATUSES]
    label = report.safe_label if safe == report.safe else msg.safe_label
    return Alert(**base, safe=safe, safe_label=clean(label, 200), reasons=[clean(r) for r in report.reasons[:MAX_ITEMS]],
                 failing_checks=[clean(c.name, 100) for c in failing], events=events[:MAX_ITEMS])


EVENT_NAMES = {"safe_false": "failing check", "critical_regression": "critical regression", "rollback": "rollback",
               "failed_stage": "failed stage", "report_unreadable": "report unreadable"}


def event_lines(alert: Alert) -> list[str]:
    """One line per event, in the order derived ("failing check benchmark: 1 of 3 models failed …")."""
    return [f"{EVENT_NAMES[e.kind]} {e.subject}: {e.detail}" for e in alert.events]


def drift_event(drift: dict[str, Any]) -> AlertEvent | None:
    """The newest drift check found drift (the report carries it; shared/catalog/drift.py)."""
    if not isinstance(drift, dict) or drift.get("result") != "drift":
        return None
    counts = drift.get("counts") if isinstance(drift.get("counts"), dict) else {}
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "findings"
    return AlertEvent(kind="drift", subject=clean(f"drift check {drift.get('check_id')}", 200),
                      detail=clean(f"stored catalog, serving or read API drifted: {kinds}"))
