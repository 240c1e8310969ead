"""Catalog sync performance on the local cloud (a perf script, not a test).

    .venv/bin/python -m perf.catalog_sync [--repeats 5] [--snapshot PATH]

Data: the largest recorded real OpenRouter snapshot (../shared/fixtures/openrouter/
models-2026-05-01.json, 371 models), served by the replay server over loopback HTTP, synced into
the Firestore emulator. The real snapshot holds only the model feed, so the figure is the
model-catalog phases (fetch, parse, diff, batched writes, raw archive; categories) of a full
sync; rankings and endpoints are measured on the demo dataset (16 models, 12 categories).
Each repeat starts from an empty Firestore. Prints medians and the document writes counted by
the sync itself.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import httpx

from infra.replay_server import ReplayState
from perf import stack_on_replay
from shared.pipeline import REPO_ROOT

SNAPSHOT = REPO_ROOT.parent / "shared" / "fixtures" / "openrouter" / "models-2026-05-01.json"
DEMO = REPO_ROOT / "infra" / "demo_data" / "openrouter"


def reset_firestore(env: dict[str, str]) -> None:
    httpx.delete(f"http://{env['FIRESTORE_EMULATOR_HOST']}/emulator/v1/projects/"
                 f"{env['GOOGLE_CLOUD_PROJECT']}/databases/(default)/documents").raise_for_status()


def timed_sync(settings, phases: list[str], sync_id: str):
    from datetime import datetime, timezone

    from shared.catalog.sync import CatalogSync, SyncRecord

    rec = SyncRecord(sync_run_id=sync_id, mode="full", started_at=datetime.now(timezone.utc),
                     source=settings.openrouter_base_url)
    sync = CatalogSync(settings, rec)
    started = time.perf_counter()
    try:
        for phase in phases:
            getattr(sync, phase)()
    finally:
        sync.api.close()
    elapsed = time.perf_counter() - started
    rec.counts["http_requests"] = sync.api.http.requests_made
    return elapsed, rec


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    args = p.parse_args()
    if not args.snapshot.exists():
        print(f"snapshot {args.snapshot} is absent (../shared/fixtures is provided beside the repo)")
        return 2
    with stack_on_replay(ReplayState(DEMO, models_file=args.snapshot), "bench-stack-") as (stack, replay):
        from shared.config import settings_from_env

        settings = settings_from_env()
        model_phases = ["sync_models", "sync_categories"]
        first, again, w_first, w_again = [], [], None, None
        for i in range(args.repeats):
            reset_firestore(stack.env)
            t1, r1 = timed_sync(settings, model_phases, f"bench-first-{i}")
            t2, r2 = timed_sync(settings, model_phases, f"bench-again-{i}")
            first.append(t1)
            again.append(t2)
            w_first, w_again = r1.writes, r2.writes
            seen = r1.counts["seen"]
        replay.state.load_week(1)
        full = []
        for i in range(args.repeats):
            reset_firestore(stack.env)
            t, rec = timed_sync(settings, ["sync_models", "sync_categories", "sync_rankings",
                                           "seed_routing", "sync_endpoints"], f"bench-demo-{i}")
            full.append(t)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"Firestore emulator + gcp-storage-emulator on loopback; {args.repeats} repeats, medians")
        print(f"real snapshot {args.snapshot.name}: {seen} models")
        print(f"  first sync (empty catalog), model phases: {statistics.median(first):.2f} s; "
              f"document writes {w_first}")
        print(f"  unchanged re-sync, model phases:          {statistics.median(again):.2f} s; "
              f"document writes {w_again or '{} (none)'}")
        print(f"demo dataset full sync (models, categories, 12 rankings, routing, endpoints): "
              f"{statistics.median(full):.2f} s; writes {rec.writes}; HTTP requests {rec.counts.get('http_requests', 'n/a')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
