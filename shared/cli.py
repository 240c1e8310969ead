"""Operator CLI.

    python -m shared.cli sync --mode full|quick|rankings [--dry-run] [--json]
    python -m shared.cli weekly run [--full|--quick] [--dry-run] [--no-benchmarks] [--download DIR]
    python -m shared.cli weekly status [--run-id ID] [--json]
    python -m shared.cli research scan [--sources FILE] [--as-of YYYY-MM-DD] [--json]
    python -m shared.cli research findings [--since DAYS] [--status S] [--limit N] [--json]
    python -m shared.cli research feedback FINDING_ID (--relevant [--topic T] | --dismissed) --by NAME [--reason TEXT] [--json]
        (exit 0 recorded, 1 no finding with that id, 2 a refused input: unknown topic, reason too long, ...)
    python -m shared.cli research feedback list [--json]
    python -m shared.cli research exemplars [NUMBER] [--json]   (exit 1 when there is no such version)
    python -m shared.cli drift check [--json]     (exit 0 no drift, 1 drift found or a check could not run)
    python -m shared.cli bench run [--suite NAME] [--model ID ...] [--base-url URL] [--max-cases N] [--json]
    python -m shared.cli reports list [--week YYYY-Www] [--json] | reports show [RUN_ID|DAY|PATH] [--week YYYY-Www] [--json]
    python -m shared.cli deadletters list|show ID|replay ID|purge (ID ... | --all) [--json]
    python -m shared.cli ops poison [--limit N] [--json]
    python -m shared.cli status ID [--json]      (any record id, or the id of the message that made it)
    python -m shared.cli serving history [--limit N] | show [N] | rollback --to N --reason TEXT --by NAME [--json]
    python -m shared.cli changes list [--status S] | show ID | approve ID | reject ID --by NAME --reason TEXT
    python -m shared.cli changes apply [ID ...] --by NAME --reason TEXT [--demo] [--timeout S] [--json]
        (applies approved changes now: candidate, post-change benchmark, promoted or rolled back;
        exit 0 promoted or nothing to apply, 1 rolled back or not promoted, 3 still measuring at --timeout)

Backends: the environment (GCP, or emulators) as configured; when no emulator variable and no
GOOGLE_CLOUD_PROJECT is set and .local/stack.env exists (after `make up`), that file is used.
Exit codes: 0 done, 1 the work failed (or what was asked for does not exist), 2 bad usage or configuration (an unreachable backend
included: known within seconds), 3 timed out, 4 the run finished but SAFE=false and --require-safe
was given, 5 an unexpected internal error (a bug: --verbose prints its traceback), 130
interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from shared.messages import JOB_FINISHED, RUN_FINISHED
from shared.pipeline import REPO_ROOT

STACK_ENV = REPO_ROOT / ".local" / "stack.env"


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def load_stack_env(path: Path | None) -> str:
    """Adopt the local stack's environment unless the caller configured a backend already."""
    configured = any(os.environ.get(k) for k in ("GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST",
                                                  "FIRESTORE_EMULATOR_HOST"))
    if path is None or configured or not path.exists():
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "<unset>")
        emulated = " (emulators)" if os.environ.get("FIRESTORE_EMULATOR_HOST") else ""
        return f"backend: project {project}{emulated} from the environment"
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            os.environ.setdefault(key, value)
    return f"backend: local emulators from {path}"


# With --json, stdout holds exactly one JSON document: main() sends every other print (and any
# library's) to stderr and keeps the real stdout here for the document.
_document_out: Any = None


def _print_json(data: Any) -> None:
    _emit(json.dumps(data, indent=2, default=str))


def _emit(document: str) -> None:
    print(document, file=_document_out or sys.stdout)


def cmd_sync(args: argparse.Namespace) -> int:
    from shared.catalog.sync import run_sync
    from shared.text import new_id
    from shared.config import get_settings
    from shared.log import configure

    settings = get_settings()
    settings.require_project()
    configure("WARNING" if args.json else settings.log_level)
    rec = run_sync(settings, args.mode, new_id(f"cli-{args.mode}"), dry_run=args.dry_run)
    if args.json:
        _print_json(rec.model_dump(mode="json"))
    else:
        print(f"sync {rec.sync_run_id}: {rec.status} in {rec.duration_s}s")
        print("counts: " + ", ".join(f"{k}={v}" for k, v in rec.counts.items()))
        for key in ("added", "deactivated", "reactivated"):
            if getattr(rec, key):
                print(f"{key}: {', '.join(getattr(rec, key)[:20])}"
                      + (" …" if len(getattr(rec, key)) > 20 else ""))
        for p in rec.price_changes[:20]:
            print(f"price change {p['model_id']}: {p['changes']}")
        for r in rec.rejected[:20]:
            print(f"rejected entry {r.index} ({r.model_id or 'no readable id'}): {r.reason}")
        for d in rec.schema_drift[:20]:
            print(f"schema drift {d.path}: {d.count} model(s), expected {d.expected}; e.g. {d.example}")
        for e in rec.errors[:20]:
            print(f"isolated error: {e}")
        if rec.error:
            print(f"FAILED: {rec.error}")
    return 0 if rec.status in JOB_FINISHED else 1


