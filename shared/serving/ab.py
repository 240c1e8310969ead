"""A/B evidence for a gated strategy or prompt template change: the category's route measured
with what it serves now and with what the change would serve, same model, same cases, and the
paired verdict (shared/policy.judge_post_change) attached to the change's review item. A strategy
change cannot be approved without it (shared/planning/plans.approval_blocker)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from shared import policy
from shared.bench import records
from shared.bench import store as results_store
from shared.bench.results import read_outcomes
from shared.config import get_settings
from shared.log import get_logger
from shared.messages import PostChangeBench
from shared.planning import plans
from shared.serving.changes import Change, ChangeConflict, build_candidate
from shared.serving.measure import PostChangePlan, plan_post_change
from shared.serving.models import ServingVersion

log = get_logger(__name__)
AB_CHANGE_KINDS = ("strategy_change", "prompt_template_update")


def ab_bench_id(change_id: str) -> str:
    return f"ab-{change_id}"     # one A/B per change: a redelivery asks for the same run


def ab_request(change: Change, current: ServingVersion) -> tuple[PostChangeBench, PostChangePlan] | None:
    """The A/B run for one change on the version served now (None: it changes no route's answers)."""
    try:
        candidate = build_candidate(current, [change], "ab", "A/B", datetime.now(timezone.utc))
    except ChangeConflict:
        return None
    post = plan_post_change(current, candidate, None, set())   # both sides measured in the same run
    if not post.needed():
        return None
    return PostChangeBench(bench_id=ab_bench_id(change.id), ab_change_id=change.id, targets=post.run), post


def request_ab_tests(changes: list[Change], current: ServingVersion, store: plans.PlanStore,
                     publish: Callable[[PostChangeBench], Any]) -> list[str]:
    """Ask for an A/B of every gated strategy or template change whose item has none yet."""
    asked = []
    for change in changes:
        if change.decision != "gated" or change.kind not in AB_CHANGE_KINDS:
            continue
        item = store.review(change.id)
        if item is None or item.get("status") != "pending" or (item.get("ab") or {}).get("status") in (
                "complete", "failed"):
            continue
        found = ab_request(change, current)
        if found is None:
            store.attach_ab(change.id, {"status": "not needed", "reason": "the change alters no route's answers "
                                                                         "on the version served now"})
            continue
        msg, post = found
        if not item.get("ab"):
            store.attach_ab(change.id, {"status": "running", "bench_id": msg.bench_id,
                                        "routes": [r.model_dump() for r in post.routes],
                                        "based_on": current.number})
        publish(msg)
        asked.append(change.id)
    return asked


def attach_result(change_id: str, bench_id: str, store: plans.PlanStore | None = None,
                  bench_runs: records.BenchRuns | None = None,
                  results: results_store.BenchResults | None = None) -> dict[str, Any] | None:
    """Judge a finished A/B run and put the paired verdict on the review item (once)."""
    store = store or plans.repository()
    bench_runs = bench_runs or records.repository()
    results = results or results_store.repository()
    item = store.review(change_id)
    ab = (item or {}).get("ab") or {}
    if item is None or ab.get("status") != "running" or ab.get("bench_id") != bench_id:
        return ab or None                       # unknown, or attached already (a redelivery)
    bench = bench_runs.get(bench_id) or {}
    summary = bench.get("summary") or {}
    routes = [(r["category"], r["before"], r["after"]) for r in ab["routes"]]
    labels = {x for _, b, a in routes for x in (b, a) if x}
    verdict = policy.judge_post_change(routes, read_outcomes({**bench, "bench_id": bench_id}, labels, results),
                                       {label: bench_id for label in labels},
                                       policy.Thresholds.from_settings(get_settings()))
    complete = bench.get("status") == "complete"
    out = {**ab, "status": "complete" if complete else "failed", "benchmark_status": bench.get("status"),
           "error": bench.get("error"), "simulated": bool(summary.get("simulated")),
           "simulated_because": summary.get("simulated_because") or [],
           "verdict": "no regression" if verdict.promote else "regression", "text": verdict.text,
           "comparisons": [{"route": c.route, "category": c.category, "current": c.before, "proposed": c.after,
                            "current_pass_rate": c.verdict.baseline_pass_rate,
                            "proposed_pass_rate": c.verdict.current_pass_rate, "delta_points": c.verdict.delta_points,
                            "p_value": c.verdict.p_value, "state": c.verdict.state} for c in verdict.comparisons],
           "scores": {label: (summary.get("models") or {}).get(label, {}).get("score") for label in labels}}
    store.attach_ab(change_id, out)
    log.info("A/B result attached", change_id=change_id, bench_id=bench_id, verdict=out["verdict"])
    return out
