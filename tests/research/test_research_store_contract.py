"""One contract, two implementations: the research store in memory (unit tests) and in
Firestore and Cloud Storage (the emulators). A behaviour the fake gets wrong would make the scan's
unit tests lie, so both run the same tests."""
from __future__ import annotations

import os
import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from shared.research import blackboard as bb
from shared.research import store as research_store
from shared.research.findings import Finding
from shared.research.stage import week_digest
from shared.research.store import ScanClaim, ScanRecord, SourceResult
from tests.conftest import BOTH_BACKENDS, either

DAY = date(2026, 11, 22)
SINCE = datetime(2026, 11, 22, tzinfo=timezone.utc)
JUST_BEFORE = SINCE - timedelta(microseconds=1)
HOSTILE_IDS = ["hf:org/model", "a/b", "a%2Fb", "arxiv:cs/0112017", ".", "..", "__reserved__", "x" * 1500,
               "x" * 1499 + "y", "ünïcödé/模型/🙂", "🙂" * 1500, " spaced id ", "url:https://e.org/p?q=1#f"]


@pytest.fixture(params=BOTH_BACKENDS)
def repo(request):
    return either(request, research_store.InMemoryResearchStore, research_store.FirestoreResearchStore)


@pytest.fixture
def bucket(repo) -> str:
    return os.environ["REPORTS_BUCKET"] if isinstance(repo, research_store.FirestoreResearchStore) else "reports"


def finding(fid: str, first_seen_at: datetime = SINCE, **extra) -> dict:
    return {"id": fid, "title": f"title of {fid}", "status": "new", "seen_in": ["src-a"], "versions": [1],
            "first_seen_at": first_seen_at, "first_seen_day": first_seen_at.date().isoformat(),
            "last_seen_at": first_seen_at, **extra}


def proposal(pid: str, finding_id: str, created_at: datetime = SINCE, **extra) -> dict:
    return {"id": pid, "type": "strategy_change", "finding_id": finding_id, "title": "t", "status": "open",
            "created_at": created_at, **extra}


def record(scan_id: str, started_at: datetime = SINCE, **extra) -> ScanRecord:
    return ScanRecord(scan_id=scan_id, as_of=DAY, window_start=SINCE - timedelta(days=1), window_end=SINCE,
                      config="demo", scorer="keywords-v1", started_at=started_at, **extra)


# --- findings -----------------------------------------------------------------------------------
def test_findings_with_hostile_ids_round_trip(repo):
    repo.save_findings([finding(i) for i in HOSTILE_IDS], {})
    loaded = repo.load_findings(HOSTILE_IDS + ["never-seen"])
    assert sorted(loaded) == sorted(HOSTILE_IDS)
    assert all(loaded[i] == finding(i) for i in HOSTILE_IDS)
    assert repo.load_findings([]) == {}


def test_a_loaded_finding_is_a_copy(repo):
    repo.save_findings([finding("f1")], {})
    repo.load_findings(["f1"])["f1"]["seen_in"].append("mutated")
    assert repo.load_findings(["f1"])["f1"]["seen_in"] == ["src-a"]


def test_resighting_updates_only_the_given_fields_and_is_idempotent(repo):
    repo.save_findings([finding("arxiv:2611.1")], {})
    later = SINCE + timedelta(days=1)
    seen = Finding(id="arxiv:2611.1", source="src-b", kind="arxiv_rss", url="https://arxiv.org/abs/2611.1",
                   title="t", arxiv_version=2)
    for _ in range(2):                         # a redelivered scan computes the update again
        existing = repo.load_findings(["arxiv:2611.1"])["arxiv:2611.1"]
        update = bb.update_for_resighting(existing, seen, ["src-a", "src-b"], later)
        if update:
            repo.save_findings([], {"arxiv:2611.1": update})
    got = repo.load_findings(["arxiv:2611.1"])["arxiv:2611.1"]
    assert got["versions"] == [1, 2] and got["seen_in"] == ["src-a", "src-b"] and got["status"] == "seen"
    assert got["first_seen_at"] == SINCE and got["last_seen_at"] == later and got["title"] == "title of arxiv:2611.1"
    assert bb.update_for_resighting(got, seen, ["src-a", "src-b"], later) is None


