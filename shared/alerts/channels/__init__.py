"""Alert channels: each one optional, configured by settings, and independent of the others.

A channel says whether an alert is for it (`wants`), sends it once (`send`, which the stage
retries with backoff) and says what went out. Its errors are ChannelError; `permanent` ones (a
4xx answer, refused credentials, a certificate that does not verify) are not retried. Every
error text is scrubbed of the channel's secrets before it is logged or recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shared.alerts.events import Alert
from shared.config import Settings
from shared.redaction import MARK, redact

# 4xx answers that a later try may not get (the HTTP layer's own retry statuses)
TRANSIENT_4XX = {408, 425, 429}


class ChannelError(RuntimeError):
    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Delivered:
    status: Literal["sent", "skipped"]
    sent: dict[str, Any] = field(default_factory=dict)     # what went out (recorded; no secret)


class Channel(Protocol):
    name: str

    def wants(self, alert: Alert) -> bool: ...

    def send(self, alert: Alert, progress: dict[str, Any]) -> Delivered:
        """One try. `progress` survives the retries of one delivery (what a failed try did already)."""

    def scrub(self, text: str) -> str: ...


def scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MARK)
    return redact(text)


def http_permanent(status: int | None) -> bool:
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_4XX


def one_try(settings: Settings) -> Settings:
    """The settings with one HTTP attempt: the stage's retry is the only one, so the record
    counts every attempt and no lower layer logs a URL that holds a secret."""
    return settings.model_copy(update={"http_max_attempts": 1})


def configured(settings: Settings) -> list[Channel]:
    """The channels the settings turn on, in a fixed order."""
    from shared.alerts.channels.email import EmailChannel
    from shared.alerts.channels.github import GitHubChannel
    from shared.alerts.channels.slack import SlackChannel

    out: list[Channel] = []
    if settings.alert_github:
        out.append(GitHubChannel(settings))
    if settings.slack_webhook_url:
        out.append(SlackChannel(settings))
    if settings.email_alerts:
        out.append(EmailChannel(settings))
    return out
