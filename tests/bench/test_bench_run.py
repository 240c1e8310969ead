"""Benchmark runs against the model simulator and the emulators (in-process)."""
from __future__ import annotations

import json
import os
import time

import pytest

from shared.bench import fanout, store
from shared.bench.planning import Plan
from shared.catalog.sync import run_sync
from shared.config import settings_from_env

pytestmark = pytest.mark.emulators


def settings(**env: str):
    return settings_from_env({**os.environ, **env})


def bench(s, bench_id: str, models: list[str], max_cases: int = 4) -> dict:
    done: list[dict] = []
    out = fanout.start_bench(s, bench_id, "adhoc", models, None, max_cases, None,
                             lambda b, i: fanout.run_shard(s, b, i, done.append), done.append)
    return done[-1] if done else out


def sim_calls(cloud) -> int:
    return cloud.simulator.sim.calls


def steady_target_results(s) -> list[dict]:
    """The complete target results of sim/steady on the built-in suite at the simulator, newest first."""
    return store.repository().baseline_runs(f"builtin-v1@v2|sim/steady|{s.llm_url}|simulated", "", 50)


def test_run_scores_for_real_and_labels_simulated(cloud):
    s = settings()
    summary = bench(s, "b-real", ["sim/steady"])
    assert summary["status"] == "complete" and summary["simulated"] is True
    m = summary["models"]["sim/steady"]
    assert m["cases"] == 24 and m["errored"] == 0 and m["scored"] == 24
    lo, hi = m["score_ci95"]
    assert 0 <= lo <= m["score"] <= hi <= 100
    assert set(m["categories"]) == {"coding", "reasoning", "factual", "math", "multi_hop", "creative_writing"}
    assert m["latency_p95_s"] >= m["latency_avg_s"] > 0
    assert m["state"] == "baseline_established" and summary["verdict"] == "baseline_established"
    assert m["regression"]["text"].startswith("baseline established")
    assert summary["simulated_because"][0] == "LLM base URL listed in SIMULATOR_BASE_URLS"
    rows = store.repository().read_results("b-real", 1)
    assert len(rows) == 24 and all(r.simulated and r.llm_base_url == s.llm_url for r in rows)
    (target,) = steady_target_results(s)
    assert target["bench_id"] == "b-real" and target["model"] == "sim/steady"
    assert target["simulated"] is True and target["llm_base_url"] == s.llm_url
    # the simulator answers right with its configured probability; the score is what the scorers said
    assert sum(r.passed for r in rows) == round(m["pass_rate"] * 24)


def test_budget_is_estimated_first_and_refused_above_the_cap(cloud):
    run_sync(settings(), "quick", "b-cat")  # demo catalog pricing
    before = sim_calls(cloud)
    summary = bench(settings(BENCH_BUDGET_USD="0.0001"), "b-refused", ["openai/gpt-demo-5"])
    assert summary["status"] == "refused" and "exceeds BENCH_BUDGET_USD=$0.00" in summary["error"]
    assert sim_calls(cloud) == before  # nothing was called
    doc = fanout.load_bench("b-refused")
    assert doc["status"] == "refused"


@pytest.mark.parametrize("model, expect", [
    ("sim/broken-500", "HTTP 500"), ("sim/empty", "empty completion"),
    ("sim/garbage", "not valid JSON"), ("sim/slow", "timeout"),
])
def test_bad_endpoints_error_cases_and_score_nothing(cloud, model, expect):
    started = time.monotonic()
    summary = bench(settings(HTTP_MAX_ATTEMPTS="2"), f"b-bad-{model.split('/')[1]}", [model], max_cases=1)
    assert time.monotonic() - started < 60
    m = summary["models"][model]
    assert summary["status"] == "incomplete" and m["errored"] == m["cases"] == 6 and m["scored"] == 0
    assert "score" not in m and any(expect in e for e in m["errors"]), m["errors"]


@pytest.mark.parametrize("model", ["sim/evil-loop", "sim/evil-fork", "sim/evil-env", "sim/evil-output",
                                   "sim/evil-socket"])
