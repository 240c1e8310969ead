"""One contract, two implementations: benchmark run records in memory and in Firestore."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.bench import records
from tests.conftest import BOTH_BACKENDS, either


@pytest.fixture(params=BOTH_BACKENDS)
def repo(request):
    return either(request, records.InMemoryBenchRuns, records.FirestoreBenchRuns)


def doc(**extra):
    return {"bench_id": "b1", "status": "running", "shards_done": 0, "shards": {}, **extra}


def test_create_once(repo):
    assert repo.create("b1", doc()) is True
    assert repo.create("b1", doc(status="other")) is False
    assert repo.get("b1")["status"] == "running" and repo.get("nope") is None


def test_shard_claims(repo):
    repo.create("b1", doc())
    assert repo.claim("b1", "shards.s0", 30) == "claimed"
    assert repo.claim("b1", "shards.s0", 30) == "busy"
    assert repo.claim("b1", "shards.s1", 30) == "claimed"
    assert repo.claim("nope", "shards.s0", 30) == "missing"
    assert repo.get("b1")["shards"]["s0"]["attempts"] == 1


def test_finish_shard_counts_once(repo):
    repo.create("b1", doc())
    repo.claim("b1", "shards.s0", 30)
    for _ in range(3):
        repo.finish_shard("b1", 0, 12, 1.23456)
    got = repo.get("b1")
    assert got["shards_done"] == 1 and got["shards"]["s0"] == {**got["shards"]["s0"], "status": "succeeded",
                                                               "cases": 12, "duration_s": 1.235}
    assert repo.claim("b1", "shards.s0", 30) == "done"


def test_a_dead_shard_is_taken_over_and_an_errored_one_reclaimed(repo):
    repo.create("b1", doc())
    gone = datetime.now(timezone.utc) - timedelta(minutes=3)
    repo.update("b1", {"shards.s2.status": "running", "shards.s2.claimed_at": gone, "shards.s2.attempts": 1})
    assert repo.claim("b1", "shards.s2", 30) == "claimed"
    assert repo.get("b1")["shards"]["s2"]["takeovers"] == 1
    repo.update("b1", {"shards.s2.status": "errored", "shards.s2.error": "boom"})
    assert repo.claim("b1", "shards.s2", 30) == "claimed"
    assert repo.get("b1")["shards"]["s2"]["attempts"] == 3


def test_aggregation_claim_and_dotted_updates(repo):
    repo.create("b1", doc())
    assert repo.claim("b1", "aggregation", 30) == "claimed"
    repo.update("b1", {"aggregation.status": "succeeded", "status": "complete", "summary": {"verdict": "pass"}})
    got = repo.get("b1")
    assert got["aggregation"]["status"] == "succeeded" and got["summary"] == {"verdict": "pass"}
    assert repo.claim("b1", "aggregation", 30) == "done"