def cmd_research_scan(args: argparse.Namespace) -> int:
    from datetime import date

    from shared.config import get_settings
    from shared.log import configure
    from shared.research.config import ResearchConfigError
    from shared.research.scan import run_scan

    settings = get_settings()
    settings.require_project()
    configure("WARNING" if args.json else settings.log_level)
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        _err(f"--as-of must be YYYY-MM-DD, got {args.as_of!r}")
        return 2
    try:
        rec = run_scan(settings, f"cli-scan-{int(time.time())}", as_of,
                       str(args.sources) if args.sources else None)
    except ResearchConfigError as exc:
        _err(str(exc))
        return 2
    if args.json:
        _print_json(rec.model_dump(mode="json"))
    else:
        print(f"scan {rec.scan_id}: {rec.status} in {rec.duration_s}s (window {rec.window_start:%Y-%m-%d} "
              f"to {rec.window_end:%Y-%m-%d}; scorer {rec.scorer})")
        print("counts: " + ", ".join(f"{k}={v}" for k, v in rec.counts.items()))
        for s in rec.sources:
            extra = f" — {s.error}" if s.error else ""
            print(f"  {s.name:22} {s.status:12} http {s.http_statuses} fetched {s.fetched} new {s.new} "
                  f"dup {s.duplicate} irrelevant {s.irrelevant}{extra}")
        if rec.findings_uri:
            print(f"findings: {rec.findings_uri}")
    return 0 if rec.status in JOB_FINISHED else 1


