"""Slack alerts: one incoming-webhook message (Block Kit) for a report with events (SAFE=false,
critical regressions, rollbacks, failed stages): a header, the SAFE label with the reasons, the
events, and a context line with links to the report.

The webhook URL is the secret (whoever has it can post): it is scrubbed from every error, and the
HTTP layer makes one attempt per try so it never logs the URL while retrying.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from shared.alerts.channels import ChannelError, Delivered, http_permanent, one_try, scrub
from shared.alerts.events import Alert, clean, event_lines
from shared.config import Settings
from shared.platform.http import HttpSource, SourceError

MAX_SECTION = 2900      # Block Kit: a section's text is at most 3,000 characters
MAX_HEADER = 150        # and a header's 150


def _esc(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters (links, mentions)."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def blocks(alert: Alert) -> dict[str, Any]:
    reasons = "\n".join(f"• {_esc(r)}" for r in alert.reasons) or "• (none given)"
    links = alert.links()
    context = " · ".join(f"<{links[k + '_console']}|report ({label})>" if k + "_console" in links else _esc(links[k])
                         for k, label in (("markdown", "Markdown"), ("json", "JSON")))
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(clean(alert.title), MAX_HEADER)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(
            f"*{_esc(alert.safe_label)}* · run `{_esc(alert.run_id)}` · {alert.week}\n{reasons}", MAX_SECTION)}},
    ]
    if alert.events:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(
            "*Events*\n" + "\n".join(f"• {_esc(line)}" for line in event_lines(alert)), MAX_SECTION)}})
    out.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": _cut(f"{context} · {_esc(alert.json_uri)}", MAX_SECTION)}]})
    return {"text": clean(f"{alert.title} (run {alert.run_id})", 300), "blocks": out}


class SlackChannel:
    name = "slack"

    def __init__(self, settings: Settings):
        if settings.slack_webhook_url is None:
            raise ValueError("Slack alerts need SLACK_WEBHOOK_URL")
        self._url = settings.slack_webhook_url.get_secret_value()
        parts = urlsplit(self._url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("SLACK_WEBHOOK_URL is not an http(s) URL")
        self._root = f"{parts.scheme}://{parts.netloc}"
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.settings = one_try(settings)

    def wants(self, alert: Alert) -> bool:
        return bool(alert.events)

    def scrub(self, text: str) -> str:
        return scrub(text, [self._url, self._path] if len(self._path) > 1 else [self._url])

    def send(self, alert: Alert, progress: dict[str, Any]) -> Delivered:
        payload = blocks(alert)
        try:
            with HttpSource(self._root, self.settings, name="slack", accept="text/plain, application/json",
                            max_response_bytes=64 * 1024) as http:
                http.post_json(self._path, payload)
        except SourceError as exc:
            raise ChannelError(self.scrub(str(exc)), http_permanent(exc.status)) from None
        return Delivered("sent", {"title": payload["text"], "events": alert.kinds(),
                                  "blocks": [b["type"] for b in payload["blocks"]]})
