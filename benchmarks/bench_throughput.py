"""Benchmark-agent throughput and sandbox overhead (a benchmark script, not a test).

    .venv/bin/python -m benchmarks.bench_throughput [--calls 600] [--latency-ms 200] [--concurrency 32]

Data: the built-in suite (builtin-v1) against the local model simulator (SIMULATED answers) with
a fixed latency and no jitter, in-process, no cloud services. Measures (1) the wall time of N
chat-completion calls at the given concurrency against the ideal N × latency / concurrency,
calls only and calls plus scoring (coding cases run in the sandbox); (2) the sandbox overhead:
the median wall time of a trivial program, and of scoring each coding reference (which runs
its hidden tests). Medians over --repeats.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from infra.model_simulator import SimulatorServer
from shared.bench.client import ChatClient
from shared.bench.runner import Plan, run_units
from shared.bench.sandbox import overhead_probe
from shared.bench.scorers import score
from shared.bench.suite import load_suite
from shared.config import settings_from_env


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
    settings = settings_from_env({"LLM_BASE_URL": sim.base_url, "BENCH_CONCURRENCY": str(args.concurrency),
                                  "GOOGLE_CLOUD_PROJECT": "bench"})
    suite = load_suite("builtin-v1")
    units = [(m, c.id) for m in models for c in suite.cases][:args.calls]
    by_id = {c.id: c for c in suite.cases}
    ideal = args.calls * args.latency_ms / 1000 / args.concurrency
    calls_only, with_scoring = [], []
    try:
        for _ in range(args.repeats):
            client = ChatClient(settings)
            t = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                done = list(pool.map(lambda u: client.complete(u[0], by_id[u[1]]), units))
            calls_only.append(time.perf_counter() - t)
            client.close()
            assert all(d.ok for d in done), [d.error for d in done if not d.ok][:3]
            plan = Plan(bench_id="throughput", phase="adhoc", weekly_run_id=None, suite=suite.name,
                        suite_key=suite.key, models=models, targets={m: [] for m in models},
                        case_ids=[c.id for c in suite.cases], units=len(units), shard_size=len(units),
                        shard_count=1, estimate={}, llm_base_url=sim.base_url)
            t = time.perf_counter()
            results = run_units(settings, plan, units, {m: {} for m in models})
            with_scoring.append(time.perf_counter() - t)
            assert len(results) == args.calls and all(r.status == "scored" for r in results)
        coding = [c for c in suite.cases if c.category == "coding"]
        per_case = []
        for c in coding:
            t = time.perf_counter()
            assert score(c, c.reference).passed
            per_case.append(time.perf_counter() - t)
        trivial = overhead_probe(20)
    finally:
        sim.stop()
    n_coding = sum(1 for _, cid in units if by_id[cid].category == "coding")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"simulator in-process over loopback HTTP; medians of {args.repeats}")
    print(f"{args.calls} calls at {args.latency_ms} ms, concurrency {args.concurrency}: ideal {ideal:.2f} s")
    print(f"  calls only:           {statistics.median(calls_only):.2f} s  "
          f"(ratio to ideal {statistics.median(calls_only) / ideal:.2f})")
    print(f"  calls + scoring:      {statistics.median(with_scoring):.2f} s  "
          f"(ratio {statistics.median(with_scoring) / ideal:.2f}; {n_coding} coding cases run in the sandbox)")
    print(f"sandbox: trivial program {trivial * 1000:.0f} ms median; scoring a coding reference "
          f"(hidden tests in the sandbox) {statistics.median(per_case) * 1000:.0f} ms median over {len(per_case)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
