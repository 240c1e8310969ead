"""Benchmark-agent throughput and code_runner overhead (a perf script, not a test).

    .venv/bin/python -m perf.bench_throughput [--calls 600] [--latency-ms 200] [--concurrency 32]

Data: the built-in suite (builtin-v1) against the local model simulator (SIMULATED answers) with
a fixed latency and no jitter, in-process; the run's planned cases and spend ledger live in the
local cloud's emulators (as in production: Storage and Firestore), and coding cases are judged by
the local cloud's code_runner function (functions-framework process on loopback, every isolation
layer this machine has).
Measures (1) the wall time of N chat-completion calls at the given concurrency against the ideal
N × latency / concurrency, calls only and calls plus scoring; (2) code_runner's cost per coding
case: the 32 coding references in one batch (wall / cases) and one case per request (median).
Medians over --repeats.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from infra import local_stack
from infra.model_simulator import SimulatorServer
from shared.bench import store
from shared.bench.cases import PlannedCases
from shared.bench.client import ChatClient
from shared.bench.code_client import CodeRunnerClient
from shared.bench.execution import run_units
from shared.bench.planning import Plan
from shared.bench.scorers import code_case
from shared.bench.suite import load_suite
from shared.config import settings_from_env
from shared.pipeline import REPO_ROOT


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=600)
    p.add_argument("--latency-ms", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    models = [f"sim/fixed-{i}" for i in range(4)]
    sim = SimulatorServer({"seed": 1, "models": {m: {"quality": {"default": 0.7}, "latency_ms": args.latency_ms,
                                                      "jitter_ms": 0} for m in models}}).start()
    state = REPO_ROOT / ".local" / "perf-bench-stack"
    if local_stack.Stack.load(state):
        local_stack.down(state, log=lambda m: None)
    stack = local_stack.up(state, {"LLM_BASE_URL": sim.base_url}, log=lambda m: None)
    runner_url = stack.env["CODE_RUNNER_URL"]
    settings = settings_from_env({**os.environ, **stack.env, "BENCH_CONCURRENCY": str(args.concurrency),
                                  "BENCH_ALLOW_UNPRICED": "sim/*"})
    suite = load_suite("builtin-v1")
    units = [(m, c.id) for m in models for c in suite.cases][:args.calls]
    by_id = {c.id: c for c in suite.cases}
    ideal = args.calls * args.latency_ms / 1000 / args.concurrency
    calls_only, with_scoring, batch_per_case, single = [], [], [], []
    try:
        isolation = httpx.get(runner_url + "/", timeout=60).json()["probe"]["isolation"]
        for _ in range(args.repeats):
            client = ChatClient(settings)
            t = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                done = list(pool.map(lambda u: client.complete(u[0], by_id[u[1]]), units))
            calls_only.append(time.perf_counter() - t)
            client.close()
            assert all(d.ok for d in done), [d.error for d in done if not d.ok][:3]
            cases_uri = store.repository().write_planned(PlannedCases(suite=suite.name, suite_key=suite.key,
                                                                      cases=suite.cases))
            plan = Plan(bench_id=f"throughput-{len(calls_only)}", phase="adhoc", weekly_run_id=None,
                        suite=suite.name, suite_key=suite.key, models=models, targets={m: [] for m in models},
                        case_ids=[c.id for c in suite.cases], units=len(units), shard_size=len(units),
                        shard_count=1, estimate={}, llm_base_url=sim.base_url, cases_uri=cases_uri)
            t = time.perf_counter()
            results = run_units(settings, plan, units, {m: {} for m in models})
            with_scoring.append(time.perf_counter() - t)
            assert len(results) == args.calls and all(r.status == "scored" for r in results), \
                [r.error for r in results if r.status != "scored"][:3]
        coding = [c for c in suite.cases if c.category == "coding"]
        cases = [code_case(c, c.reference, c.id)[0] for c in coding]
        code_client = CodeRunnerClient(settings)
        for _ in range(args.repeats):
            t = time.perf_counter()
            verdicts = code_client.run(cases)
            batch_per_case.append((time.perf_counter() - t) / len(cases))
            assert all(v.status == "passed" for v in verdicts), [v.detail for v in verdicts if v.status != "passed"]
        for case in cases[:20]:
            t = time.perf_counter()
            assert code_client.run([case])[0].status == "passed"
            single.append(time.perf_counter() - t)
        code_client.close()
    finally:
        sim.stop()
        local_stack.down(state, log=lambda m: None)
    n_coding = sum(1 for _, cid in units if by_id[cid].category == "coding")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"simulator in-process over loopback HTTP; emulators and code_runner from the local cloud; "
          f"medians of {args.repeats}")
    print(f"code_runner isolation: uid {isolation['uid']}, seccomp {isolation['seccomp']}, landlock ABI "
          f"{isolation['landlock']}, namespaces {','.join(isolation['namespaces'])}, workdir {isolation['workdir']}, "
          f"hook {isolation['hook']}")
    print(f"{args.calls} calls at {args.latency_ms} ms, concurrency {args.concurrency}: ideal {ideal:.2f} s")
    print(f"  calls only:           {statistics.median(calls_only):.2f} s  "
          f"(ratio to ideal {statistics.median(calls_only) / ideal:.2f})")
    print(f"  calls + scoring:      {statistics.median(with_scoring):.2f} s  "
          f"(ratio {statistics.median(with_scoring) / ideal:.2f}; {n_coding} coding cases judged by code_runner)")
    print(f"code_runner: {statistics.median(batch_per_case) * 1000:.0f} ms per coding case in a batch of {len(cases)} "
          f"(wall / cases); {statistics.median(single) * 1000:.0f} ms median for a one-case request "
          f"(HTTP round trip included, {len(single)} requests)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
