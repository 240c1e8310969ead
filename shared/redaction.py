"""Redaction of anything that looks like a credential, for text that is stored or shown
(per-case details, model output excerpts, error messages)."""
from __future__ import annotations

import re

MARK = "[REDACTED]"
_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),                       # OpenAI / OpenRouter style
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),                       # Google API key
    re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}"),                     # Google OAuth access token
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),                    # GitHub tokens
    re.compile(r"\bxox[abpr]-[A-Za-z0-9\-]{10,}"),                  # Slack tokens
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWT
    re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/\-]{16,}=*"),
]
# NAME=value / "name": "value" where the name says it is secret: the name stays, the value goes
_NAMED = re.compile(r"(?i)([A-Z0-9_\-]*(?:api[_-]?key|secret|token|password|passwd|credential|auth)"
                    r"[A-Z0-9_\-]*['\"]?\s*[=:]\s*['\"]?)([^\s'\",;\\]{6,})")
# long opaque strings mixing letters and digits (hex or base64 keys)
_OPAQUE = re.compile(r"\b(?=[A-Za-z0-9+/_\-]*\d)(?=[A-Za-z0-9+/_\-]*[A-Za-z])[A-Za-z0-9+/_\-]{32,}={0,2}")


def redact(text: str | None) -> str:
    if not text:
        return text or ""
    for pattern in _PATTERNS:
        text = pattern.sub(MARK, text)
    text = _NAMED.sub(lambda m: m.group(1) + MARK, text)
    return _OPAQUE.sub(MARK, text)
