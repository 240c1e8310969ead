"""The stage protocol (shared/cycle/protocol.py) against the in-memory run repository: no
emulator. Claims, retries, takeovers, fencing, deferred stages, hand-over and the run's end."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.cycle import runs
from shared.cycle.protocol import StageResult, complete_deferred, run_stage
from shared.messages import RunContext, WeeklyCycleRequest
from shared.platform.events import RetryLater


class Published(list):
    def __call__(self, topic, message, **attributes):
        self.append((topic, message))
        return str(len(self))


@pytest.fixture
def repo():
    return runs.InMemoryWeeklyRuns()


def start(repo, run_id: str = "r1") -> RunContext:
    ctx = runs.create_run(WeeklyCycleRequest(run_id=run_id, requested_by="test"), run_id, "m1", repo)
    assert ctx is not None
    return ctx


def ok(summary=None):
    return lambda started: StageResult(status="succeeded", summary=summary or {"n": 1})


def test_a_stage_runs_once_records_and_hands_over(repo):
    ctx, published = start(repo), Published()
    assert run_stage(ctx, "catalog_sync", ok(), repo, published).status == "succeeded"
    state = repo.get("r1")["stages"]["catalog_sync"]
    assert state["status"] == "succeeded" and state["attempts"] == 1 and state["handed_over"] is True
    assert state["summary"] == {"n": 1} and state["duration_s"] >= 0
    assert [(t, m.stage) for t, m in published] == [("catalog-synced", "catalog_sync")]
    # a redelivery is acknowledged and does nothing
    assert run_stage(ctx, "catalog_sync", ok(), repo, published) is None and len(published) == 1


def test_a_delivery_that_finds_a_live_lease_fails_for_a_retry(repo):
    ctx = start(repo)
    assert repo.claim_stage("r1", "catalog_sync", 30) == "claimed"      # another attempt holds it
    with pytest.raises(RetryLater):
        run_stage(ctx, "catalog_sync", ok(), repo, Published())


def test_a_dead_attempt_is_taken_over(repo):
    ctx, published = start(repo), Published()
    gone = datetime.now(timezone.utc) - timedelta(minutes=2)
    repo.update_stages("r1", {"catalog_sync": {"status": "running", "claimed_at": gone, "attempts": 1,
                                               "first_claimed_at": gone}})
    run_stage(ctx, "catalog_sync", ok(), repo, published)
    state = repo.get("r1")["stages"]["catalog_sync"]
    assert state["takeovers"] == 1 and state["attempts"] == 2 and state["status"] == "succeeded"
    assert state["duration_s"] >= 120         # measured from the first claim, not the takeover


def test_an_exception_releases_the_claim_and_propagates(repo):
    ctx = start(repo)

    def boom(started):
        raise ConnectionError("storage down")
    with pytest.raises(ConnectionError):
        run_stage(ctx, "catalog_sync", boom, repo, Published())
    assert repo.get("r1")["stages"]["catalog_sync"]["status"] == "errored"
    assert run_stage(ctx, "catalog_sync", ok(), repo, Published()).status == "succeeded"   # the retry


def test_an_attempt_that_lost_its_lease_does_not_record(repo):
    ctx, published = start(repo), Published()

    def slow(started):      # meanwhile another attempt takes the stage over
        repo.update_stages("r1", {"catalog_sync": {"attempts": 2}})
        return StageResult(status="succeeded")
    assert run_stage(ctx, "catalog_sync", slow, repo, published) is None
    assert repo.get("r1")["stages"]["catalog_sync"]["status"] == "running" and published == []


def test_planned_stages_are_skipped_and_the_last_stage_completes_the_run(repo, monkeypatch):
    from shared.cycle import protocol
    from shared.pipeline import load_manifest

    shipped = load_manifest()
    functions = {**shipped.functions, **{n: shipped.functions[n].model_copy(update={"status": "planned"})
                                         for n in ("planner", "upgrade")}}
    monkeypatch.setattr(protocol, "load_manifest", lambda: shipped.model_copy(update={"functions": functions}))
    ctx, published = start(repo), Published()
    run_stage(ctx, "benchmark", ok(), repo, published)
    stages = repo.get("r1")["stages"]
    assert stages["planner"]["status"] == stages["upgrade"]["status"] == "not_implemented"
    assert published[0][0] == "upgrade-completed" and published[0][1].skipped_stages == ["planner", "upgrade"]
    run_stage(ctx, "reporter", ok({"report": {"markdown": "gs://b/r.md"}, "safe": False}), repo, published)
    run = repo.get("r1")
    assert run["status"] == "completed" and run["report"] == {"markdown": "gs://b/r.md"} and run["safe"] is False


def test_a_deferred_stage_is_completed_by_whoever_finishes_it(repo):
    ctx, published = start(repo), Published()
    deferred = run_stage(ctx, "benchmark", lambda s: StageResult(status="deferred", summary={"bench_id": "b"}),
                         repo, published)
    assert deferred.status == "deferred" and published == []
    assert repo.get("r1")["stages"]["benchmark"]["waiting_for"] == {"bench_id": "b"}
    complete_deferred(ctx, "benchmark", StageResult(status="succeeded", summary={"verdict": "pass"}), repo, published)
    complete_deferred(ctx, "benchmark", StageResult(status="failed"), repo, published)     # idempotent
    assert repo.get("r1")["stages"]["benchmark"]["status"] == "succeeded" and len(published) == 1


def test_a_finished_stage_that_was_not_handed_over_is_handed_over_on_redelivery(repo):
    ctx, published = start(repo), Published()
    repo.update_stages("r1", {"catalog_sync": {"status": "succeeded", "summary": {"n": 2}}})   # died before publishing
    assert run_stage(ctx, "catalog_sync", ok(), repo, published) is None
    assert [(t, m.summary) for t, m in published] == [("catalog-synced", {"n": 2})]
    assert repo.get("r1")["stages"]["catalog_sync"]["handed_over"] is True


def test_a_message_for_an_unknown_run_is_dropped(repo, monkeypatch):
    dropped = []
    monkeypatch.setattr("shared.platform.events.count_dropped", lambda doc, fn: dropped.append((doc, fn)))
    ctx = RunContext(run_id="ghost", options=WeeklyCycleRequest().options(), started_at=datetime.now(timezone.utc))
    assert run_stage(ctx, "reporter", ok(), repo, Published()) is None and dropped == [("poison_messages", "reporter")]


def test_scheduled_run_ids_are_the_iso_week():
    sched = WeeklyCycleRequest()
    assert runs.run_id_for(sched, "123", datetime(2026, 11, 29, 3, tzinfo=timezone.utc)) == "weekly-2026-W48"
    assert runs.run_id_for(sched, "456", datetime(2026, 11, 29, 9, tzinfo=timezone.utc)) == "weekly-2026-W48"
    manual = WeeklyCycleRequest(requested_by="cli")
    assert runs.run_id_for(manual, "7", datetime(2026, 11, 29, tzinfo=timezone.utc)) == "weekly-20261129-7"
