"""Manual triggers shared by the api function and the CLI: publish exactly what the
scheduler publishes, with an id the caller can follow."""
from __future__ import annotations

from typing import Any

from shared.messages import (ApplyApproved, BenchRequest, CatalogSyncRequest, ResearchScanRequest, RunOptions,
                             SyncMode, WeeklyCycleRequest)
from shared.pipeline import load_manifest
from shared.platform import pubsub
from shared.text import new_id


def request_weekly_run(options: RunOptions | None = None, requested_by: str = "manual",
                       run_id: str | None = None) -> dict[str, Any]:
    request = WeeklyCycleRequest(**(options or RunOptions()).model_dump(),
                                 run_id=run_id or new_id("weekly"), requested_by=requested_by)
    topic = load_manifest().function("weekly_cycle").trigger_topic
    message_id = pubsub.publish(topic, request)
    return {"run_id": request.run_id, "topic": topic, "message_id": message_id}


def request_sync(mode: SyncMode, dry_run: bool = False, requested_by: str = "manual") -> dict[str, Any]:
    request = CatalogSyncRequest(mode=mode, dry_run=dry_run, request_id=new_id(f"sync-{mode}"),
                                 requested_by=requested_by)
    topic = load_manifest().function("catalog_sync").trigger_topic
    message_id = pubsub.publish(topic, request)
    return {"sync_run_id": request.request_id, "mode": mode, "topic": topic, "message_id": message_id}


def request_research_scan(as_of: str | None = None, requested_by: str = "manual") -> dict[str, Any]:
    request = ResearchScanRequest(scan_id=new_id("scan"), as_of=as_of, requested_by=requested_by)
    topic = load_manifest().function("research_scan").trigger_topic
    message_id = pubsub.publish(topic, request)
    return {"scan_id": request.scan_id, "topic": topic, "message_id": message_id}


def request_drift_check(requested_by: str = "manual") -> dict[str, Any]:
    from shared.catalog.drift_request import request_drift_check as publish

    return publish(new_id("drift"), requested_by)


def request_bench(models: list[str] | None = None, suite: str | None = None,
                  max_cases_per_category: int | None = None, requested_by: str = "manual") -> dict[str, Any]:
    request = BenchRequest(bench_id=new_id("bench"), models=models or [], suite=suite,
                           max_cases_per_category=max_cases_per_category, requested_by=requested_by)
    if suite:
        from shared.bench.suite import SuiteError, builtin_suites

        if suite not in builtin_suites():   # before anything is published: the run would only fail
            raise SuiteError(f"unknown suite {suite!r}; built-in suites: {builtin_suites()}")
    topic = load_manifest().function("benchmark").trigger_topic
    message_id = pubsub.publish(topic, request)
    return {"bench_id": request.bench_id, "topic": topic, "message_id": message_id}


def request_apply(by: str, reason: str, change_ids: list[str] | None = None, demo: bool = False) -> dict[str, Any]:
    """Ask the upgrade function to apply approved changes now (the same candidate → post-change
    benchmark → promote or roll back path as the weekly cycle); follow `upgrades/{upgrade_id}`."""
    request = ApplyApproved(upgrade_id=new_id("apply"), change_ids=change_ids or [], by=by, reason=reason, demo=demo)
    topic = load_manifest().function("upgrade").trigger_topic
    message_id = pubsub.publish(topic, request)
    return {"upgrade_id": request.upgrade_id, "topic": topic, "message_id": message_id}
