"""Redaction of key-like text in stored details (shared/redaction.py)."""
from __future__ import annotations

import pytest

from shared.redaction import MARK, redact

SECRETS = [
    "sk-or-v1-" + "a1b2c3d4" * 8,
    "sk-proj-" + "Zz9" * 12,
    "AIza" + "SyD" * 12,
    "ya29." + "a0AfH6SM" * 4,
    "ghp_" + "A1" * 18,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----",
    "0123456789abcdef0123456789abcdef0123",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_key_like_strings_are_redacted(secret):
    out = redact(f"the process said: {secret} and left")
    assert secret not in out and MARK in out and out.startswith("the process said:")


@pytest.mark.parametrize("text", ["OPENROUTER_API_KEY=hunter2hunter2", '{"api_key": "s3cr3tvalue"}',
                                  "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
                                  "password: correct-horse"])
def test_named_secrets_keep_the_name_and_lose_the_value(text):
    out = redact(text)
    assert MARK in out and "hunter2" not in out and "s3cr3t" not in out and "correct-horse" not in out
    assert "abcdefghijklmnop" not in out


def test_ordinary_details_are_untouched():
    for text in ["tests failed: AssertionError at line 2: (assert add(1, 2) == 3)",
                 "solution raised ValueError at line 3: boom", "timed out after 5s", "", None]:
        assert redact(text) == (text or "")
