"""catalog_api latency under concurrent clients on the local cloud (a perf script, not a test).

    .venv/bin/python -m perf.catalog_api [--clients 50] [--requests 1000]

The demo catalog (16 models, 12 categories) is synced into the Firestore emulator and served as
version 1; then `--clients` concurrent clients send `--requests` GET /models (in all, loopback,
one functions-framework process as the local stack runs it) and the script prints p50 / p95 /
max latency and the throughput, for the first page and for a category-filtered page (one more
Firestore read), and for a revalidation (If-None-Match: 304).
"""
from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx

from infra.replay_server import ReplayState
from perf import stack_on_replay
from shared.pipeline import REPO_ROOT

DEMO = REPO_ROOT / "infra" / "demo_data" / "openrouter"


def seed() -> int:
    """The demo catalog synced in-process, and serving version 1 made from it: its model count."""
    from shared.catalog import store as catalog_store
    from shared.catalog.sync import run_sync
    from shared.config import settings_from_env
    from shared.serving import store as serving_store
    from shared.serving.bootstrap import ensure_version_one

    rec = run_sync(settings_from_env(), "full", "perf-catalog-api")
    assert rec.status == "succeeded", rec.error
    version = ensure_version_one(catalog_store.repository(), serving_store.repository(), datetime.now(timezone.utc),
                                 "sync:perf-catalog-api")
    return len(version.models)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load(url: str, clients: int, total: int, headers: dict[str, str] | None = None) -> tuple[list[float], float, dict]:
    """`total` GETs of `url` by `clients` threads, one keep-alive connection each."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock, left = threading.Lock(), [total]

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                t0 = time.perf_counter()
                status = http.get(url, headers=headers or {}).status_code
                took = time.perf_counter() - t0
                with lock:
                    latencies.append(took)
                    statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    return latencies, time.perf_counter() - started, statuses


def line(what: str, latencies: list[float], wall: float, statuses: dict) -> str:
    ms = [v * 1000 for v in latencies]
    return (f"  {what:44} p50 {percentile(ms, 0.5):6.1f} ms  p95 {percentile(ms, 0.95):6.1f} ms  "
            f"max {max(ms):6.1f} ms  {len(ms) / wall:6.0f} req/s  statuses {statuses}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=1000, help="per measurement, in all (bounded)")
    args = p.parse_args()
    with stack_on_replay(ReplayState(DEMO, week=1), "perf-catalog-api-") as (stack, replay):
        models = seed()
        api = stack.env["FUNCTION_URL_CATALOG_API"]
        load(f"{api}/models", 4, 40)                                    # warm the process and its clients
        tag = httpx.get(f"{api}/models").headers["ETag"]
        print(f"machine: {platform.machine()} {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"Firestore emulator on loopback, one catalog_api functions-framework process; other runs may share "
              f"the machine")
        print(f"GET /models: {args.clients} concurrent clients, {args.requests} requests per line; "
              f"{models} served models (serving version 1)")
        print(line("/models (first page, limit 50)", *load(f"{api}/models", args.clients, args.requests)))
        print(line("/models?category=programming", *load(f"{api}/models?category=programming", args.clients,
                                                          args.requests)))
        print(line("/models with If-None-Match (304)", *load(f"{api}/models", args.clients, args.requests,
                                                              {"If-None-Match": tag})))
    return 0


def _cpu() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu unknown"


if __name__ == "__main__":
    raise SystemExit(main())