def cmd_research_findings(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta, timezone

    from shared.config import get_settings
    from shared.research.feedback import finding_row
    from shared.research.store import repository

    if not 0 < args.since <= 36500 or args.limit < 1:
        _err("--since takes a number of days above 0 (at most 36500) and --limit a number of findings >= 1")
        return 2
    get_settings().require_project()
    since = datetime.now(timezone.utc) - timedelta(days=args.since)
    found = [f for f in repository().findings_since(since) if args.status is None or f.get("status") == args.status]
    found.sort(key=lambda f: (f.get("first_seen_at") or since, f["id"]), reverse=True)
    rows = [finding_row(f) for f in found[:args.limit]]
    if args.json:
        _print_json({"since": since, "count": len(found), "items": rows})
        return 0
    for r in rows:
        mark = f"  [{r['feedback']['label']} by {r['feedback']['by']}]" if r.get("feedback") else ""
        print(f"{r['id']}  {r['status']:9} {r['impact'] or '-':6} {r['topic'] or '-'}: {r['title'][:90]}{mark}")
    more = f" (the newest {len(rows)} shown; --limit)" if len(found) > len(rows) else ""
    print(f"{len(found)} finding(s) first seen in the last {args.since:g} day(s)"
          + (f" with status {args.status}" if args.status else "") + more)
    return 0


def cmd_research_exemplars(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from shared.research.feedback import ExemplarVersion
    from shared.research.store import repository

    if args.number is not None and args.number < 1:
        _err("the exemplar version number is 1 or more")
        return 2
    get_settings().require_project()
    store = repository()
    doc = store.exemplar_version(args.number) if args.number else store.latest_exemplar_version()
    if doc is None:
        _err(f"no exemplar version {args.number}" if args.number
             else "no exemplar version yet: no finding has been marked (research feedback)")
        return 1
    version = ExemplarVersion.model_validate(doc)
    if args.json:
        _print_json(version.model_dump(mode="json"))
        return 0
    for e in version.examples:
        topic = f" ({e.topic})" if e.topic else ""
        print(f"{e.at:%Y-%m-%d %H:%M}  {e.label:9}{topic}  {e.id}  {e.title[:70]}")
    c = version.counts
    print(f"exemplar version {version.number}: {c.get('relevant', 0)} relevant, {c.get('dismissed', 0)} dismissed "
          f"example(s), {c.get('omitted', 0)} omitted; hash {version.content_hash[:12]}; made "
          f"{version.created_at:%Y-%m-%d %H:%M} UTC by {version.created_by}")
    return 0


def cmd_research_feedback(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from pydantic import ValidationError

    from shared.config import get_settings
    from shared.research import feedback
    from shared.research.config import ResearchConfigError, load_research_config
    from shared.research.store import repository

    settings = get_settings()
    settings.require_project()
    store = repository()
    if args.target == "list" and not (args.relevant or args.dismissed):
        records = sorted(store.list_feedback(), key=lambda r: (r.get("at"), r.get("finding_id")), reverse=True)
        latest = store.latest_exemplar_version()
        summary = feedback.ExemplarVersion.model_validate(latest).summary() if latest else None
        if args.json:
            _print_json({"count": len(records), "items": records, "exemplar_version": summary})
            return 0
        for r in records:
            topic = f" ({r.get('topic')})" if r.get("topic") else ""
            why = f": {r['reason'][:80]}" if r.get("reason") else ""
            print(f"{r['at']:%Y-%m-%d %H:%M}  {r['label']:9}{topic} by {r['by']}  {r['finding_id']}  "
                  f"{str(r.get('title'))[:70]}{why}")
        print(f"{len(records)} feedback record(s); " + (
            f"exemplar version {summary['number']} ({summary['counts']['relevant']} relevant, "
            f"{summary['counts']['dismissed']} dismissed, hash {summary['content_hash'][:12]})" if summary
            else "no exemplar version yet"))
        return 0
    if args.relevant == args.dismissed:
        _err("mark the finding with exactly one of --relevant or --dismissed (or: research feedback list)")
        return 2
    if not args.by:
        _err("--by NAME is required: who marks the finding (recorded)")
        return 2
    try:
        mark = feedback.FeedbackMark(finding_id=args.target, label="relevant" if args.relevant else "dismissed",
                                     topic=args.topic, by=args.by, reason=args.reason)
    except ValidationError as exc:
        _err("invalid feedback: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        return 2
    try:
        config = load_research_config(str(args.sources) if args.sources else settings.research_sources)
    except ResearchConfigError as exc:
        _err(str(exc))
        return 2
    try:
        record, version = feedback.mark(store, [t.name for t in config.topics], mark, datetime.now(timezone.utc))
    except feedback.FeedbackError as exc:
        _err(str(exc))
        return 2
    except feedback.UnknownFinding as exc:
        _err(str(exc).strip("'\""))
        return 1
    summary = version.summary() if version else None
    if args.json:
        _print_json({"feedback": record, "exemplar_version": summary})
        return 0
    topic = f" under {record['topic']}" if record.get("topic") else ""
    replaced = f" (replacing its earlier mark: {record['history'][-1]['label']})" if record.get("history") else ""
    print(f"finding {record['finding_id']} marked {record['label']}{topic} by {record['by']}{replaced}; "
          f"exemplar version {summary['number']}: {summary['counts']['relevant']} relevant, "
          f"{summary['counts']['dismissed']} dismissed example(s)")
    return 0


def cmd_drift_check(args: argparse.Namespace) -> int:
    from shared.catalog.drift import run_drift_check
    from shared.config import get_settings
    from shared.log import configure
    from shared.text import new_id

    settings = get_settings()
    settings.require_project()
    configure("WARNING" if args.json else settings.log_level)
    rec = run_drift_check(settings, new_id("cli-drift"), requested_by="cli")
    if args.json:
        _print_json(rec.model_dump(mode="json"))
    else:
        print(rec.summary())
        for name, check in rec.checks.items():
            print(f"  {name:20} {check.status:14} {check.detail or ''}")
        for f in rec.findings[:50]:
            print(f"  {f.kind:26} {f.what}  at {f.where}: expected {f.expected}, found {f.found}")
        if len(rec.findings) > 50:
            print(f"  … {len(rec.findings) - 50} more in drift_checks/{rec.check_id}")
    return 0 if rec.result == "clean" else 1


def cmd_bench_run(args: argparse.Namespace) -> int:
    from shared.bench import fanout
    from shared.config import get_settings
    from shared.log import configure

    if args.base_url:
        os.environ["LLM_BASE_URL"] = args.base_url
        get_settings.cache_clear()
    settings = get_settings()
    settings.require_project()
    configure("WARNING" if args.json else settings.log_level)
    bench_id = f"cli-bench-{int(time.time())}"
    summaries: list[dict[str, Any]] = []
    out = fanout.start_bench(settings, bench_id, "adhoc", args.model or [], args.suite, args.max_cases,
                             None, lambda b, i: fanout.run_shard(settings, b, i, summaries.append),
                             summaries.append)
    summary = summaries[-1] if summaries else out
    if summary.get("status") == "failed":
        _err(summary["error"])
        return 2
    if args.json:
        _print_json(summary)
    else:
        print_bench_summary(summary)
    return 0 if summary.get("status") == "complete" else 1


def print_bench_summary(summary: dict[str, Any]) -> None:
    if summary.get("status") in ("refused", "failed"):
        print(f"benchmark {summary['bench_id']} {summary['status'].upper()}: {summary['error']}")
        return
    label = " [SIMULATED]" if summary.get("simulated") else ""
    print(f"benchmark {summary['bench_id']}{label}: {summary['status']}, verdict {summary['verdict']} "
          f"({summary['units']} calls, suite {summary['suite']}, estimate ≤ ${summary['estimate']['usd_upper_bound']})")
    for model, m in summary["models"].items():
        score = f"{m['score']:.1f} [{m['score_ci95'][0]:.1f}, {m['score_ci95'][1]:.1f}]" if "score" in m else "n/a"
        print(f"  {model}: score {score}, pass rate {m.get('pass_rate')}, errored {m['errored']}/{m['cases']}, "
              f"latency avg {m.get('latency_avg_s')} s p95 {m.get('latency_p95_s')} s, cost ${m.get('cost_usd')}")
        print(f"    {m['regression']['text']}")
        for cat, c in m["categories"].items():
            print(f"    {cat:17} {c['score']:6.1f} (n={c['n']}, 95% CI {c['ci95'][0]:.1f}–{c['ci95'][1]:.1f})")
        for e in m.get("errors", []):
            print(f"    error: {e}")
    print(f"per-case results: {summary['results_prefix']}")


def _stage_line(run: dict[str, Any]) -> str:
    stages = run.get("stages") or {}
    return " → ".join(f"{name}:{(stages.get(name) or {}).get('status', 'pending')}"
                      for name in run.get("chain") or stages)


def follow_run(run_id: str, timeout_s: float, out=print) -> dict[str, Any] | None:
    from shared.cycle import runs

    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        run = runs.get_run(run_id)
        if run is not None:
            line = f"[{run.get('status')}] {_stage_line(run)}"
            if line != last:
                out(line)
                last = line
            if run.get("status") in RUN_FINISHED:
                return run
        time.sleep(0.5)
    return None


def download_report(run: dict[str, Any], directory: Path) -> list[Path]:
    """Copy the run's report files into `directory`, at their path under reports/
    (`DIR/YYYY-MM-DD/<run_id>/report.md`), so copies of two runs never overwrite each other."""
    from shared.platform import storage
    from shared.report import layout

    saved = []
    directory.mkdir(parents=True, exist_ok=True)
    for uri in (run.get("report") or {}).values():
        bucket, path = storage.split_uri(uri)
        relative = Path(path.removeprefix(layout.PREFIX))
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"not a report path: {uri}")
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(storage.read_bytes(bucket, path))
        saved.append(target)
    return saved


def safe_line(run: dict[str, Any]) -> str:
    """SAFE with its flags, from the policy (records written before the flags existed read as not demo)."""
    from shared.policy import safe_label

    return safe_label(bool(run.get("safe")), bool(run.get("demo")), bool(run.get("simulated")))


def cmd_weekly_run(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from shared.cycle.trigger import request_weekly_run
    from shared.messages import RunOptions

    get_settings().require_project()
    out = request_weekly_run(RunOptions(full=not args.quick, dry_run=args.dry_run,
                                        benchmarks=not args.no_benchmarks), requested_by="cli")
    print(f"published weekly cycle request to {out['topic']} (message {out['message_id']}); "
          f"run id {out['run_id']}")
    run = follow_run(out["run_id"], args.timeout)
    if run is not None and run.get("status") == "rejected":      # one cycle at a time
        print(f"{run.get('reason')}: following {run['running_run_id']} instead")
        run = follow_run(run["running_run_id"], args.timeout)
    if run is None:
        _err(f"run {out['run_id']} did not finish within {args.timeout:.0f}s; "
             f"check `python -m shared.cli weekly status --run-id {out['run_id']}` and the function logs")
        return 3
    report = run.get("report") or {}
    print(f"run {run['run_id']} {run['status']}; {safe_line(run)}")
    for reason in run.get("reasons") or []:
        print(f"  - {reason}")
    if report:
        print(f"report: {report.get('markdown')}")
        print(f"        {report.get('json')}")
        if args.download:
            for path in download_report(run, args.download):
                print(f"local copy: {path}")
    if run["status"] != "completed":
        return 1
    if args.require_safe and not (run.get("safe") and not run.get("demo")):
        return 4      # a demo's SAFE=true is about simulated models: never a go-ahead
    return 0


def cmd_weekly_status(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from shared.cycle import runs

    get_settings().require_project()
    run = runs.get_run(args.run_id) if args.run_id else runs.latest_run()
    if run is None:
        _err(f"no weekly run {args.run_id!r}" if args.run_id else "no weekly run yet")
        return 1
    if args.json:
        _print_json(run)
        return 0
    print(f"run {run['run_id']}: {run.get('status')} (started {run.get('started_at')}, "
          f"by {run.get('requested_by')}, options {run.get('options')})")
    for name in run.get("chain") or []:
        st = (run.get("stages") or {}).get(name) or {}
        extra = f" {st.get('duration_s')}s" if st.get("duration_s") is not None else ""
        err = f" — {st['error']}" if st.get("error") else ""
        print(f"  {name:16} {st.get('status', 'pending')}{extra}{err}")
    if run.get("report"):
        print(f"{safe_line(run)}; report {run['report'].get('markdown')}")
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    from shared import operate

    if args.reports_command == "list":
        rows = operate.list_reports(args.week)
        if args.json:
            _print_json(rows)
        else:
            for r in rows:
                print(f"{r['day']}  {r['run_id'] or '(before per-run folders)'}  "
                      f"{r['safe_label'] or '-'}  {r['uri']}")
            print(f"{len(rows)} report(s)" + (f" in week {args.week}" if args.week else ""))
        return 0
    shown = operate.read_report(args.ref, args.week, "json" if args.json else "md")
    if shown["note"]:
        print(shown["note"], file=sys.stderr)
    _emit(shown["text"]) if args.json else print(shown["text"])
    print(f"(from {shown['uri']})", file=sys.stderr)
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    from shared import operate, replay

    if args.dl_command == "list":
        rows = operate.dead_letters(args.limit)
        if args.json:
            _print_json(rows)
            return 0
        for d in rows:
            print(f"{d['message_id']}  {d.get('function')}  topic {d.get('topic')}  attempts "
                  f"{d.get('delivery_attempts')}  record {d.get('record_id')}  {d.get('received_at')}"
                  + (f"  replayed {len(d['replays'])}x" if d.get("replays") else ""))
        print(f"{len(rows)} dead letter(s)")
        return 0
    if args.dl_command == "show":
        _print_json(operate.dead_letter(args.id))
        return 0
    if args.dl_command == "replay":
        try:
            out = replay.replay(args.id)
        except replay.ReplayRefused as exc:
            _err(str(exc))
            return 1
        _print_json(out) if args.json else print(
              f"dead letter {out['replayed']} published again to {out['topic']} as message {out['message_id']}")
        return 0
    if not args.ids and not args.all:
        _err("name the dead letters to purge, or --all")
        return 2
    gone = replay.purge(replay.all_dead_letter_ids() if args.all else args.ids)
    _print_json({"purged": gone}) if args.json else print(f"purged {len(gone)} dead letter(s)")
    return 0


def cmd_ops_poison(args: argparse.Namespace) -> int:
    from shared import operate

    out = operate.poison(args.limit)
    if args.json:
        _print_json(out)
        return 0
    for name, counts in out["counts"].items():
        print(f"{name}: " + (", ".join(f"{fn} {n}" for fn, n in sorted(counts.items())) or "none"))
    for p in out["recent"]:
        print(f"{p.get('at')}  {p.get('function')}  topic {p.get('topic')}  message {p.get('message_id')}: "
              f"{p.get('reason')}\n    payload ({p.get('payload_bytes')} bytes): {p.get('payload', '')[:200]!r}")
    print(f"{len(out['recent'])} recent poison message(s) shown")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from shared import operate

    found = operate.find(args.id)
    if args.json:
        _print_json(found)
        return 0
    record = found.get("record") or {}
    via = f" (created by message {found['message']['message_id']})" if found.get("message") else ""
    print(f"{found['kind']} {found['id']}{via}: {record.get('status', 'no record')}")
    if found.get("dead_lettered"):
        print(f"  dead-lettered: message(s) {', '.join(found['dead_letters'])}; "
              f"see `python -m shared.cli deadletters show ID`")
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from shared.planning import plans

    store = plans.repository()
    if args.changes_command == "list":
        items = store.reviews(args.status)
        if args.json:
            _print_json(items)
            return 0
        for r in items:
            who = f" by {r['decided_by']}: {r['reason']}" if r.get("decided_by") else ""
            print(f"{r['change_id']}  {r['status']:8}  {r['risk']:6} {r['kind']} {r['target']} (run {r['run_id']}){who}")
        print(f"{len(items)} review item(s)" + (f" {args.status}" if args.status else ""))
        return 0
    if args.changes_command == "show":
        item = store.review(args.id)
        if item is None:
            _err(f"no review item {args.id!r}")
            return 1
        _print_json(plans.present(item))
        return 0
    if args.changes_command == "apply":
        return _apply_now(args, store)
    verdict = "approved" if args.changes_command == "approve" else "rejected"
    outcome, why = plans.decide_review(store, args.id, verdict, args.by, args.reason, datetime.now(timezone.utc))
    if outcome != "decided":
        item = store.review(args.id) or {}
        _err(f"no review item {args.id!r}" if outcome == "missing" else f"{args.id}: {why}" if outcome == "blocked"
             else f"{args.id} was {item.get('status')} already (by {item.get('decided_by')})")
        return 1
    _print_json({"change_id": args.id, "status": verdict}) if args.json else print(
          f"{args.id} {verdict} by {args.by}; the next weekly cycle's upgrade applies approved changes"
          if verdict == "approved" else f"{args.id} rejected by {args.by}")
    return 0


def _apply_now(args: argparse.Namespace, store: Any) -> int:
    """Publish an apply request to the upgrade function and follow its outcome to the end."""
    from shared.cycle.trigger import request_apply
    from shared.serving import store as serving_store
    from shared.serving.stage import compact
    from shared.serving.store import MEASURING

    approved = {r["change_id"] for r in store.reviews("approved")}
    missing = [i for i in args.ids if i not in approved]
    if missing or not approved:
        _err(f"not approved (or applied already): {', '.join(missing)}" if missing
             else "no approved change waits to be applied (see `changes list --status approved`)")
        return 1
    out = request_apply(args.by, args.reason, args.ids, args.demo)
    print(f"apply request {out['upgrade_id']} published to {out['topic']} (message {out['message_id']})",
          file=sys.stderr)
    serving = serving_store.repository()
    deadline, said = time.monotonic() + args.timeout, None
    while True:
        outcome = serving.upgrade(out["upgrade_id"])
        result = (outcome or {}).get("result")
        if result and result != said:
            print(f"upgrade {out['upgrade_id']}: {result}" + (f" (post-change benchmark {outcome.get('post_bench_id')})"
                                                              if result == MEASURING else ""), file=sys.stderr)
            said = result
        if result and result != MEASURING:
            break
        if time.monotonic() > deadline:
            _err(f"upgrade {out['upgrade_id']} is {result or 'not started'} after {args.timeout:g}s; follow it with "
                 f"`python -m shared.cli status {out['upgrade_id']}`")
            return 3
        time.sleep(1.0)
    if args.json:
        _print_json(compact(outcome))
    elif outcome.get("rolled_back"):
        rb = outcome["rollback"]
        print(f"rolled back: candidate version {rb['candidate_version']} not promoted, serving stays at version "
              f"{rb['kept_version']}: {rb['reason'][:500]}")
    else:
        print(f"{result}" + (f": serving version {outcome['promoted_version']}" if outcome.get("promoted_version")
                             else "") + f"; {len(outcome.get('applied') or [])} applied, "
              f"{len(outcome.get('waiting') or {})} waiting")
    return 0 if result in ("promoted", "nothing to apply") else 1


def cmd_serving(args: argparse.Namespace) -> int:
    from shared.serving import store as serving_store

    store = serving_store.repository()
    if args.serving_command == "history":
        current = store.current_number()
        versions = store.history(args.limit)
        if args.json:
            _print_json({"current": current, "versions": [v.model_dump(mode="json", exclude={"models", "categories",
                         "routing", "prompts", "strategies"}) for v in versions], "events": store.events(args.limit)})
            return 0
        for v in versions:
            mark = "*" if v.number == current else " "
            print(f"{mark} v{v.number} (parent {v.parent}) {v.created_at:%Y-%m-%d %H:%M} by {v.created_by}: "
                  f"{len(v.changes)} change(s); {v.reason}")
        print(f"current version: {current if current is not None else 'none yet'} (* above)")
        return 0
    if args.serving_command == "show":
        number = args.number if args.number is not None else store.current_number()
        version = store.version(number) if number is not None else None
        if version is None:
            _err(f"no serving version {number}" if number is not None else "no serving version yet")
            return 1
        _print_json(version.model_dump(mode="json"))
        return 0
    current = store.current_number()
    outcome = store.point_to(args.to, current, f"operator:{args.by}", args.reason)
    if outcome != "pointed":
        _err(f"version {args.to} does not exist" if outcome == "missing" else
             "the pointer moved while this ran; look at `serving history` and try again")
        return 1
    _print_json({"from": current, "to": args.to}) if args.json else print(
          f"serving pointer moved from version {current} to {args.to} by {args.by}: {args.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shared.cli", description="Weekly improvement pipeline")
    p.add_argument("--stack-env", type=Path, default=STACK_ENV,
                   help="local stack env file to adopt when no backend is configured (default .local/stack.env)")
    p.add_argument("--verbose", action="store_true", help="print the traceback of an unexpected error")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sync", help="run one catalog sync in-process and print its sync-run record")
    s.add_argument("--mode", choices=["full", "quick", "rankings"], required=True)
    s.add_argument("--dry-run", action="store_true", help="compute changes, write no catalog document")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sync)
    rs = sub.add_parser("research", help="research agent")
    rsub = rs.add_subparsers(dest="research_command", required=True)
    scan = rsub.add_parser("scan", help="run one research scan in-process and print its record")
    scan.add_argument("--sources", type=Path, help="research YAML (default RESEARCH_SOURCES or built-in)")
    scan.add_argument("--as-of", help="scan date YYYY-MM-DD (default today, UTC)")
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(func=cmd_research_scan)
    rf = rsub.add_parser("findings", help="the findings on the blackboard (their ids, for feedback), newest first")
    rf.add_argument("--since", type=float, default=7.0, help="first seen in the last DAYS days (default 7)")
    rf.add_argument("--status", choices=["new", "seen", "proposed", "dismissed"])
    rf.add_argument("--limit", type=int, default=200, help="show at most N (default 200)")
    rf.add_argument("--json", action="store_true")
    rf.set_defaults(func=cmd_research_findings)
    fb = rsub.add_parser("feedback", help="mark a finding relevant or dismissed (a labelled example for the "
                                          "semantic scorer), or `feedback list`")
    fb.add_argument("target", metavar="FINDING_ID|list", help="the finding to mark (see `research findings`), "
                                                              "or `list`: every feedback record")
    which = fb.add_mutually_exclusive_group()
    which.add_argument("--relevant", action="store_true", help="the finding is relevant")
    which.add_argument("--dismissed", action="store_true", help="the finding is not relevant")
    fb.add_argument("--topic", help="with --relevant: the configured topic it is relevant to "
                                    "(default: the finding's topic)")
    fb.add_argument("--by", help="who marks it (recorded)")
    fb.add_argument("--reason", help="why (recorded; at most 500 characters)")
    fb.add_argument("--sources", type=Path, help="research YAML whose topics are valid (default RESEARCH_SOURCES "
                                                 "or built-in)")
    fb.add_argument("--json", action="store_true")
    fb.set_defaults(func=cmd_research_feedback)
    ex = rsub.add_parser("exemplars", help="an exemplar version (the examples the scorer learned from feedback) "
                                           "with every example; the newest by default")
    ex.add_argument("number", nargs="?", type=int, help="the version number (default: the newest)")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(func=cmd_research_exemplars)
    dr = sub.add_parser("drift", help="drift check")
    drsub = dr.add_subparsers(dest="drift_command", required=True)
    drc = drsub.add_parser("check", help="run the drift check in-process, keep its record and print it")
    drc.add_argument("--json", action="store_true")
    drc.set_defaults(func=cmd_drift_check)
    b = sub.add_parser("bench", help="benchmark agent")
    bsub = b.add_subparsers(dest="bench_command", required=True)
    br = bsub.add_parser("run", help="run a benchmark in-process and print the run summary")
    br.add_argument("--suite", help="suite name or folder (default BENCH_SUITE, builtin-v1)")
    br.add_argument("--model", action="append", help="model id (repeat; default: routing table primaries)")
    br.add_argument("--base-url", help="OpenAI-compatible base URL (default LLM_BASE_URL / OpenRouter)")
    br.add_argument("--max-cases", type=int, help="at most this many cases per category")
    br.add_argument("--json", action="store_true")
    br.set_defaults(func=cmd_bench_run)
    w = sub.add_parser("weekly", help="weekly cycle")
    wsub = w.add_subparsers(dest="weekly_command", required=True)
    r = wsub.add_parser("run", help="publish a weekly cycle request and follow it to the end")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", default=True, help="full catalog sync (default)")
    mode.add_argument("--quick", action="store_true", help="quick sync instead of full")
    r.add_argument("--dry-run", action="store_true")
    r.add_argument("--no-benchmarks", action="store_true")
    r.add_argument("--timeout", type=float, default=900.0, help="seconds to follow the run (default 900)")
    r.add_argument("--download", type=Path, help="save the report files into this directory")
    r.add_argument("--require-safe", action="store_true", help="exit 4 when the run ends SAFE=false")
    r.set_defaults(func=cmd_weekly_run)
    st = wsub.add_parser("status", help="a run's record (default: the latest)")
    st.add_argument("--run-id")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_weekly_status)
    rp = sub.add_parser("reports", help="the weekly reports in the bucket")
    rpsub = rp.add_subparsers(dest="reports_command", required=True)
    rl = rpsub.add_parser("list", help="one row per run, newest first")
    rl.add_argument("--week", help="ISO week, e.g. 2026-W48")
    rl.add_argument("--json", action="store_true")
    rs_ = rpsub.add_parser("show", help="print a report (default: the newest)")
    rs_.add_argument("ref", nargs="?", metavar="RUN_ID|DAY|PATH",
                     help="a run id, a day (2026-11-29) or a name under reports/; the newest run when several match")
    rs_.add_argument("--week", help="the newest report of this ISO week")
    rs_.add_argument("--json", action="store_true", help="the JSON rendering instead of Markdown")
    for parser in (rl, rs_):
        parser.set_defaults(func=cmd_reports)
    dl = sub.add_parser("deadletters", help="messages that failed every delivery attempt")
    dlsub = dl.add_subparsers(dest="dl_command", required=True)
    dll = dlsub.add_parser("list")
    dll.add_argument("--limit", type=int, default=50)
    dls = dlsub.add_parser("show")
    dls.add_argument("id", help="the dead message's id")
    dlr = dlsub.add_parser("replay", help="publish its body again to the topic it was first published to")
    dlr.add_argument("id")
    dlp = dlsub.add_parser("purge", help="delete dead letters (after reading or replaying them)")
    dlp.add_argument("ids", nargs="*")
    dlp.add_argument("--all", action="store_true")
    for parser in (dll, dls, dlr, dlp):
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(func=cmd_deadletters)
    ops = sub.add_parser("ops", help="operations data")
    opsub = ops.add_subparsers(dest="ops_command", required=True)
    po = opsub.add_parser("poison", help="dropped-message counts and the last poison messages")
    po.add_argument("--limit", type=int, default=20)
    po.add_argument("--json", action="store_true")
    po.set_defaults(func=cmd_ops_poison)
    sv = sub.add_parser("serving", help="the serving configuration's versions and pointer")
    svsub = sv.add_subparsers(dest="serving_command", required=True)
    svh = svsub.add_parser("history", help="versions, newest first, and the pointer moves")
    svh.add_argument("--limit", type=int, default=20)
    svs = svsub.add_parser("show", help="one version whole (default: the current one)")
    svs.add_argument("number", type=int, nargs="?")
    svr = svsub.add_parser("rollback", help="point the platform at an earlier version (audited)")
    svr.add_argument("--to", type=int, required=True)
    svr.add_argument("--reason", required=True)
    svr.add_argument("--by", required=True, help="who decides (recorded)")
    for parser in (svh, svs, svr):
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(func=cmd_serving)
    ch = sub.add_parser("changes", help="gated changes waiting for a person")
    chsub = ch.add_subparsers(dest="changes_command", required=True)
    chl = chsub.add_parser("list")
    chl.add_argument("--status", choices=["pending", "approved", "rejected", "applied", "rolled_back"])
    chs = chsub.add_parser("show")
    chs.add_argument("id")
    decided = [chsub.add_parser(name, help=f"{name} a pending change (recorded with who and why)")
               for name in ("approve", "reject")]
    for parser in decided:
        parser.add_argument("id")
        parser.add_argument("--by", required=True)
        parser.add_argument("--reason", required=True)
    cha = chsub.add_parser("apply", help="apply approved changes now (post-change benchmark, then promoted or "
                                         "rolled back) instead of at the next weekly cycle")
    cha.add_argument("ids", nargs="*", help="approved change ids (none: every approved change not yet applied)")
    cha.add_argument("--by", required=True)
    cha.add_argument("--reason", required=True)
    cha.add_argument("--demo", action="store_true", help="accept a simulated post-change benchmark (demo stacks)")
    cha.add_argument("--timeout", type=float, default=900, help="seconds to follow the outcome (default 900)")
    for parser in (chl, chs, *decided, cha):
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(func=cmd_changes)
    sts = sub.add_parser("status", help="any record by id, or the record a message id created")
    sts.add_argument("id")
    sts.add_argument("--json", action="store_true")
    sts.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    global _document_out
    args = build_parser().parse_args(argv)
    if not getattr(args, "json", False):
        return _main(args)
    _document_out = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return _main(args)
    finally:
        _document_out = None


def _main(args: argparse.Namespace) -> int:
    try:
        print(load_stack_env(args.stack_env), file=sys.stderr)
    except (OSError, UnicodeDecodeError) as exc:   # a folder, no permission, a binary file
        _err(f"cannot read --stack-env {args.stack_env}: {getattr(exc, 'strerror', None) or exc}")
        return 2
    from shared.config import ConfigError
    from shared.platform import backend
    from shared.platform.http import SourceError

    try:
        backend.probe()      # every command reads Firestore: learn within seconds that it cannot
        return args.func(args)
    except (ConfigError, backend.BackendUnavailable) as exc:
        _err(str(exc))
        return 2
    except SourceError as exc:
        _err(str(exc))
        return 1
    except LookupError as exc:      # operate.NotFound: nothing with that id or name
        _err(str(exc).strip("'\""))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # the operator gets one clear line; --verbose adds the traceback
        reason = backend.describe(exc)
        if reason is not None:
            _err(reason)
            return 2
        if args.verbose:
            import traceback

            traceback.print_exc()
        _err(f"unexpected {exc.__class__.__name__}: {exc}" + ("" if args.verbose else
                                                                " (run with --verbose for the traceback)"))
        return 5


if __name__ == "__main__":
    sys.exit(main())