def test_new_and_resighted_findings_in_one_write(repo):
    repo.save_findings([finding("old")], {})
    repo.save_findings([finding("new")], {"old": {"status": "seen"}})
    got = repo.load_findings(["old", "new"])
    assert got["old"]["status"] == "seen" and got["new"]["status"] == "new"


def test_findings_by_day_and_since_at_their_boundaries(repo):
    repo.save_findings([finding("at-midnight", SINCE), finding("just-before", JUST_BEFORE),
                        finding("end-of-day", SINCE + timedelta(days=1, microseconds=-1)),
                        finding("next-day", SINCE + timedelta(days=1)), finding("/slash", SINCE)], {})
    assert sorted(f["id"] for f in repo.findings_first_seen_on(DAY)) == ["/slash", "at-midnight", "end-of-day"]
    assert [f["id"] for f in repo.findings_first_seen_on(DAY - timedelta(days=1))] == ["just-before"]
    assert repo.findings_first_seen_on(date(2020, 1, 1)) == []
    assert sorted(f["id"] for f in repo.findings_since(SINCE)) == ["/slash", "at-midnight", "end-of-day", "next-day"]
    assert len(repo.findings_since(JUST_BEFORE)) == 5
    assert repo.findings_since(SINCE + timedelta(days=2)) == []


def test_mark_proposed(repo):
    repo.save_findings([finding("hf:org/model")], {})
    repo.mark_proposed("hf:org/model", "evaluate_model--hf_org_model")
    got = repo.load_findings(["hf:org/model"])["hf:org/model"]
    assert got["status"] == "proposed" and got["proposal_id"] == "evaluate_model--hf_org_model"
    assert got["title"] == "title of hf:org/model"


# --- proposals ----------------------------------------------------------------------------------
def test_a_proposal_is_created_once(repo):
    assert repo.create_proposal(proposal("p1", "f1")) is True
    assert repo.create_proposal(proposal("p1", "f1", title="second")) is False
    assert [p["title"] for p in repo.proposals_for_findings({"f1"})] == ["t"]


def test_concurrent_creates_of_one_proposal_let_exactly_one_win(repo):
    won, barrier = [], threading.Barrier(6)

    def create() -> None:
        barrier.wait()
        won.append(repo.create_proposal(proposal("race", "f1")))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * 5 + [True]


def test_proposals_for_findings_with_hostile_and_many_ids(repo):
    many = [f"arxiv:2611.{n:05d}" for n in range(35)]      # more than one Firestore "in" query
    for i, fid in enumerate(HOSTILE_IDS + many):
        assert repo.create_proposal(proposal(f"p-{i}-{fid}", fid))
    got = repo.proposals_for_findings(set(HOSTILE_IDS + many))
    assert sorted(p["finding_id"] for p in got) == sorted(HOSTILE_IDS + many)
    assert all(p == proposal(p["id"], p["finding_id"]) for p in got)
    assert [p["finding_id"] for p in repo.proposals_for_findings(iter(["a/b", "missing"]))] == ["a/b"]
    assert repo.proposals_for_findings(set()) == []


def test_proposals_since_at_the_boundary(repo):
    repo.create_proposal(proposal("at", "f1", SINCE))
    repo.create_proposal(proposal("before", "f2", JUST_BEFORE))
    long_one = proposal("long", "🙂" * 1500, SINCE + timedelta(days=1))
    repo.create_proposal(long_one)
    assert sorted(p["id"] for p in repo.proposals_since(SINCE)) == ["at", "long"]
    assert sorted(p["id"] for p in repo.proposals_since(JUST_BEFORE)) == ["at", "before", "long"]
    assert repo.proposals_since(SINCE + timedelta(days=1)) == [long_one]


