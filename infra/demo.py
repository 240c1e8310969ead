"""`make demo` (offline) and `make run` (live OpenRouter).

Demo: brings up the local cloud with a replay server serving the committed demo datasets
(infra/demo_data/openrouter and infra/demo_data/research: DEMO DATA, synthetic), seeds the
catalog with week 1 through a full sync published on catalog-sync-requests, switches the replay
server to week 2, runs a research scan through research-scan-requests, runs the weekly cycle
through Pub/Sub, prints stage progress and the report, and keeps a local copy
under .local/reports/. Live: the same weekly cycle against OPENROUTER_BASE_URL (default
https://openrouter.ai/api/v1), without the seeding step.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from infra import local_stack
from infra.model_simulator import SimulatorServer
from infra.replay_server import ReplayServer, ReplayState
from shared.pipeline import REPO_ROOT

DATASET = REPO_ROOT / "infra" / "demo_data" / "openrouter"
RESEARCH = REPO_ROOT / "infra" / "demo_data" / "research"
DEMO_SCAN_DATE = "2026-11-22"  # the demo research feeds are dated around this day
SIMULATOR_CONFIG = REPO_ROOT / "infra" / "simulator.yaml"
# every demo model was first seen minutes ago: the packaged policy's 7-day age guard would defer
# every routing change, so the demo uses a copy without it (and says so)
DEMO_RISK_POLICY = REPO_ROOT / "infra" / "demo_data" / "risk_policy.demo.yaml"
# The demo benchmark calls the simulator, which costs nothing; the estimate still prices the
# calls from the demo catalog as if they went to OpenRouter (× HTTP_MAX_ATTEMPTS), and the spend
# ledger counts them, so the run, daily and weekly caps are set above it.
DEMO_BENCH_ENV = {"BENCH_BUDGET_USD": "200", "BENCH_DAILY_BUDGET_USD": "1000", "BENCH_WEEKLY_BUDGET_USD": "5000",
                  "BENCH_CONCURRENCY": "16"}


def write_research_sources(replay_root: str, target: Path) -> Path:
    """The demo research configuration with the replay server's address filled in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((RESEARCH / "sources.template.yaml").read_text().replace("{replay}", replay_root))
    return target


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def say_plan(run_id: str) -> None:
    """The planner's plan of the run: its changes by decision, highest priority first."""
    from shared.planning import plans

    plan = plans.repository().get(run_id)
    if plan is None:
        say("no plan was made (see the planner stage in the run record)")
        return
    say(f"plan against serving version {plan.based_on}: {len(plan.changes)} change(s)")
    for c in plan.changes:
        mark = " (SIMULATED evidence)" if c.simulated else ""
        say(f"  {c.decision:10} {c.risk:6} {c.kind} {c.target}{mark}: {c.decision_rule}")
    from shared.serving import store as serving_store

    upgrade = serving_store.repository().upgrade(run_id) or {}
    say(f"upgrade: {upgrade.get('result', 'no outcome recorded')}"
        + (f" (serving version {upgrade['promoted_version']})" if upgrade.get("promoted_version") else "")
        + f"; {len(upgrade.get('applied') or [])} applied, {len(upgrade.get('waiting') or {})} waiting")


