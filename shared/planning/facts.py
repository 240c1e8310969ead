"""Gathering the planner's evidence from this run's records, and making sure a serving version
exists to plan against (version 1 from the catalog the first sync stored)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.catalog.store import CatalogStore
from shared.catalog.sync import load_record
from shared.planning.planner import ModelFacts, PlanningFacts, RankingFacts
from shared.policy import ModelVerdict
from shared.serving.bootstrap import MODEL_FIELDS, ensure_version_one
from shared.serving.models import ServingVersion
from shared.serving.store import ServingStore

ROUTING_KINDS = ("routing_primary", "fallback_update")


def current_serving(catalog: CatalogStore, serving: ServingStore, now: datetime, run_id: str) -> ServingVersion:
    """The version to plan against (version 1 from the catalog if no sync has made it yet)."""
    return ensure_version_one(catalog, serving, now, f"planner:{run_id}")


def gather(run: dict[str, Any], catalog: CatalogStore, serving: ServingStore, now: datetime) -> PlanningFacts:
    stages = run.get("stages") or {}
    sync_id = ((stages.get("catalog_sync") or {}).get("summary") or {}).get("sync_run_id")
    sync = load_record(sync_id, catalog) if sync_id else None
    bench = (stages.get("benchmark") or {}).get("summary") or {}
    unavailable = set((sync.endpoints or {}).get("unavailable") or []) if sync else set()
    models = {mid: ModelFacts(**{**doc, "id": mid}, endpoints_down=mid in unavailable)
              for mid, doc in catalog.models(MODEL_FIELDS).items()}
    verdicts = {m: ModelVerdict.model_validate(info["regression"])
                for m, info in (bench.get("models") or {}).items() if isinstance(info.get("regression"), dict)}
    categories = catalog.categories()
    return PlanningFacts(
        run_id=run["run_id"], now=now, demo=bool((run.get("options") or {}).get("demo")),
        sync_run_id=sync_id,
        added=sync.added if sync else [], deactivated=sync.deactivated if sync else [],
        reactivated=sync.reactivated if sync else [],
        price_changes=[{"model": p["model_id"], "new": (models.get(p["model_id"]) or ModelFacts(id="")).pricing}
                       for p in (sync.price_changes if sync else [])],
        new_categories=[categories[s] for s in ((sync.categories or {}).get("added") or []) if s in categories]
        if sync else [],
        models=models,
        rankings={slug: RankingFacts(ranked=info.get("top") or [], snapshot_id=info.get("snapshot_id") or "")
                  for slug, info in ((sync.rankings if sync else {}) or {}).items()},
        bench_id=bench.get("bench_id"), bench_simulated=bool(bench.get("simulated")), verdicts=verdicts,
        routing_changes_this_week=routing_changes_since(serving, now - timedelta(days=7)))


def routing_changes_since(serving: ServingStore, since: datetime) -> dict[str, int]:
    """Routing changes per category in the versions created since `since`."""
    counts: dict[str, int] = {}
    for version in serving.history(20):
        if version.created_at < since:
            break
        for change in version.changes:
            if change.kind in ROUTING_KINDS:
                counts[change.target] = counts.get(change.target, 0) + 1
    return counts
