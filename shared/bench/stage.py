"""benchmark function logic: the weekly stage (pre-change), on-demand runs, and shards."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Union

from pydantic import RootModel

from shared.bench import fanout
from shared.config import get_settings
from shared.cycle import runs
from shared.log import get_logger, log_context
from shared.messages import BenchRequest, BenchShard, RunContext, StageDone
from shared.pipeline import load_manifest
from shared.platform import pubsub
from shared.platform.events import EventMeta

log = get_logger(__name__)
STAGE = "benchmark"
STAGE_LEASE_S = 3600  # a fanned-out run finishes in a later invocation


class BenchmarkMessage(RootModel[Union[StageDone, BenchShard, BenchRequest]]):
    """benchmark-requests carries the weekly hand-over, on-demand requests and shards."""


def publish_shard(bench_id: str, shard: int) -> None:
    pubsub.publish(load_manifest().function(STAGE).trigger_topic, BenchShard(bench_id=bench_id, shard=shard),
                   bench_id=bench_id)


def weekly_completion(ctx: RunContext, started: datetime):
    def done(summary: dict[str, Any]) -> None:
        ok = summary.get("status") == "complete"
        error = None if ok else summary.get("error") or f"benchmark {summary.get('status')}"
        runs.complete_stage(ctx, STAGE, "succeeded" if ok else "failed", started, summary, error)
    return done


def _completion_for(bench_id: str):
    """A shard of a weekly run completes the weekly stage when it aggregates."""
    doc = fanout.load_bench(bench_id) or {}
    ctx_raw = doc.get("weekly_ctx")
    if not ctx_raw:
        return None
    ctx = RunContext.model_validate(ctx_raw)
    return weekly_completion(ctx, doc.get("created_at"))


def handle_benchmark_message(message: BenchmarkMessage, meta: EventMeta) -> None:
    msg = message.root
    settings = get_settings()
    if isinstance(msg, BenchShard):
        with log_context(stage="benchmark-shard", bench_id=msg.bench_id):
            fanout.run_shard(settings, msg.bench_id, msg.shard, _completion_for(msg.bench_id))
        return
    if isinstance(msg, BenchRequest):
        bench_id = msg.bench_id or f"bench-{meta.message_id}"
        with log_context(stage="benchmark-adhoc", bench_id=bench_id):
            fanout.start_bench(settings, bench_id, msg.phase, msg.models, msg.suite, msg.max_cases_per_category,
                               None, publish_shard)
        return
    ctx = msg.run
    with log_context(run_id=ctx.run_id, stage=STAGE):
        if not ctx.options.benchmarks:
            if runs.claim_stage(ctx.run_id, STAGE, 60) == "claimed":
                runs.complete_stage(ctx, STAGE, "skipped", datetime.now(timezone.utc), {"reason": "benchmarks=false"},
                                    "benchmarks were disabled for this run")
            return

        def work(started: datetime) -> None:
            bench_id = f"{ctx.run_id}.benchmark-pre"
            fanout.start_bench(settings, bench_id, "pre", [], None, None, ctx.run_id, publish_shard,
                               weekly_completion(ctx, started), weekly_ctx=ctx.model_dump(mode="json"))

        runs.run_stage(ctx, STAGE, STAGE_LEASE_S, work)
