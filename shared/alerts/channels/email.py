"""E-mail alerts: one plain-text message to ALERT_EMAIL_TO over SMTP (stdlib smtplib) for a report
with events, with STARTTLS required (the certificate verified against the system's CAs, or
SMTP_CA_FILE) before any credential or content is sent. SMTP_STARTTLS=false is accepted only for
a loopback SMTP_HOST (shared/config.py). The Message-ID is derived from the run, so a receiver
can tell a duplicate from a new alert.
"""
from __future__ import annotations

import email.policy
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from shared.alerts.channels import ChannelError, Delivered, scrub
from shared.alerts.events import Alert, clean, event_lines
from shared.config import Settings


SMTP_POLICY = email.policy.SMTP.clone(max_line_length=998)


def render(alert: Alert, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    # no folding below RFC 5322's 998 characters (Python folds a long subject before its first
    # word, which some clients show with a leading space); the subject is cut at 250
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = clean(f"{alert.title} (run {alert.run_id})", 250)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<alert.{re.sub(r'[^A-Za-z0-9_.-]', '_', alert.run_id)[:100]}@weekly-pipeline>"
    lines = [f"{alert.safe_label}: weekly pipeline run {alert.run_id} ({alert.week}).", "", "Reasons:"]
    lines += [f"  - {r}" for r in alert.reasons] or ["  - (none given)"]
    if alert.events:
        lines += ["", "Events:"] + [f"  - {line}" for line in event_lines(alert)]
    lines += ["", "Report:"] + [f"  {name}: {uri}" for name, uri in alert.links().items()]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                        ssl.SSLCertVerificationError)):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


class EmailChannel:
    name = "email"

    def __init__(self, settings: Settings):
        if not settings.email_alerts or not settings.alert_email_from:
            raise ValueError("e-mail alerts need SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO")
        self.settings = settings
        self._password = settings.smtp_password.get_secret_value() if settings.smtp_password else None

    def wants(self, alert: Alert) -> bool:
        return bool(alert.events)

    def scrub(self, text: str) -> str:
        return scrub(text, [self._password] if self._password else [])

    def send(self, alert: Alert, progress: dict[str, Any]) -> Delivered:
        s = self.settings
        msg = render(alert, s.alert_email_from or "", s.alert_email_to)
        try:
            with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                smtp.ehlo()
                if s.smtp_starttls:
                    # raises SMTPNotSupportedError when the server does not offer it: never sent in clear
                    smtp.starttls(context=ssl.create_default_context(cafile=s.smtp_ca_file))
                    smtp.ehlo()
                if s.smtp_username:
                    smtp.login(s.smtp_username, self._password or "")
                refused = smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(self.scrub(f"smtp {s.smtp_host}:{s.smtp_port}: {exc.__class__.__name__}: {exc}"),
                               _permanent(exc)) from None
        return Delivered("sent", {"subject": msg["Subject"], "to": list(s.alert_email_to),
                                  "refused": sorted(refused), "starttls": s.smtp_starttls,
                                  "message_id": msg["Message-ID"]})
