"""Planning time on the largest real catalog change, and the time to promote and to roll back a
serving version in the Firestore emulator (perf script).

    .venv/bin/python -m perf.planning [--repeats 5]

Data: the pair of consecutive recorded OpenRouter snapshots in ../shared/fixtures/openrouter with
the most added + removed + repriced models. Serving version 1 is built from the older one (every
model, the default categories, routes made from it: category i → models i, i+1, i+2 of the
sorted ids); the newer one supplies the week's evidence, and its sorted ids shifted by one stand
in for ranking leaders (the real rankings fixture is one day of one category). Planning is pure;
promote and roll back are single Firestore transactions on the emulator, timed by median.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shared.catalog.models import parse_models
from shared.config import DEFAULT_CATEGORIES
from shared.pipeline import REPO_ROOT
from shared.planning.planner import ModelFacts, PlanningFacts, RankingFacts, make_plan
from shared.planning.policy import load_policy
from shared.serving.changes import build_candidate, initial_version
from shared.serving.models import load_defaults

FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "openrouter"


def snapshot(path: Path) -> dict[str, dict]:
    models, _ = parse_models(json.loads(path.read_text())["data"])
    return {m.id: {"id": m.id, "name": m.name, "pricing": m.pricing, "capabilities": m.capabilities}
            for m in models}


def largest_pair() -> tuple[Path, Path, dict, dict]:
    paths = sorted(FIXTURES.glob("models-*.json"))
    pairs = []
    for old, new in zip(paths, paths[1:]):
        a, b = snapshot(old), snapshot(new)
        size = len(b.keys() - a.keys()) + len(a.keys() - b.keys()) + sum(
            1 for k in a.keys() & b.keys() if a[k]["pricing"] != b[k]["pricing"])
        pairs.append((size, old, new, a, b))
    _, old, new, a, b = max(pairs, key=lambda p: p[0])
    return old, new, a, b


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    if not FIXTURES.exists():
        print(f"{FIXTURES} is absent (../shared/fixtures is provided beside the repo)")
        return 2
    old_path, new_path, old, new = largest_pair()
    now = datetime.now(timezone.utc)
    ids = sorted(old)
    routing = {cat: {"primary_model": ids[i], "fallbacks": ids[i + 1:i + 3]} for i, cat in enumerate(DEFAULT_CATEGORIES)}
    prompts, strategies = load_defaults()
    v1 = initial_version(list(old.values()), [{"slug": c, "name": c} for c in DEFAULT_CATEGORIES], routing,
                         prompts, strategies, "perf", now - timedelta(days=30))
    new_ids = sorted(new)
    facts = PlanningFacts(
        run_id="perf", now=now, sync_run_id="perf.catalog_sync",
        added=sorted(new.keys() - old.keys()), deactivated=sorted(old.keys() - new.keys()),
        price_changes=[{"model": k, "old": old[k]["pricing"], "new": new[k]["pricing"]}
                       for k in sorted(old.keys() & new.keys()) if old[k]["pricing"] != new[k]["pricing"]],
        models={k: ModelFacts(**v, first_seen_at=now - timedelta(days=60)) for k, v in new.items()}
        | {k: ModelFacts(**v, active=False) for k, v in old.items() if k not in new},
        rankings={cat: RankingFacts(ranked=new_ids[i + 1:i + 4], snapshot_id=f"perf-{cat}")
                  for i, cat in enumerate(DEFAULT_CATEGORIES)})
    policy = load_policy()
    times, plan = [], None
    for _ in range(args.repeats):
        started = time.perf_counter()
        plan = make_plan(facts, v1, policy)
        times.append(time.perf_counter() - started)
    candidate = build_candidate(v1, plan.by_decision("auto_apply"), "perf", "perf", now)
    counts = {d: len(plan.by_decision(d)) for d in ("auto_apply", "gated", "deferred", "rejected")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"medians of {args.repeats}")
    print(f"largest real change: {old_path.name} → {new_path.name}: {len(facts.added)} added, "
          f"{len(facts.deactivated)} removed, {len(facts.price_changes)} repriced; {len(v1.models)} models served")
    print(f"  planning: {statistics.median(times) * 1000:.0f} ms for {len(plan.changes)} changes {counts}")
    print(f"  candidate version {candidate.number}: {len(candidate.models)} models, "
          f"{len(json.dumps(candidate.model_dump(mode='json'))) // 1024} KiB")
    promote_and_roll_back(v1, candidate, args.repeats)
    return 0


def promote_and_roll_back(v1, candidate, repeats: int) -> None:
    """Each a single transaction on the Firestore emulator of a throwaway local stack."""
    import httpx

    from infra import local_stack
    from shared.serving.store import FirestoreServingStore

    state = Path(tempfile.mkdtemp(prefix="perf-planning-"))
    stack = local_stack.up(state, {}, log=lambda m: None)
    os.environ.update(stack.env)
    try:
        store = FirestoreServingStore()
        promote, roll_back, settle = [], [], []
        for i in range(repeats):
            httpx.delete(f"http://{stack.env['FIRESTORE_EMULATOR_HOST']}/emulator/v1/projects/"
                         f"{stack.project}/databases/(default)/documents", timeout=60).raise_for_status()
            assert store.promote(v1) == "promoted"
            started = time.perf_counter()
            assert store.promote(candidate) == "promoted"
            promote.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert store.point_to(1, expected_current=2, by="perf", reason="perf") == "pointed"
            roll_back.append(time.perf_counter() - started)
            assert store.version(1).content() == v1.content()
            # an automatic rollback moves no pointer: it settles the measuring record, once
            store.save_upgrade(f"perf-{i}", {"result": "measuring", "candidate": candidate.model_dump(mode="json")})
            started = time.perf_counter()
            assert store.settle_upgrade(f"perf-{i}", {"result": "rolled back", "rolled_back": True})
            settle.append(time.perf_counter() - started)
        print(f"  promote (create version 2, move the pointer, audit): {statistics.median(promote) * 1000:.0f} ms; "
              f"roll back by hand (pointer to 1, audit): {statistics.median(roll_back) * 1000:.0f} ms; "
              f"automatic rollback of a measured candidate (settle its record; the pointer never moved): "
              f"{statistics.median(settle) * 1000:.0f} ms (Firestore emulator on loopback)")
    finally:
        local_stack.down(state, log=lambda m: None)


if __name__ == "__main__":
    raise SystemExit(main())
