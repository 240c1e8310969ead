"""One contract, two implementations: the weekly-run repository in memory (unit tests) and in
Firestore (the emulator). A behaviour the fake gets wrong would make the protocol's unit tests
lie, so both run the same tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.cycle import runs
from shared.messages import WeeklyCycleRequest
from tests.conftest import BOTH_BACKENDS, either

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH_BACKENDS)
def repo(request):
    return either(request, runs.InMemoryWeeklyRuns, runs.FirestoreWeeklyRuns)


def req(run_id: str) -> WeeklyCycleRequest:
    return WeeklyCycleRequest(run_id=run_id, requested_by="test")


def test_create_once_then_exists(repo):
    outcome, doc = repo.create(req("r1"), "r1", "m1")
    assert outcome == "created" and doc["status"] == "running"
    assert set(doc["stages"]) == {"catalog_sync", "research_digest", "benchmark", "planner", "upgrade", "reporter"}
    again, same = repo.create(req("r1"), "r1", "m2")
    assert again == "exists" and same["trigger_message_id"] == "m1"
    assert repo.get("r1")["run_id"] == "r1" and repo.get("nope") is None


def test_one_cycle_at_a_time(repo):
    repo.create(req("r1"), "r1", "m1")
    outcome, doc = repo.create(req("r2"), "r2", "m2")
    assert outcome == "rejected" and doc["running_run_id"] == "r1" and doc["status"] == "rejected"
    assert repo.running_cycle()["run_id"] == "r1"
    repo.finish_run("r1", "completed", {"safe": False})
    assert repo.running_cycle() is None
    assert repo.create(req("r3"), "r3", "m3")[0] == "created"
    assert repo.get("r1")["safe"] is False and repo.get("r1")["finished_at"] is not None


def test_claims_busy_done_and_missing(repo):
    repo.create(req("r1"), "r1", "m1")
    assert repo.claim_stage("r1", "catalog_sync", 30) == "claimed"
    assert repo.claim_stage("r1", "catalog_sync", 30) == "busy"
    state = repo.get("r1")["stages"]["catalog_sync"]
    assert state["attempts"] == 1 and state["first_claimed_at"] is not None
    repo.update_stages("r1", {"catalog_sync": {"status": "succeeded"}})
    assert repo.claim_stage("r1", "catalog_sync", 30) == "done"
    assert repo.claim_stage("nope", "catalog_sync", 30) == "missing"


def test_an_expired_lease_is_taken_over_and_counted(repo):
    repo.create(req("r1"), "r1", "m1")
    long_ago = datetime.now(timezone.utc) - timedelta(minutes=5)
    repo.update_stages("r1", {"reporter": {"status": "running", "claimed_at": long_ago, "attempts": 1,
                                           "first_claimed_at": long_ago}})
    assert repo.claim_stage("r1", "reporter", 30) == "claimed"
    state = repo.get("r1")["stages"]["reporter"]
    assert state["takeovers"] == 1 and state["attempts"] == 2 and state["first_claimed_at"] == long_ago


def test_an_errored_stage_is_claimable_again_without_a_takeover(repo):
    repo.create(req("r1"), "r1", "m1")
    repo.claim_stage("r1", "benchmark", 30)
    repo.update_stages("r1", {"benchmark": {"status": "errored", "error": "boom"}})
    assert repo.claim_stage("r1", "benchmark", 30) == "claimed"
    assert repo.get("r1")["stages"]["benchmark"].get("takeovers", 0) == 0


def test_update_stages_keeps_other_fields(repo):
    repo.create(req("r1"), "r1", "m1")
    repo.update_stages("r1", {"planner": {"status": "not_implemented"}, "upgrade": {"status": "not_implemented"}})
    repo.update_stages("r1", {"planner": {"note": "x"}})
    stages = repo.get("r1")["stages"]
    assert stages["planner"] == {"status": "not_implemented", "note": "x"}
    assert stages["upgrade"]["status"] == "not_implemented"


def test_latest_is_the_newest_started(repo):
    repo.create(req("a"), "a", "m1")
    repo.finish_run("a", "completed", {})
    repo.create(req("b"), "b", "m2")
    assert repo.latest()["run_id"] == "b"
