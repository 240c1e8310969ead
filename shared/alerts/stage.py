"""alerts function logic: a published report goes to every configured channel, each on its own.

For each channel the alert record (shared/alerts/records.py) is claimed first: a redelivered
message finds it sent (or failed, or skipped) and sends nothing twice. A claimed channel is tried
up to ALERT_MAX_ATTEMPTS times with full-jitter exponential backoff (a permanent error stops at
once), and the outcome is recorded; the channels go in parallel. A channel that fails never fails the stage nor keeps another
channel from going. The delivery is failed for a Pub/Sub retry only when the records themselves
cannot be written (nothing recorded, so nothing would stop a duplicate) or when another live
attempt holds a channel (RetryLater: the retry finds it done, or takes over a dead one's lease).
"""
from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import tenacity

from shared.alerts import channels as channels_mod
from shared.alerts import events, records
from shared.alerts.channels import Channel, ChannelError, Delivered
from shared.config import Settings, get_settings
from shared.log import get_logger, log_context
from shared.messages import ReportPublished
from shared.platform.events import EventMeta, RetryLater
from shared.redaction import redact

log = get_logger(__name__)
STAGE = "alerts"
REPORTS_PREFIX = "reports/"            # shared/report/layout.py PREFIX (not imported: cold start)
MAX_REPORT_BYTES = 16 * 1024 * 1024


def read_report(msg: ReportPublished, settings: Settings) -> tuple[bytes | None, str | None]:
    """(report JSON, None), or (None, why it cannot be read). Only the reports bucket's reports/
    are read: the URI comes in a message. A missing object is unreadable; a storage outage raises
    (the delivery is retried)."""
    from google.api_core.exceptions import NotFound

    from shared.platform import storage

    try:
        bucket, path = storage.split_uri(msg.json_uri)
    except ValueError as exc:
        return None, str(exc)
    if bucket != settings.reports_bucket or not path.startswith(REPORTS_PREFIX):
        return None, f"not a report of the reports bucket ({settings.reports_bucket}/{REPORTS_PREFIX})"
    try:
        data = storage.read_bytes(bucket, path)
    except NotFound:
        return None, "no such object"
    if len(data) > MAX_REPORT_BYTES:
        return None, f"{len(data)} bytes, more than the {MAX_REPORT_BYTES} read"
    return data, None


@dataclass
class Deps:
    settings: Settings = field(default_factory=get_settings)
    records: records.AlertRecords = field(default_factory=records.repository)
    channels: list[Channel] | None = None            # default: the ones the settings configure
    read: Callable[[ReportPublished, Settings], tuple[bytes | None, str | None]] = read_report
    sleep: Callable[[float], None] = tenacity.nap.sleep


def handle_report_published(msg: ReportPublished, meta: EventMeta) -> None:
    with log_context(run_id=msg.run.run_id, stage=STAGE):
        outcomes = send_alerts(msg)
        note_alerts_sent(msg.run.run_id, sum(1 for o in outcomes.values() if o == "sent"))


def note_alerts_sent(run_id: str, count: int) -> None:
    """The run's metrics record the alerts sent (the history's figure); a missing record (a
    report written before metrics existed) is logged, never an alerting failure."""
    from shared.report import metrics

    try:
        metrics.repository().set_alerts_sent(run_id, count)
    except Exception as exc:
        log.warning("alerts sent not recorded in the run metrics", error=f"{exc.__class__.__name__}: {exc}")


