"""One contract, two implementations: planned cases, shard results and target results in memory
and in the emulators (Cloud Storage and Firestore)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.bench import store as bench_store
from shared.bench.cases import Case, CaseResult, PlannedCases
from shared.bench.suite import SuiteError
from tests.conftest import BOTH_BACKENDS, either

HOSTILE_MODELS = ["openai/gpt-4o", "a/b//c/", "a%2Fb", "..", "__x__", "模型/ünïcödé-🚀", "m" * 2000,
                  "ü/" * 600]
T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH_BACKENDS)
def store(request):
    return either(request, bench_store.InMemoryBenchResults, bench_store.CloudBenchResults)


@pytest.fixture
def bench_id():
    """Unique per test: objects in the bucket outlive a test (only Firestore is emptied)."""
    return f"b-{uuid.uuid4().hex[:12]}"


def planned(name: str = "contract") -> PlannedCases:
    case = Case(id="math-1", category="math", prompt="2 + 2?", scorer="numeric", answer="4")
    return PlannedCases(suite=name, suite_key=f"{name}@v1", cases=[case])


def row(bench_id: str, case_id: str, model: str = "sim/steady", **extra) -> CaseResult:
    return CaseResult(**{"bench_id": bench_id, "model": model, "case_id": case_id, "category": "math",
                         "scorer": "numeric", "status": "scored", "score": 1.0, "passed": True, **extra})


def target(bench_id: str, key: str = "suite@v1|m|http://llm|real", model: str = "m", finished_at: datetime = T0,
           complete: bool = True, **extra) -> dict:
    return {"bench_id": bench_id, "model": model, "target_key": key, "complete": complete,
            "finished_at": finished_at, "plan": {"bench_id": bench_id, "shard_count": 1}, **extra}


def test_planned_cases_are_stored_once_under_their_hash(store):
    cases = planned(f"s-{uuid.uuid4().hex[:8]}")
    ref = store.write_planned(cases)
    assert store.write_planned(cases) == ref and ref.endswith(f"/{cases.sha256()}.json")
    assert store.read_planned(ref) == cases
    other = planned(f"s-{uuid.uuid4().hex[:8]}")
    assert store.write_planned(other) != ref and store.read_planned(store.write_planned(other)) == other


def test_missing_planned_cases_are_not_stored(store):
    written, never = planned(f"s-{uuid.uuid4().hex[:8]}"), planned(f"s-{uuid.uuid4().hex[:8]}")
    ref = store.write_planned(written).replace(written.sha256(), never.sha256())
    with pytest.raises(bench_store.NotStored):
        store.read_planned(ref)


def test_planned_cases_that_do_not_match_their_hash_are_refused(store):
    cases, swapped = planned(f"s-{uuid.uuid4().hex[:8]}"), planned(f"s-{uuid.uuid4().hex[:8]}")
    ref = store.write_planned(cases)
    if isinstance(store, bench_store.InMemoryBenchResults):
        store.objects[ref.removeprefix("memory://")] = swapped.model_dump_json().encode()
    else:
        from shared.platform import storage

        storage.write_bytes(*storage.split_uri(ref), swapped.model_dump_json().encode(), "application/json")
    with pytest.raises(SuiteError, match="does not match its hash"):
        store.read_planned(ref)


def test_shard_results_come_back_in_shard_order(store, bench_id):
    first = [row(bench_id, "math-1", latency_s=0.25, cost_usd=0.001, cost_source="catalog"),
             row(bench_id, "math-2", status="errored", score=None, passed=None, error="HTTP 500")]
    second = [row(bench_id, "math-3", weak_isolation=["landlock"])]
    store.write_shard(bench_id, 1, second)
    store.write_shard(bench_id, 0, first)
    assert store.read_results(bench_id, 2) == first + second


def test_an_empty_shard_reads_as_no_results(store, bench_id):
    store.write_shard(bench_id, 0, [])
    store.write_shard(bench_id, 1, [row(bench_id, "math-1")])
    assert store.read_results(bench_id, 1) == []
    assert [r.case_id for r in store.read_results(bench_id, 2)] == ["math-1"]
    assert store.read_results(bench_id, 0) == []


def test_a_missing_shard_is_not_stored(store, bench_id):
    store.write_shard(bench_id, 0, [row(bench_id, "math-1")])
    with pytest.raises(bench_store.NotStored, match=f"shard 1 of {bench_id}"):
        store.read_results(bench_id, 2)
    with pytest.raises(bench_store.NotStored):
        store.read_results(f"{bench_id}-never", 1)


def test_a_rewritten_shard_replaces_its_results(store, bench_id):
    store.write_shard(bench_id, 0, [row(bench_id, "math-1"), row(bench_id, "math-2")])
    retried = [row(bench_id, "math-1", passed=False, score=0.0)]
    store.write_shard(bench_id, 0, retried)
    store.write_shard(bench_id, 0, retried)
    assert store.read_results(bench_id, 1) == retried


def test_results_location_names_the_run(store, bench_id):
    where = store.results_location(bench_id)
    assert where.endswith(f"/{bench_id}/") and where != store.results_location(f"{bench_id}-other")


def test_a_target_result_saved_again_replaces_it(store):
    store.save_target_result(target("b1", score=50.0))
    store.save_target_result(target("b1", score=75.0))
    store.save_target_result(target("b1", score=75.0))
    (got,) = store.baseline_runs("suite@v1|m|http://llm|real", "", 10)
    assert got["bench_id"] == "b1" and got["score"] == 75.0 and got["plan"]["shard_count"] == 1


def test_baselines_are_the_newest_complete_runs_of_the_key_without_the_current_one(store):
    for i in range(5):
        store.save_target_result(target(f"b{i}", finished_at=T0 + timedelta(days=i)))
    store.save_target_result(target("b-incomplete", finished_at=T0 + timedelta(days=9), complete=False))
    store.save_target_result(target("b-now", finished_at=T0 + timedelta(days=10)))
    store.save_target_result(target("b-elsewhere", key="suite@v1|m|http://other|real",
                                    finished_at=T0 + timedelta(days=11)))
    store.save_target_result(target("b3", model="another", key="suite@v1|another|http://llm|real"))
    key = "suite@v1|m|http://llm|real"
    assert [d["bench_id"] for d in store.baseline_runs(key, "b-now", 3)] == ["b4", "b3", "b2"]
    assert [d["bench_id"] for d in store.baseline_runs(key, "b-now", 50)] == ["b4", "b3", "b2", "b1", "b0"]
    assert [d["bench_id"] for d in store.baseline_runs(key, "b4", 2)] == ["b-now", "b3"]
    assert store.baseline_runs("suite@v2|m|http://llm|real", "", 5) == []


def test_hostile_model_ids_keep_their_own_targets_and_results(store, bench_id):
    for i, model in enumerate(HOSTILE_MODELS):
        store.save_target_result(target(bench_id, key=f"k|{model}", model=model, finished_at=T0 + timedelta(i)))
    for model in HOSTILE_MODELS:
        (got,) = store.baseline_runs(f"k|{model}", "", 5)
        assert got["model"] == model and got["bench_id"] == bench_id
    rows = [row(bench_id, f"math-{i}", model=model) for i, model in enumerate(HOSTILE_MODELS)]
    store.write_shard(bench_id, 0, rows)
    assert [r.model for r in store.read_results(bench_id, 1)] == HOSTILE_MODELS