# --- scan records -------------------------------------------------------------------------------
def test_a_scan_is_claimed_once_and_done_when_finished(repo):
    assert repo.claim_scan(record("s1")) == "claimed"
    with repo.keep_scan_alive("s1"):
        assert repo.claim_scan(record("s1")) == "busy"
    assert repo.load_scan("s1") == record("s1")
    finished = record("s1", status="succeeded", finished_at=SINCE + timedelta(minutes=1), duration_s=60.0,
                      sources=[SourceResult(name="arxiv-api", kind="arxiv_api", url="http://x", status="ok",
                                            http_statuses=[200], new=3)],
                      counts={"new": 3}, new_findings=["a/b"], findings_uri="gs://b/f.md")
    repo.finish_scan(finished)
    assert repo.load_scan("s1") == finished
    assert repo.claim_scan(record("s1")) == "done"
    assert repo.load_scan("nope") is None


def test_an_errored_scan_is_claimed_again(repo):
    repo.claim_scan(record("s1"))
    repo.finish_scan(record("s1", status="errored", error="boom"))
    assert repo.claim_scan(record("s1")) == "claimed"
    assert repo.load_scan("s1").status == "running"


def test_a_half_written_scan_record_reads_as_a_running_claim(repo):
    """A record holding only the claim's fields is a scan another process is writing."""
    assert repo.claim_scan(ScanClaim(scan_id="s-half", started_at=SINCE)) == "claimed"
    got = repo.load_scan("s-half")
    assert isinstance(got, ScanClaim) and got == ScanClaim(scan_id="s-half", started_at=SINCE)
    assert [s.scan_id for s in repo.scans_since(SINCE)] == ["s-half"]
    repo.finish_scan(record("s-half", status="succeeded"))
    assert isinstance(repo.load_scan("s-half"), ScanRecord)


def test_every_reader_handles_a_half_written_scan(repo, monkeypatch):
    from shared import api

    repo.claim_scan(ScanClaim(scan_id="s-half", started_at=SINCE))
    repo.claim_scan(record("s-done"))
    repo.finish_scan(record("s-done", status="succeeded", counts={"new": 2}, findings_uri="gs://b/f.md"))
    monkeypatch.setattr(research_store, "repository", lambda: repo)
    status, body = api.research_scan_status({}, {"id": "s-half"})
    assert status == 200 and body["status"] == "running" and body["scan_id"] == "s-half"
    digest = week_digest(SINCE + timedelta(days=1), days=1, store=repo)
    assert digest["scans"] == 2 and digest["scans_finished"] == 1 and digest["scan_ids"] == ["s-done"]
    assert digest["counts"] == {"new": 2} and digest["findings_files"] == ["gs://b/f.md"]


def test_scans_since_at_the_boundary_and_hostile_scan_ids(repo):
    for sid, started in [("at", SINCE), ("before", JUST_BEFORE), ("scan/with/slash", SINCE),
                         ("s" * 1500, SINCE), ("扫描-🙂", SINCE)]:
        assert repo.claim_scan(record(sid, started)) == "claimed"
    assert sorted(s.scan_id for s in repo.scans_since(SINCE)) == sorted(["at", "scan/with/slash", "s" * 1500,
                                                                         "扫描-🙂"])
    assert len(repo.scans_since(JUST_BEFORE)) == 5
    assert repo.load_scan("scan/with/slash").scan_id == "scan/with/slash"
    assert repo.load_scan("s" * 1500).started_at == SINCE and repo.load_scan("scan") is None


# --- HTTP validators and the findings file --------------------------------------------------------
def test_validators_are_saved_and_replaced_per_url(repo):
    assert repo.load_validators() == {}
    long_url = "https://e.org/feed?" + "q=1&" * 500
    repo.save_validators({"https://e.org/a": {"etag": '"v1"', "last_modified": ""},
                          long_url: {"etag": "", "last_modified": "Sat, 21 Nov 2026 10:00:00 GMT"}})
    repo.save_validators({"https://e.org/a": {"etag": '"v2"', "last_modified": ""}})
    assert repo.load_validators() == {"https://e.org/a": {"etag": '"v2"', "last_modified": ""},
                                      long_url: {"etag": "", "last_modified": "Sat, 21 Nov 2026 10:00:00 GMT"}}