def test_hostile_code_is_contained_and_never_passes(cloud, model, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-SECRET-MUST-NOT-LEAK")
    started = time.monotonic()
    summary = bench(settings(), f"b-evil-{model.split('-')[1]}", [model], max_cases=2)
    assert time.monotonic() - started < 90
    rows = [r.model_dump() for r in store.repository().read_results(f"b-evil-{model.split('-')[1]}", 1)]
    coding = [r for r in rows if r["category"] == "coding"]
    assert coding and all(r["status"] == "scored" and r["passed"] is False for r in coding)
    assert "SECRET-MUST-NOT-LEAK" not in json.dumps(rows) + json.dumps(summary)


def test_regression_against_the_rolling_baseline(cloud):
    sim = cloud.simulator.sim
    original = dict(sim.models["sim/steady"])
    try:
        first = bench(settings(), "b-base", ["sim/steady"], max_cases=16)
        assert first["models"]["sim/steady"]["state"] == "baseline_established"
        sim.models["sim/steady"] = {**original, "quality": {"default": 0.2}}
        second = bench(settings(), "b-worse", ["sim/steady"], max_cases=16)
    finally:
        sim.models["sim/steady"] = original
    v = second["models"]["sim/steady"]["regression"]
    assert v["level"] == "critical" and v["delta_points"] <= -15 and v["significant"] is True
    assert v["baseline_bench_ids"] == ["b-base"] and v["n"] == 96 and "points" in v["text"]
    assert second["verdict"] == "regression" and v["state"] == "regression"


def test_shards_fan_in_exactly_once_under_redelivery(cloud):
    s = settings(BENCH_SHARD_SIZE="10")
    published: list[int] = []
    completions: list[dict] = []
    out = fanout.start_bench(s, "b-shards", "adhoc", ["sim/steady"], None, 4, None,
                             lambda b, i: published.append(i), completions.append)
    assert out["shards"] == 3 and published == [0, 1, 2]
    results = [fanout.run_shard(s, "b-shards", i, completions.append) for i in (0, 1, 1, 2, 2, 0)]
    assert results.count("aggregated") == 1 and len(completions) == 1
    doc = fanout.load_bench("b-shards")
    assert doc["shards_done"] == 3 and doc["status"] == "complete"
    assert completions[0]["models"]["sim/steady"]["cases"] == 24
    assert [d["bench_id"] for d in steady_target_results(s)] == ["b-shards"]


def test_same_bench_id_runs_once(cloud):
    first = bench(settings(), "b-once", ["sim/steady"], max_cases=1)
    calls = sim_calls(cloud)
    again = fanout.start_bench(settings(), "b-once", "adhoc", ["sim/steady"], None, 1, None,
                               lambda b, i: None, None)
    assert first["status"] == "complete" and again["status"] == "duplicate" and sim_calls(cloud) == calls


def test_ab_candidate_vs_incumbent_on_the_same_cases(cloud):
    summary = bench(settings(), "b-ab", ["sim/steady", "sim/regressed"], max_cases=8)
    plan = Plan.model_validate(fanout.load_bench("b-ab")["plan"])
    rows = store.repository().read_results(plan.bench_id, plan.shard_count)  # every shard
    by_model = {m: sorted(r.case_id for r in rows if r.model == m) for m in ("sim/steady", "sim/regressed")}
    assert by_model["sim/steady"] == by_model["sim/regressed"] and len(by_model["sim/steady"]) == 48
    assert summary["models"]["sim/steady"]["score"] > summary["models"]["sim/regressed"]["score"]


def test_aggregation_failure_is_released_and_retried_once(cloud, monkeypatch):
    s = settings(BENCH_SHARD_SIZE="10")
    completions: list[dict] = []
    fanout.start_bench(s, "b-agg", "adhoc", ["sim/steady"], None, 2, None, lambda b, i: None, completions.append)
    fanout.run_shard(s, "b-agg", 0, completions.append)
    real = fanout.aggregate

    def broken(*a, **k):
        raise RuntimeError("storage unavailable")
    monkeypatch.setattr(fanout, "aggregate", broken)
    with pytest.raises(RuntimeError):
        fanout.run_shard(s, "b-agg", 1, completions.append)  # last shard: aggregation fails
    monkeypatch.setattr(fanout, "aggregate", real)
    assert fanout.run_shard(s, "b-agg", 1, completions.append) == "aggregated"  # the redelivery
    assert len(completions) == 1 and fanout.load_bench("b-agg")["status"] == "complete"


def test_unknown_suite_fails_the_run_without_calls(cloud):
    before = sim_calls(cloud)
    out = fanout.start_bench(settings(), "b-nosuite", "adhoc", ["sim/steady"], "no-such-suite", 1, None,
                             lambda b, i: None, None)
    assert out["status"] == "failed" and "no suite at" in out["error"] and sim_calls(cloud) == before


def test_baselines_compare_like_with_like_only(cloud):
    """A run against another endpoint (or label) is not compared with this one's baseline."""
    first = bench(settings(), "b-like-1", ["sim/steady"], max_cases=1)
    other_url = cloud.simulator.base_url.replace("127.0.0.1", "localhost")
    second = bench(settings(LLM_BASE_URL=other_url), "b-like-2", ["sim/steady"], max_cases=1)
    third = bench(settings(), "b-like-3", ["sim/steady"], max_cases=1)
    assert first["models"]["sim/steady"]["state"] == "baseline_established"
    assert second["models"]["sim/steady"]["state"] == "baseline_established"   # other endpoint
    assert second["simulated_because"] == ["the server answered X-Simulated: true"]
    assert third["models"]["sim/steady"]["regression"]["baseline_bench_ids"] == ["b-like-1"]


def test_a_shard_that_raises_releases_its_claim_and_the_retry_completes(cloud, monkeypatch):
    s = settings(BENCH_SHARD_SIZE="10")
    completions: list[dict] = []
    fanout.start_bench(s, "b-raise", "adhoc", ["sim/steady"], None, 2, None, lambda b, i: None, completions.append)
    real = fanout.run_units

    def broken(*a, **k):
        raise ConnectionError("instance lost its network")
    monkeypatch.setattr(fanout, "run_units", broken)
    with pytest.raises(ConnectionError):
        fanout.run_shard(s, "b-raise", 0, completions.append)
    doc = fanout.load_bench("b-raise")
    assert doc["shards"]["s0"]["status"] == "errored" and "lost its network" in doc["shards"]["s0"]["error"]
    monkeypatch.setattr(fanout, "run_units", real)
    assert fanout.run_shard(s, "b-raise", 0, completions.append) == "shard done"   # not "busy"
    assert fanout.run_shard(s, "b-raise", 1, completions.append) == "aggregated"
    assert len(completions) == 1 and completions[0]["models"]["sim/steady"]["cases"] == 12


def test_a_redelivered_request_resumes_an_inline_run_left_running(cloud, monkeypatch):
    """The weekly stage's redelivery after a crash used to answer "duplicate" and leave the run
    (and the weekly stage) running forever."""
    s = settings()
    done: list[dict] = []

    def broken(*a, **k):
        raise ConnectionError("instance died")
    real = fanout.run_units
    monkeypatch.setattr(fanout, "run_units", broken)
    with pytest.raises(ConnectionError):
        fanout.start_bench(s, "b-resume", "pre", ["sim/steady"], None, 1, None, lambda b, i: None, done.append)
    assert fanout.load_bench("b-resume")["status"] == "running" and not done
    monkeypatch.setattr(fanout, "run_units", real)
    out = fanout.start_bench(s, "b-resume", "pre", ["sim/steady"], None, 1, None, lambda b, i: None, done.append)
    assert out["status"] == "duplicate" and out["resumed"] == "aggregated"
    assert len(done) == 1 and fanout.load_bench("b-resume")["status"] == "complete"


def test_a_redelivered_fan_out_republishes_only_unfinished_shards(cloud):
    s = settings(BENCH_SHARD_SIZE="10")
    published: list[int] = []
    fanout.start_bench(s, "b-repub", "adhoc", ["sim/steady"], None, 2, None, lambda b, i: published.append(i))
    fanout.run_shard(s, "b-repub", 1, None)
    again = fanout.start_bench(s, "b-repub", "adhoc", ["sim/steady"], None, 2, None,
                               lambda b, i: published.append(i))
    assert published == [0, 1, 0] and again["resumed"] == "re-published shards [0]"


def test_a_custom_suite_folder_travels_with_the_run(cloud, tmp_path):
    """`bench run --suite <folder>`: every shard scores the planned cases from the bucket (the
    folder exists only where the run was planned)."""
    import shutil

    from shared.bench.suite import SUITES_DIR

    folder = tmp_path / "my-suite"
    shutil.copytree(SUITES_DIR / "builtin-v1", folder)
    (folder / "suite.yaml").write_text("name: my-suite\nversion: 3\n")
    s = settings(BENCH_SHARD_SIZE="5")
    published: list[int] = []
    out = fanout.start_bench(s, "b-custom", "adhoc", ["sim/steady"], str(folder), 2, None,
                             lambda b, i: published.append(i))
    shutil.rmtree(folder)                                 # the shards run "elsewhere"
    done: list[dict] = []
    for shard in published:
        fanout.run_shard(s, "b-custom", shard, done.append)
    plan = Plan.model_validate(fanout.load_bench("b-custom")["plan"])
    assert out["shards"] == 3 and plan.suite_key == "my-suite@v3" and plan.cases_uri.startswith("gs://")
    assert done[-1]["status"] == "complete" and done[-1]["models"]["sim/steady"]["cases"] == 12


def test_a_bad_custom_suite_is_refused_before_a_run_record_exists(cloud, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "suite.yaml").write_text("name: broken\nversion: 1\n")
    (folder / "math.jsonl").write_text('{"id": "m1", "category": "math"}\n')
    out = fanout.start_bench(settings(), "b-broken", "adhoc", ["sim/steady"], str(folder), 1, None,
                             lambda b, i: None)
    assert out["status"] == "failed" and "invalid case" in out["error"]
    assert fanout.load_bench("b-broken")["status"] == "failed"
