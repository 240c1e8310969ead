"""benchmark function logic: the weekly stage (pre-change), on-demand runs, and shards."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.bench import fanout
from shared.config import get_settings
from shared.cycle.protocol import StageResult, complete_deferred, run_stage, skip_stage
from shared.log import get_logger, log_context
from shared.messages import (BenchmarkMessage, BenchRequest, BenchShard, PostChangeBench, PostChangeMeasured,
                             RunContext)
from shared.pipeline import load_manifest
from shared.platform import pubsub
from shared.platform.events import EventMeta, note_delivery

log = get_logger(__name__)
STAGE = "benchmark"


def publish_shard(bench_id: str, shard: int) -> None:
    pubsub.publish(load_manifest().function(STAGE).trigger_topic, BenchShard(bench_id=bench_id, shard=shard),
                   bench_id=bench_id)


def stage_result(summary: dict[str, Any]) -> StageResult:
    """A benchmark summary as the weekly stage's result (the check itself is the policy's)."""
    ok = summary.get("status") == "complete"
    return StageResult(status="succeeded" if ok else "failed", summary=summary,
                       error=None if ok else summary.get("error") or f"benchmark {summary.get('status')}")


def post_change_measured(upgrade_id: str, bench_id: str) -> None:
    """Tell the upgrade function a post-change run is over: it judges and promotes (or not)."""
    pubsub.publish(load_manifest().function("upgrade").trigger_topic,
                   PostChangeMeasured(upgrade_id=upgrade_id, bench_id=bench_id), upgrade_id=upgrade_id)


def attach_ab(change_id: str, bench_id: str) -> None:
    """An A/B run is over: its paired verdict goes on the change's review item."""
    from shared.serving.ab import attach_result

    attach_result(change_id, bench_id)


def _completion_for(bench_id: str):
    """The run that aggregates completes what waits for it: the (deferred) weekly stage, or the
    upgrade whose candidate it measured."""
    doc = fanout.load_bench(bench_id) or {}
    if doc.get("upgrade_id"):
        upgrade_id = doc["upgrade_id"]
        return lambda summary: post_change_measured(upgrade_id, bench_id)
    if doc.get("ab_change_id"):
        change_id = doc["ab_change_id"]
        return lambda summary: attach_ab(change_id, bench_id)
    ctx_raw = doc.get("weekly_ctx")
    if not ctx_raw:
        return None
    ctx = RunContext.model_validate(ctx_raw)
    return lambda summary: complete_deferred(ctx, STAGE, stage_result(summary))


def handle_benchmark_message(message: BenchmarkMessage, meta: EventMeta) -> None:
    msg = message.root
    settings = get_settings()
    if isinstance(msg, BenchShard):
        with log_context(stage="benchmark-shard", bench_id=msg.bench_id):
            completion = _completion_for(msg.bench_id)
            outcome = fanout.run_shard(settings, msg.bench_id, msg.shard, completion)
            if completion and outcome == "aggregation handled elsewhere":
                summary = (fanout.load_bench(msg.bench_id) or {}).get("summary")
                if summary:
                    completion(summary)   # idempotent: redoes a completion lost with its instance
        return
    if isinstance(msg, PostChangeBench):
        note_delivery(meta, STAGE, "bench_run", msg.bench_id)
        upgrade_id, change_id = msg.upgrade_id, msg.ab_change_id
        done = ((lambda summary: post_change_measured(upgrade_id, msg.bench_id)) if upgrade_id
                else (lambda summary: attach_ab(change_id, msg.bench_id)))
        with log_context(stage="benchmark-post" if upgrade_id else "benchmark-ab", bench_id=msg.bench_id):
            fanout.start_bench(settings, msg.bench_id, "post" if upgrade_id else "ab", [], None, None,
                               msg.weekly_run_id, publish_shard, done,
                               variants={k: t.model_dump(mode="json") for k, t in msg.targets.items()},
                               cases_uri=msg.cases_uri, upgrade_id=upgrade_id, ab_change_id=change_id)
        return
    if isinstance(msg, BenchRequest):
        bench_id = msg.bench_id or f"bench-{meta.message_id}"
        note_delivery(meta, STAGE, "bench_run", bench_id)
        with log_context(stage="benchmark-adhoc", bench_id=bench_id):
            fanout.start_bench(settings, bench_id, msg.phase, msg.models, msg.suite, msg.max_cases_per_category,
                               None, publish_shard)
        return
    ctx = msg.run
    with log_context(run_id=ctx.run_id, stage=STAGE):
        if not ctx.options.benchmarks:
            skip_stage(ctx, STAGE, "benchmarks were disabled for this run")
            return

        def work(started: datetime) -> StageResult:
            bench_id = f"{ctx.run_id}.benchmark-pre"
            finished: list[dict[str, Any]] = []
            out = fanout.start_bench(settings, bench_id, "pre", [], None, None, ctx.run_id, publish_shard,
                                     finished.append, weekly_ctx=ctx.model_dump(mode="json"))
            if finished:          # one inline shard (or a resumed run) finished here
                return stage_result(finished[-1])
            if out.get("status") in ("refused", "failed"):
                return stage_result(out)
            return StageResult(status="deferred", summary={"bench_id": bench_id, "shards": out.get("shards")})

        run_stage(ctx, STAGE, work)