def test_the_findings_file_is_written_per_day(repo, bucket):
    day = date(1999, 12, 31)      # no scan writes this day (the emulator's Storage is not reset per test)
    assert repo.read_findings_file(bucket, day) is None
    uri = repo.write_findings_file(bucket, day, "# Research findings 🙂\n")
    assert uri == f"gs://{bucket}/{research_store.findings_path(day)}" and uri.endswith("/1999-12-31.md")
    repo.write_findings_file(bucket, day, "# Research findings, second scan of the day\n")
    assert repo.read_findings_file(bucket, day) == "# Research findings, second scan of the day\n"
    assert repo.read_findings_file(bucket, day + timedelta(days=1)) is None


# --- operator feedback and exemplar versions ------------------------------------------------------
def marker(label: str = "dismissed", status: str = "rejected"):
    """A feedback builder (feedback.apply_mark's shape) that records what it was given."""
    seen = []

    def build(finding, previous, proposal):
        seen.append((finding, previous, proposal))
        marks = (previous or {}).get("marks", 0) + 1
        return ({"finding_id": finding["id"], "label": label, "marks": marks, "at": SINCE},
                {"status": "dismissed", "feedback": {"label": label}},
                {"status": status} if proposal is not None else None)
    return build, seen


def test_feedback_on_hostile_ids_round_trips_and_updates_the_finding(repo):
    repo.save_findings([finding(i) for i in HOSTILE_IDS], {})
    for fid in HOSTILE_IDS:
        build, seen = marker()
        rec = repo.update_feedback(fid, build)
        assert rec == {"finding_id": fid, "label": "dismissed", "marks": 1, "at": SINCE}
        assert seen[0][0]["id"] == fid and seen[0][1] is None and seen[0][2] is None
        assert repo.load_feedback(fid) == rec
        got = repo.load_findings([fid])[fid]
        assert got["status"] == "dismissed" and got["feedback"] == {"label": "dismissed"} and got["title"] == f"title of {fid}"
    assert sorted(r["finding_id"] for r in repo.list_feedback()) == sorted(HOSTILE_IDS)
    repo.list_feedback()[0]["label"] = "mutated"                 # a copy
    assert {r["label"] for r in repo.list_feedback()} == {"dismissed"}


def test_feedback_on_an_unknown_finding_writes_nothing(repo):
    build, seen = marker()
    assert repo.update_feedback("arxiv:404", build) is None
    assert seen == [] and repo.list_feedback() == [] and repo.load_feedback("arxiv:404") is None


def test_feedback_sees_the_previous_record_and_the_proposal(repo):
    repo.save_findings([finding("hf:org/m", status="proposed", proposal_id="evaluate_model--hf_org_m")], {})
    repo.create_proposal(proposal("evaluate_model--hf_org_m", "hf:org/m"))
    build, seen = marker()
    repo.update_feedback("hf:org/m", build)
    repo.update_feedback("hf:org/m", build)
    assert seen[1][1]["marks"] == 1 and seen[1][2]["status"] == "rejected"
    assert repo.load_feedback("hf:org/m")["marks"] == 2
    assert [p["status"] for p in repo.proposals_for_findings(["hf:org/m"])] == ["rejected"]


def test_a_failing_builder_writes_nothing(repo):
    repo.save_findings([finding("f1")], {})

    def refuse(finding, previous, proposal):
        raise ValueError("unknown topic")
    with pytest.raises(ValueError, match="unknown topic"):
        repo.update_feedback("f1", refuse)
    assert repo.load_feedback("f1") is None and repo.load_findings(["f1"])["f1"]["status"] == "new"