def send_alerts(msg: ReportPublished, deps: Deps | None = None) -> dict[str, str]:
    """Each configured channel's outcome: sent, skipped, failed, already, nothing to send, busy."""
    deps = deps or Deps()
    channels = deps.channels if deps.channels is not None else channels_mod.configured(deps.settings)
    if not channels:
        log.info("no alert channel configured: nothing sent")
        return {}
    raw, why = deps.read(msg, deps.settings)
    alert = events.derive(msg, raw, why)
    if alert.report_error:
        log.error("report JSON unusable: alerting SAFE=false from the message alone", error=alert.report_error)
    outcomes: dict[str, str] = {c.name: "nothing to send" for c in channels if not c.wants(alert)}
    wanted = [c for c in channels if c.wants(alert)]
    unrecorded: list[str] = []
    # in parallel: a channel that hangs and retries does not hold the others back
    with ThreadPoolExecutor(max_workers=max(1, len(wanted)), thread_name_prefix="alert") as pool:
        futures = {c.name: (c, pool.submit(contextvars.copy_context().run, deliver, c, alert, deps)) for c in wanted}
    for name, (channel, future) in futures.items():
        try:
            outcomes[name] = future.result()
        except Exception as exc:      # the records, not the channel: nothing stops a duplicate
            log.error("alert record could not be written", channel=name,
                      error=channel.scrub(f"{exc.__class__.__name__}: {exc}"))
            unrecorded.append(name)
    log.info("alerts done", outcomes=outcomes, events=alert.kinds(), safe_label=alert.safe_label)
    if unrecorded:
        raise RuntimeError(f"alert records of {', '.join(unrecorded)} could not be written: retried")
    busy = [name for name, outcome in outcomes.items() if outcome == "busy"]
    if busy:
        raise RetryLater(f"another attempt is sending {', '.join(busy)}")
    return outcomes


def deliver(channel: Channel, alert: events.Alert, deps: Deps) -> str:
    """Claim, send with retries, record. Returns the outcome; raises only when a record cannot be written."""
    run_id, name = alert.run_id, channel.name
    claim = deps.records.claim(run_id, name, {"week": alert.week, "title": alert.title, "events": alert.kinds(),
                                              "safe_label": alert.safe_label})
    if claim == "done":
        log.info("alert already handled for this run: not sent again", channel=name)
        return "already"
    if claim == "busy":
        log.warning("another attempt holds this alert", channel=name)
        return "busy"
    with deps.records.keep_alive(run_id, name):
        try:
            done = _send_with_retries(channel, alert, deps)
        except Exception as exc:
            error = channel.scrub(f"{exc}" if isinstance(exc, ChannelError) else f"{exc.__class__.__name__}: {exc}")
            permanent = isinstance(exc, ChannelError) and exc.permanent
            deps.records.finish(run_id, name, "failed", {"last_error": error[:2000], "permanent": permanent})
            log.error("alert channel failed; recorded, the other channels go on", channel=name, error=error,
                      permanent=permanent)
            return "failed"
    deps.records.finish(run_id, name, done.status, {"sent": done.sent, "last_error": None,
                                                   "sent_at": datetime.now(timezone.utc)})
    log.info("alert " + done.status, channel=name, **{k: v for k, v in done.sent.items() if k in ("action", "issue")})
    return done.status


def _send_with_retries(channel: Channel, alert: events.Alert, deps: Deps) -> Delivered:
    s = deps.settings
    progress: dict[str, Any] = {}

    def once() -> Delivered:
        try:
            done = channel.send(alert, progress)
        except Exception as exc:
            text = str(exc) if isinstance(exc, ChannelError) else f"{exc.__class__.__name__}: {exc}"
            deps.records.note_attempt(alert.run_id, channel.name, redact(channel.scrub(text))[:2000])
            raise
        deps.records.note_attempt(alert.run_id, channel.name, None)
        return done

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(s.alert_max_attempts),
        wait=tenacity.wait_random_exponential(multiplier=s.alert_backoff_base_s, max=s.alert_backoff_max_s),
        retry=tenacity.retry_if_exception(lambda e: not (isinstance(e, ChannelError) and e.permanent)),
        sleep=deps.sleep, reraise=True,
        before_sleep=lambda rs: log.warning(
            "alert channel failed; retrying", channel=channel.name, attempt=rs.attempt_number,
            wait_s=round(rs.next_action.sleep, 2) if rs.next_action else None,
            error=channel.scrub(str(rs.outcome.exception())) if rs.outcome else None))
    return retrying(once)
