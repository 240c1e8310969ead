"""The research store's judgement cache (research_judgements/, shared/research/store.py), one
contract for the in-memory fake and Firestore (the emulators), as in
tests/research/test_research_store_contract.py."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from shared.research import store as research_store
from tests.conftest import BOTH_BACKENDS, either
from tests.research.test_research_store_contract import HOSTILE_IDS

AT = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH_BACKENDS)
def repo(request):
    return either(request, research_store.InMemoryResearchStore, research_store.FirestoreResearchStore)


def claim(fid: str, scan_id: str = "s1") -> dict:
    return {"finding_id": fid, "status": "claimed", "model": "m", "prompt_version": 1, "scan_id": scan_id,
            "claimed_at": AT}


def outcome(fid: str, status: str = "judged", **extra) -> dict:
    doc = {"finding_id": fid, "status": status, "model": "m", "prompt_version": 1, "scan_id": "s1", "at": AT,
           "cost_usd": 0.0012, "simulated": False}
    if status == "judged":
        doc.update(relevance=7, topics=["RAG"], reason="Because.")
    return {**doc, **extra}


def test_judgements_with_hostile_ids_are_claimed_saved_and_loaded(repo):
    assert repo.load_judgements(HOSTILE_IDS) == {} and repo.load_judgements([]) == {}
    for fid in HOSTILE_IDS:
        assert repo.claim_judgement(fid, claim(fid)) is True
    assert repo.load_judgements(HOSTILE_IDS + ["never"]) == {fid: claim(fid) for fid in HOSTILE_IDS}
    for fid in HOSTILE_IDS:
        repo.save_judgement(fid, outcome(fid))
    got = repo.load_judgements(HOSTILE_IDS)
    assert got == {fid: outcome(fid) for fid in HOSTILE_IDS}


def test_a_claimed_judged_or_invalid_item_is_never_claimed_again(repo):
    repo.claim_judgement("a", claim("a"))
    assert repo.claim_judgement("a", claim("a", "s2")) is False            # claimed: left as it was
    assert repo.load_judgements(["a"])["a"]["scan_id"] == "s1"
    for status in ("judged", "invalid"):
        repo.save_judgement("a", outcome("a", status, error="x" if status == "invalid" else None))
        assert repo.claim_judgement("a", claim("a", "s3")) is False
        assert repo.load_judgements(["a"])["a"]["status"] == status


def test_a_failed_or_released_item_is_claimed_again_and_its_old_fields_go(repo):
    for status in ("failed", "released"):
        fid = f"item-{status}"
        repo.save_judgement(fid, outcome(fid, status, error="HTTP 503"))
        assert repo.claim_judgement(fid, claim(fid, "s2")) is True
        assert repo.load_judgements([fid])[fid] == claim(fid, "s2")       # no leftover error or cost
        assert repo.claim_judgement(fid, claim(fid, "s3")) is False


@pytest.mark.parametrize("start", ["missing", "failed"])
def test_concurrent_claims_let_exactly_one_win(repo, start):
    if start == "failed":
        repo.save_judgement("race", outcome("race", "failed", error="timeout"))
    won, barrier = [], threading.Barrier(6)

    def take(n: int) -> None:
        barrier.wait()
        won.append(repo.claim_judgement("race", claim("race", f"s{n}")))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * 5 + [True]
    assert repo.load_judgements(["race"])["race"]["status"] == "claimed"


def test_a_loaded_judgement_is_a_copy(repo):
    repo.save_judgement("c", outcome("c"))
    repo.load_judgements(["c"])["c"]["topics"].append("mutated")
    assert repo.load_judgements(["c"])["c"]["topics"] == ["RAG"]