def test_concurrent_marks_of_one_finding_are_serialised(repo):
    repo.save_findings([finding("f1")], {})
    barrier = threading.Barrier(4)

    def mark() -> None:
        barrier.wait()
        repo.update_feedback("f1", marker()[0])

    threads = [threading.Thread(target=mark) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert repo.load_feedback("f1")["marks"] == 4


def test_marks_through_the_feedback_rules(repo):
    from shared.research import feedback as fb

    topics = ["RAG", "routing"]
    repo.save_findings([finding(i, summary="s", top_topic="RAG") for i in ("a/b", "🙂" * 1500)], {})
    rec, v1 = fb.mark(repo, topics, fb.FeedbackMark(finding_id="a/b", label="relevant", by="ana"), SINCE)
    assert rec["topic"] == "RAG" and v1.number == 1 and v1.feedback_ids == ["a/b"]
    rec, v2 = fb.mark(repo, topics, fb.FeedbackMark(finding_id="🙂" * 1500, label="dismissed", by="bo",
                                                    reason="r" * 500), SINCE)
    assert rec["reason"] == "r" * 500 and v2.number == 2 and v2.counts["dismissed"] == 1
    with pytest.raises(fb.UnknownFinding):
        fb.mark(repo, topics, fb.FeedbackMark(finding_id="nope", label="dismissed", by="bo"), SINCE)
    assert fb.ensure_version(repo, SINCE, "scan:x") == v2
    assert fb.ExemplarVersion.model_validate(repo.exemplar_version(1)) == v1


def test_exemplar_versions_are_created_once_and_ordered_by_number(repo):
    def version(n: int, digest: str = "h") -> dict:
        return {"number": n, "content_hash": digest, "created_at": SINCE, "created_by": "t", "counts": {"relevant": 0},
                "feedback_ids": ["a/b"], "examples": [{"id": "a/b", "label": "dismissed", "topic": None, "title": "t",
                                                        "text": "🙂 text", "at": SINCE}]}
    assert repo.latest_exemplar_version() is None and repo.exemplar_versions(5) == []
    for n in (1, 2, 9, 10):
        assert repo.create_exemplar_version(version(n)) is True
    assert repo.create_exemplar_version(version(10, "other")) is False
    assert repo.exemplar_version(10) == version(10) and repo.exemplar_version(3) is None
    assert repo.latest_exemplar_version()["number"] == 10            # numeric, not "9" > "10"
    assert [v["number"] for v in repo.exemplar_versions(3)] == [10, 9, 2]


def test_the_week_digest_sums_the_judge_and_keeps_levels_as_levels(repo):
    """The judge's calls and spend are summed over the scans it ran in (a simulator in any of them
    is said); a level such as the catalog's model families is the week's largest, not a sum."""
    judge = {"model": "openai/gpt-4o-mini", "min_relevance": 6, "asked": 3, "decided": 2, "flipped": 1,
             "failed": 1, "cost_usd": 0.0012, "simulated": False}
    repo.claim_scan(record("s-a"))
    repo.finish_scan(record("s-a", status="succeeded", judge=judge,
                            counts={"new": 1, "catalog_model_families": 38, "catalog_model_mentions": 1}))
    repo.claim_scan(record("s-b"))
    repo.finish_scan(record("s-b", status="succeeded", judge={**judge, "asked": 2, "cost_usd": 0.0008,
                                                              "simulated": True, "flipped": "7"},
                            counts={"new": 2, "catalog_model_families": 40, "catalog_model_mentions": 2}))
    repo.claim_scan(record("s-c"))
    repo.finish_scan(record("s-c", status="succeeded", counts={"new": 0}))
    digest = week_digest(SINCE + timedelta(days=1), days=1, store=repo)
    assert digest["counts"] == {"new": 3, "catalog_model_families": 40, "catalog_model_mentions": 3}
    j = digest["judge"]
    assert (j["scans"], j["asked"], j["decided"], j["failed"]) == (2, 5, 4, 2)
    assert j["flipped"] == 1          # a count that is not a number counts 0, never a crash
    assert j["cost_usd"] == 0.002 and j["simulated"] and j["models"] == ["openai/gpt-4o-mini"]


def test_the_week_digest_has_no_judge_when_it_never_ran(repo):
    repo.claim_scan(record("s-a"))
    repo.finish_scan(record("s-a", status="succeeded", counts={"new": 1}))
    assert "judge" not in week_digest(SINCE + timedelta(days=1), days=1, store=repo)