def approve_and_apply(run_id: str, timeout_s: float = 300) -> bool:
    """DEMO: approve the week's gated routing change as a person would, apply it now, and show
    its post-change benchmark (SIMULATED) and whether it was promoted or rolled back."""
    from datetime import datetime, timezone

    from shared.cycle.trigger import request_apply
    from shared.planning import plans
    from shared.serving import store as serving_store
    from shared.serving.store import MEASURING

    store = plans.repository()
    gated = [r for r in store.reviews("pending") if r["run_id"] == run_id and r["kind"] == "routing_primary"]
    if not gated:
        say("no gated routing change this week: nothing to approve")
        return True
    item = gated[0]
    say(f"review item {item['change_id']} waits: {item['kind']} {item['target']} "
        f"{item['change']['before']['primary']} → {item['change']['after']['primary']} ({item['risk']})")
    store.decide(item["change_id"], "approved", "demo-operator",
                 "DEMO: approved by the demo script (in production a person decides)", datetime.now(timezone.utc))
    say(f"approved by demo-operator; applying it now (python -m shared.cli changes apply {item['change_id']} "
        f"--by demo-operator --reason ... --demo)")
    out = request_apply("demo-operator", "DEMO: apply the approved routing change", [item["change_id"]], demo=True)
    deadline = time.monotonic() + timeout_s
    outcome: dict = {}
    while time.monotonic() < deadline:
        outcome = serving_store.repository().upgrade(out["upgrade_id"]) or {}
        if outcome.get("result") not in (None, MEASURING):
            break
        time.sleep(0.5)
    else:
        say(f"upgrade {out['upgrade_id']} did not finish in {timeout_s:.0f}s ({outcome.get('result')})")
        return False
    post = outcome.get("post_benchmark") or {}
    say(f"post-change benchmark {post.get('bench_id')} (SIMULATED: {', '.join(post.get('simulated_because') or [])}): "
        f"{(outcome.get('post_change') or {}).get('text')}")
    for c in (outcome.get("post_change") or {}).get("comparisons") or []:
        v = c["verdict"]
        say(f"  {c['route']:12} {c['category']:17} {c['before']} {v.get('baseline_pass_rate')} → {c['after']} "
            f"{v.get('current_pass_rate')}: {v['state']}")
    if outcome.get("rolled_back"):
        rb = outcome["rollback"]
        say(f"upgrade {out['upgrade_id']}: ROLLED BACK, serving stays at version {rb['kept_version']}: {rb['reason'][:300]}")
    else:
        say(f"upgrade {out['upgrade_id']}: {outcome['result']}"
            + (f" (serving version {outcome['promoted_version']})" if outcome.get("promoted_version") else ""))
    return outcome.get("result") in ("promoted", "rolled back")


