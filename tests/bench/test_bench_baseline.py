"""Regression detection over the in-memory repositories (no emulators): the aggregation reads
results and baselines through the stores and hands the evidence to the policy."""
from __future__ import annotations

from shared import policy
from shared.bench import fanout, records, results
from shared.bench.cases import CaseResult
from shared.bench.planning import Plan
from shared.bench.store import InMemoryBenchResults
from shared.config import settings_from_env

LLM = "http://llm.test/v1"
CASES = [f"math-{i}" for i in range(40)]


class Stores:
    def __init__(self) -> None:
        self.runs = records.InMemoryBenchRuns()
        self.results = InMemoryBenchResults()


def plan(bench_id: str, models: list[str], shards: int = 2, llm: str = LLM) -> Plan:
    return Plan(bench_id=bench_id, phase="adhoc", weekly_run_id=None, suite="builtin-v1", suite_key="builtin-v1@v2",
                models=models, targets={m: [] for m in models}, case_ids=CASES, units=len(CASES) * len(models),
                shard_size=-(-len(CASES) * len(models) // shards), shard_count=shards, estimate={},
                llm_base_url=llm, cases_uri="memory://unused")


def rows(bench_id: str, model: str, passing: int, errored: int = 0) -> list[CaseResult]:
    """The first `passing` cases pass, the last `errored` error, the rest fail."""
    out = []
    for i, case_id in enumerate(CASES):
        if i >= len(CASES) - errored:
            out.append(CaseResult(bench_id=bench_id, model=model, case_id=case_id, category="math",
                                  scorer="numeric", status="errored", error="HTTP 500"))
        else:
            out.append(CaseResult(bench_id=bench_id, model=model, case_id=case_id, category="math",
                                  scorer="numeric", status="scored", passed=i < passing,
                                  score=1.0 if i < passing else 0.0))
    return out


def finished_run(stores: Stores, p: Plan, by_model: dict[str, list[CaseResult]], **env: str) -> dict:
    """A run whose shards are all done, aggregated through fan-out as the last shard would."""
    everything = [r for m in p.models for r in by_model[m]]
    half = len(everything) // 2
    stores.results.write_shard(p.bench_id, 0, everything[:half])
    stores.results.write_shard(p.bench_id, 1, everything[half:])
    stores.runs.create(p.bench_id, {"bench_id": p.bench_id, "status": "running", "plan": p.model_dump(mode="python"),
                                    "shards_done": p.shard_count, "shards": {}})
    done: list[dict] = []
    assert fanout.maybe_aggregate(settings_from_env(env), p.bench_id, done.append, stores.runs,
                                  stores.results) == "aggregated"
    assert stores.runs.get(p.bench_id)["summary"] == done[0]
    return done[0]


def test_a_baseline_then_a_regression_against_it():
    stores = Stores()
    first = finished_run(stores, plan("b-1", ["m/steady", "m/worse"]),
                         {"m/steady": rows("b-1", "m/steady", 36), "m/worse": rows("b-1", "m/worse", 36)})
    assert first["verdict"] == "baseline_established" and first["status"] == "complete"
    assert {m["state"] for m in first["models"].values()} == {"baseline_established"}
    assert first["results_prefix"].endswith("/b-1/")
    second = finished_run(stores, plan("b-2", ["m/steady", "m/worse"]),
                          {"m/steady": rows("b-2", "m/steady", 36), "m/worse": rows("b-2", "m/worse", 20)})
    worse, steady = second["models"]["m/worse"]["regression"], second["models"]["m/steady"]["regression"]
    assert second["verdict"] == "regression" and stores.runs.get("b-2")["status"] == "complete"
    assert worse["state"] == "regression" and worse["level"] == "critical" and worse["delta_points"] == -40.0
    assert worse["n"] == 40 and worse["pass_to_fail"] == 16 and worse["baseline_bench_ids"] == ["b-1"]
    assert steady["state"] == "pass" and steady["delta_points"] == 0.0 and steady["baseline_bench_ids"] == ["b-1"]


def test_baselines_only_from_complete_runs_of_the_same_target_without_the_current_run():
    stores = Stores()
    model = "m/steady"
    finished_run(stores, plan("b-old", [model]), {model: rows("b-old", model, 36)})
    broken = finished_run(stores, plan("b-broken", [model]), {model: rows("b-broken", model, 0, errored=20)})
    assert broken["models"][model]["state"] == "incomplete"
    elsewhere = finished_run(stores, plan("b-elsewhere", [model], llm="http://other.test/v1"),
                             {model: rows("b-elsewhere", model, 0)})
    assert elsewhere["models"][model]["state"] == "baseline_established"
    now = finished_run(stores, plan("b-now", [model]), {model: rows("b-now", model, 36)})
    assert now["models"][model]["regression"]["baseline_bench_ids"] == ["b-old"]
    # aggregated again (a retried aggregation): its own earlier target result is not its baseline
    again = results.aggregate(settings_from_env({}), plan("b-now", [model]), stores.results)
    assert again["models"][model]["regression"]["baseline_bench_ids"] == ["b-old"]
    assert again["models"][model]["state"] == "pass"


def test_the_baseline_is_the_newest_runs_up_to_the_configured_number():
    stores = Stores()
    model = "m/steady"
    for i in range(3):
        finished_run(stores, plan(f"b-{i}", [model]), {model: rows(f"b-{i}", model, 36)})
    last = finished_run(stores, plan("b-3", [model]), {model: rows("b-3", model, 36)}, BENCH_BASELINE_RUNS="2")
    assert last["models"][model]["regression"]["baseline_bench_ids"] == ["b-2", "b-1"]


def test_each_baseline_run_is_read_once_per_aggregation():
    class Counting(InMemoryBenchResults):
        def __init__(self) -> None:
            super().__init__()
            self.reads: list[str] = []

        def read_results(self, bench_id: str, shard_count: int) -> list[CaseResult]:
            self.reads.append(bench_id)
            return super().read_results(bench_id, shard_count)

    stores = Stores()
    stores.results = Counting()
    models = ["m/a", "m/b", "m/c"]
    finished_run(stores, plan("b-1", models), {m: rows("b-1", m, 30) for m in models})
    stores.results.reads.clear()
    finished_run(stores, plan("b-2", models), {m: rows("b-2", m, 30) for m in models})
    assert sorted(stores.results.reads) == ["b-1", "b-2"]


def test_regression_takes_evidence_not_clients():
    current = rows("b-now", "m", 20)
    baseline = [("b-1", {c: True for c in CASES}), ("b-0", {c: True for c in CASES})]
    verdict = results.regression(current, "m", baseline, policy.Thresholds())
    assert verdict.state == "regression" and verdict.baseline_bench_ids == ["b-1", "b-0"]
    assert results.regression(current, "m", [], policy.Thresholds()).state == "baseline_established"
