"""Drift check duration on the largest recorded OpenRouter snapshot (a perf script, not a test).

    .venv/bin/python -m perf.drift_check [--repeats 5] [--snapshot PATH]

Data: ../shared/fixtures/openrouter/models-2026-05-01.json (the largest by model count), served by
the replay server over loopback HTTP; the catalog is stored by a real quick sync into the
in-memory catalog repository, so the figure is the check itself (fetch, parse, normalise,
compare, the routing and validation reads) without the emulators' latency. One drift is planted
(a stored price) so the comparison does real work; prints the median and the findings.
"""
from __future__ import annotations

import argparse
import platform
import statistics
from pathlib import Path

from infra.replay_server import ReplayServer, ReplayState
from shared.pipeline import REPO_ROOT

SNAPSHOT = REPO_ROOT.parent / "shared" / "fixtures" / "openrouter" / "models-2026-05-01.json"


def main() -> int:
    from shared.catalog.drift import run_drift_check
    from shared.catalog.store import InMemoryCatalogStore
    from shared.catalog.sync import run_sync
    from shared.config import settings_from_env
    from shared.serving.store import InMemoryServingStore

    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    args = p.parse_args()
    if not args.snapshot.exists():
        print(f"skipped: {args.snapshot} is absent (../shared/fixtures is provided beside the repository)")
        return 0
    server = ReplayServer(ReplayState(models_file=args.snapshot)).start()
    try:
        settings = settings_from_env({"OPENROUTER_BASE_URL": server.base_url, "REPORTS_BUCKET": "perf",
                                      "GOOGLE_CLOUD_PROJECT": "perf", "LOG_LEVEL": "WARNING"})
        catalog, serving = InMemoryCatalogStore(), InMemoryServingStore()
        sync = run_sync(settings, "quick", "perf-sync", store=catalog)
        models = catalog.collections["models"]
        planted = next(m for m in sorted(models) if models[m].get("pricing", {}).get("prompt"))
        models[planted]["pricing"]["prompt"] = "1"
        times, rec = [], None
        for i in range(args.repeats):
            rec = run_drift_check(settings, f"perf-{i}", catalog=catalog, serving=serving)
            times.append(rec.duration_s)
    finally:
        server.stop()
    print(f"drift check on {args.snapshot.name}: {len(models)} models stored (sync {sync.status}), "
          f"median {statistics.median(times) * 1000:.0f} ms of {args.repeats} "
          f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); result {rec.result}, counts {rec.counts}; "
          f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