def wait_for(loader, record_id: str, what: str, timeout_s: float = 300) -> dict:
    """Poll a run record (sync, scan) until it leaves "running"."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rec = loader(record_id)
        if rec and rec.status not in ("running",):
            return rec.model_dump(mode="json")
        time.sleep(0.5)
    raise TimeoutError(f"{what} {record_id} did not finish in {timeout_s:.0f}s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--live", action="store_true", help="use the live OpenRouter API (make run)")
    p.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".local" / "demo-stack")
    p.add_argument("--reports-dir", type=Path, default=REPO_ROOT / ".local" / "reports")
    p.add_argument("--keep-up", action="store_true", help="leave the stack running afterwards")
    args = p.parse_args(argv)

    started = time.monotonic()
    replay = simulator = None
    env: dict[str, str] = {}
    if args.live:
        env["OPENROUTER_BASE_URL"] = os.environ.get("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1")
        env.update({k: v for k, v in os.environ.items() if k.startswith(local_stack.PASS_THROUGH) and v})
        say(f"live run against {env['OPENROUTER_BASE_URL']}")
    else:
        replay = ReplayServer(ReplayState(DATASET, week=1, research_dir=RESEARCH)).start()
        env["OPENROUTER_BASE_URL"] = replay.base_url
        env["RESEARCH_SOURCES"] = str(write_research_sources(
            replay.root_url, args.state_dir.parent / "demo-research-sources.yaml"))
        say(f"replay server at {replay.root_url} serving DEMO DATA: OpenRouter week 1 "
            f"({DATASET / 'week1.json'}) and research feeds ({RESEARCH})")
        simulator = SimulatorServer(yaml.safe_load(SIMULATOR_CONFIG.read_text())).start()
        # listed as a simulator: results are labelled simulated whatever the server says
        env.update({"LLM_BASE_URL": simulator.base_url, "SIMULATOR_BASE_URLS": simulator.base_url,
                    "RISK_POLICY_FILE": str(DEMO_RISK_POLICY), **DEMO_BENCH_ENV})
        say(f"model simulator (SIMULATED answers, {SIMULATOR_CONFIG.name}) at {simulator.base_url}")
        say(f"planner risk policy {DEMO_RISK_POLICY.relative_to(REPO_ROOT)} (DEMO: no minimum model age)")

    if local_stack.Stack.load(args.state_dir):
        local_stack.down(args.state_dir, log=say)  # a previous demo was interrupted
    try:
        local_stack.up(args.state_dir, env, log=say)
    except local_stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        from shared.cli import download_report, follow_run, safe_line
        from shared.cycle.trigger import request_research_scan, request_sync, request_weekly_run
        from shared.messages import RunOptions

        if replay is not None:
            say("week 1: full catalog sync published on catalog-sync-requests (seeds the catalog)")
            seed = request_sync("full", requested_by="demo")
            from shared.catalog.sync import load_record
            from shared.research.store import repository as research_store

            rec = wait_for(load_record, seed["sync_run_id"], "sync")
            say(f"week 1 sync {rec['status']}: {rec['counts'].get('added')} models added, "
                f"{len(rec['rankings'])} category rankings, routing seeded for "
                f"{len(rec['routing_seeded'])} categories ({rec['duration_s']}s)")
            replay.state.load_week(2)
            say("replay server now serves DEMO DATA week 2 (see _changes_vs_week1 in week2.json)")
            say(f"research scan published on research-scan-requests (as_of {DEMO_SCAN_DATE})")
            scan = request_research_scan(as_of=DEMO_SCAN_DATE, requested_by="demo")
            rec = wait_for(research_store().load_scan, scan["scan_id"], "research scan")
            c = rec["counts"]
            say(f"research scan {rec['status']}: {c.get('fetched')} items from {c.get('sources')} sources, "
                f"{c.get('new')} new relevant findings, {c.get('duplicate')} duplicates, "
                f"{c.get('irrelevant')} irrelevant, {c.get('proposals')} proposals ({rec['duration_s']}s); "
                f"findings file {rec['findings_uri']}")

        demo = replay is not None      # offline: simulated models, so the run is marked demo
        say("weekly cycle published on weekly-cycle-requests "
            f'({{"full": true, "dry_run": false, "benchmarks": true, "demo": {str(demo).lower()}}})')
        out = request_weekly_run(RunOptions(demo=demo), requested_by="demo")
        run = follow_run(out["run_id"], 600, out=lambda line: say(f"run {out['run_id']} {line}"))
        if run is None:
            say(f"the weekly run did not finish; logs in {args.state_dir / 'logs'}")
            return 1
        say_plan(out["run_id"])
        saved = download_report(run, args.reports_dir)
        if replay is not None and rec.get("findings_uri"):  # the day's research findings file too
            from shared.platform import storage

            bucket, path = storage.split_uri(rec["findings_uri"])
            target = args.reports_dir / f"research-findings-{Path(path).name}"
            target.write_bytes(storage.read_bytes(bucket, path))
            saved.append(target)
        report = run.get("report") or {}
        say(f"report written to {report.get('markdown')} and {report.get('json')}")
        for path in saved:
            say(f"local copy: {path}")
        md = next((s for s in saved if s.suffix == ".md"), None)
        if md:
            print("\n" + md.read_text())
        applied_ok = True
        if replay is not None:
            applied_ok = approve_and_apply(out["run_id"])
        say(f"{safe_line(run)}; demo finished in "
            f"{time.monotonic() - started:.1f}s")
        return 0 if run.get("status") == "completed" and applied_ok else 1
    finally:
        if args.keep_up:
            say(f"stack left running; env in {args.state_dir / 'stack.env'}; "
                f"stop with: python -m infra.local_stack down --state-dir {args.state_dir}")
        else:
            local_stack.down(args.state_dir, log=say)
        if replay is not None and not args.keep_up:
            replay.stop()
        if simulator is not None and not args.keep_up:
            simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
