"""The alert records' contract, in memory and on the Firestore emulator: the first claim sends,
a finished record is done for every later delivery, a live claim is busy, a dead one is taken over."""
from __future__ import annotations

import pytest

from shared.alerts import records
from tests.conftest import BOTH_BACKENDS, either


@pytest.fixture(params=BOTH_BACKENDS)
def repo(request) -> records.AlertRecords:
    return either(request, records.InMemoryAlertRecords, records.FirestoreAlertRecords)


def test_claim_send_record_and_redelivery(repo):
    assert repo.claim("run-1", "slack", {"week": "2026-W48"}) == "claimed"
    assert repo.claim("run-1", "slack", {}) == "busy"                 # a live attempt holds it
    assert repo.claim("run-1", "email", {}) == "claimed"              # channels are independent
    repo.note_attempt("run-1", "slack", "HTTP 503")
    repo.note_attempt("run-1", "slack", None)
    repo.finish("run-1", "slack", "sent", {"sent": {"title": "t"}, "last_error": None})
    doc = repo.get("run-1", "slack")
    assert (doc["status"], doc["attempts"], doc["claims"], doc["week"], doc["sent"]) == ("sent", 2, 1, "2026-W48",
                                                                                        {"title": "t"})
    assert repo.claim("run-1", "slack", {}) == "done"
    repo.finish("run-1", "email", "failed", {"last_error": "refused"})
    assert repo.claim("run-1", "email", {}) == "done" and repo.get("run-2", "slack") is None


def test_a_dead_attempt_is_taken_over(repo):
    assert repo.claim("run-3", "github", {}) == "claimed"
    assert repo.claim("run-3", "github", {}, lease_s=0) == "claimed"   # its lease expired
    doc = repo.get("run-3", "github")
    assert (doc["claims"], doc["takeovers"], doc["attempts"]) == (2, 1, 0)
