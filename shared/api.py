"""Routes of the `api` HTTP function. Thin: validate at the edge, call shared logic, answer JSON.

Every answer is JSON with an `X-Request-Id` header; every error names what to change and carries
the request id (the api log has the details under it). A body over 64 KiB is a 413, a body that
is not JSON a 415, a known path with another method a 405 with `Allow`. What is accepted (202)
can be processed: ids, model ids and suite names are checked here, not at the fifth retry.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.config import ConfigError, get_settings
from shared.log import configure, get_logger, log_context
from shared.messages import MAX_MODELS_PER_REQUEST, ModelId

log = get_logger(__name__)
MAX_BODY_BYTES = 64 * 1024
RECORD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")   # every id the pipeline creates fits


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _respond(status: int, body: dict[str, Any], request_id: str, headers: dict[str, str]) -> Any:
    import flask

    return flask.Response(json.dumps(body, default=_json_default), status=status, mimetype="application/json",
                          headers={**headers, "X-Request-Id": request_id})


def _record_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not RECORD_ID.match(value):
        raise ApiError(400, f"invalid {what} id: 1-128 characters of letters, digits, '_', '.', ':', '-'")
    return value


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def weekly_run(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle.runs import running_cycle
    from shared.cycle.trigger import request_weekly_run
    from shared.messages import RunOptions

    opts = RunOptions.model_validate(body)
    running = running_cycle()
    if running is not None:     # one cycle at a time: answer with the one that runs
        return 409, {"error": f"a weekly cycle is already running: {running['run_id']}",
                     "run_id": running["run_id"], "status_url": f"/weekly/status?run_id={running['run_id']}"}
    out = request_weekly_run(opts, requested_by="api")
    return 202, {**out, "status_url": f"/weekly/status?run_id={out['run_id']}"}


def weekly_status(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle import runs

    run_id = body.get("run_id") or query.get("run_id")
    run = runs.get_run(_record_id(run_id, "run")) if run_id else runs.latest_run()
    if run is None:
        raise ApiError(404, f"no weekly run {run_id!r}" if run_id else "no weekly run yet")
    return 200, run


def openrouter_sync(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle.trigger import request_sync

    out = request_sync("quick", dry_run=_flag(body.get("dry_run", query.get("dry_run", "0"))),
                       requested_by="api")
    return 202, {**out, "status_url": f"/openrouter/sync/status?id={out['sync_run_id']}"}


def rankings_sync(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle.trigger import request_sync

    full = _flag(body.get("full", query.get("full", "0")))
    out = request_sync("full" if full else "rankings", requested_by="api")
    return 202, {**out, "status_url": f"/openrouter/sync/status?id={out['sync_run_id']}"}


def _record(body: dict[str, Any], query: dict[str, str], loader: Callable[[str], Any],
            what: str) -> tuple[int, dict[str, Any]]:
    """GET a run record by ?id=: 400 without an id, 404 while it does not exist yet."""
    record_id = body.get("id") or query.get("id")
    if not record_id:
        raise ApiError(400, f"give the {what} id: ?id=<id>")
    rec = loader(_record_id(record_id, what))
    if rec is None:
        from shared.platform import message_log

        letters = message_log.dead_letters_for_record(record_id)
        if letters:        # its request died before it made a record: say so, not "not found (yet)"
            return 200, {"id": record_id, "status": "dead_lettered",
                         "dead_letters": [d["message_id"] for d in letters],
                         "detail": f"the request for this {what} failed every delivery attempt; "
                                   f"see /deadletters/show?id=<message id>"}
        raise ApiError(404, f"no {what} {record_id!r} (yet: a published request starts within seconds)")
    return 200, rec if isinstance(rec, dict) else rec.model_dump(mode="json")


def sync_status(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.catalog.sync import load_record

    return _record(body, query, load_record, "sync run")


def research_scan(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle.trigger import request_research_scan

    out = request_research_scan(as_of=body.get("as_of") or query.get("as_of"), requested_by="api")
    return 202, {**out, "status_url": f"/research/scan/status?id={out['scan_id']}"}


def research_scan_status(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.research.store import repository

    return _record(body, query, repository().load_scan, "research scan")


def _research_topics() -> list[str]:
    from shared.research.config import ResearchConfigError, load_research_config

    try:
        return [t.name for t in load_research_config(get_settings().research_sources).topics]
    except ResearchConfigError as exc:
        log.error("the research configuration cannot be read", error=str(exc))
        raise ApiError(500, "the research configuration cannot be read; the api log has the reason") from None


def research_feedback(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Mark a finding relevant (optionally under a configured topic) or dismissed."""
    from datetime import datetime, timezone

    from shared.research import feedback
    from shared.research.store import repository

    mark = feedback.FeedbackMark.model_validate(body)
    try:
        record, version = feedback.mark(repository(), _research_topics(), mark, datetime.now(timezone.utc))
    except feedback.FeedbackError as exc:
        raise ApiError(400, str(exc)) from None
    except feedback.UnknownFinding as exc:
        raise ApiError(404, str(exc).strip("'\"")) from None
    return 200, {"feedback": record, "exemplar_version": version.summary() if version else None}


def research_feedback_list(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Every feedback record, newest mark first (or ?finding_id= one), and the newest exemplar version."""
    from shared.research.feedback import MAX_FINDING_ID, ExemplarVersion
    from shared.research.store import repository

    store = repository()
    finding_id = body.get("finding_id") or query.get("finding_id")
    if finding_id is not None:
        if not isinstance(finding_id, str) or len(finding_id) > MAX_FINDING_ID:
            raise ApiError(400, f"finding_id must be a finding's id (at most {MAX_FINDING_ID} characters)")
        record = store.load_feedback(finding_id)
        if record is None:
            raise ApiError(404, f"no feedback on finding {finding_id[:200]!r}")
        return 200, record
    records = sorted(store.list_feedback(), key=lambda r: (r.get("at"), r.get("finding_id")), reverse=True)
    latest = store.latest_exemplar_version()
    return 200, {"count": len(records), "items": records[:_limit(query, 100)],
                 "exemplar_version": ExemplarVersion.model_validate(latest).summary() if latest else None}


def research_findings(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The findings first seen in the last ?days= days (default 7), newest first: their ids for feedback."""
    from datetime import datetime, timedelta, timezone

    from shared.research.feedback import finding_row
    from shared.research.store import repository

    try:
        days = float(query.get("days", body.get("days", 7)))
    except (TypeError, ValueError):
        raise ApiError(400, "days must be a number of days") from None
    if not 0 < days <= 36500:
        raise ApiError(400, "days must be above 0 and at most 36500")
    since = datetime.now(timezone.utc) - timedelta(days=days)
    found = sorted(repository().findings_since(since), key=lambda f: (f.get("first_seen_at") or since, f["id"]),
                   reverse=True)
    return 200, {"since": since, "count": len(found), "items": [finding_row(f) for f in found[:_limit(query, 100)]]}


def drift_check(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle.trigger import request_drift_check

    out = request_drift_check(requested_by="api")
    return 202, {**out, "status_url": f"/drift/status?id={out['check_id']}"}


def drift_status(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.catalog.drift import load_record

    return _record(body, query, load_record, "drift check")


class BenchRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelId] = Field([], max_length=MAX_MODELS_PER_REQUEST)
    suite: str | None = Field(None, max_length=64)
    max_cases_per_category: int | None = Field(None, ge=1, le=10_000)


def bench_run(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle.trigger import request_bench

    from shared.bench.suite import SuiteError

    opts = BenchRunBody.model_validate(body)
    try:
        out = request_bench(opts.models, opts.suite, opts.max_cases_per_category, requested_by="api")
    except SuiteError as exc:
        raise ApiError(400, str(exc)) from None
    return 202, {**out, "status_url": f"/bench/status?id={out['bench_id']}"}


def bench_status(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.bench.fanout import load_bench

    return _record(body, query, load_bench, "benchmark run")


def _limit(query: dict[str, str], default: int) -> int:
    try:
        return max(1, min(int(query.get("limit", default)), 500))
    except ValueError:
        raise ApiError(400, "limit must be a whole number") from None


def _week(body: dict[str, Any], query: dict[str, str]) -> str | None:
    week = body.get("week") or query.get("week")
    if week is not None and not (isinstance(week, str) and re.fullmatch(r"\d{4}-W\d{2}", week)):
        raise ApiError(400, "week must look like 2026-W48 (an ISO week)")
    return week


def _operate(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    from shared.operate import NotFound

    try:
        out = call()
    except NotFound as exc:
        raise ApiError(404, str(exc).strip("'\"")) from None
    return 200, out if isinstance(out, dict) else {"items": out}


def reports_list(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared import operate

    return _operate(lambda: operate.list_reports(_week(body, query), _limit(query, 100)))


def reports_show(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared import operate

    ref = body.get("name") or query.get("name") or body.get("run_id") or query.get("run_id")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 300):
        raise ApiError(400, "name must be a run id, a day or a report object name such as "
                            "reports/2026-11-29/weekly-2026-W48/report.md")
    fmt = "json" if (body.get("format") or query.get("format")) == "json" else "md"

    def show() -> dict[str, Any]:
        return {**operate.read_report(ref, _week(body, query), fmt), "format": fmt}
    return _operate(show)


def deadletters_list(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared import operate

    return _operate(lambda: operate.dead_letters(_limit(query, 50)))


def deadletters_show(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared import operate

    message_id = _record_id(body.get("id") or query.get("id"), "message")
    return _operate(lambda: operate.dead_letter(message_id))


def ops_poison(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared import operate

    return _operate(lambda: operate.poison(_limit(query, 20)))


def record_status(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared import operate

    record_id = _record_id(body.get("id") or query.get("id"), "record or message")
    return _operate(lambda: operate.find(record_id))


def serving_history(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.serving import store as serving_store

    store = serving_store.repository()
    limit = _limit(query, 20)
    bookkeeping = {"models", "categories", "routing", "prompts", "strategies"}
    return 200, {"current": store.current_number(), "events": store.events(limit),
                 "versions": [v.model_dump(mode="json", exclude=bookkeeping) for v in store.history(limit)]}


def serving_show(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.serving import store as serving_store

    store = serving_store.repository()
    raw = body.get("number", query.get("number"))
    try:
        number = int(raw) if raw is not None else store.current_number()
    except (TypeError, ValueError):
        raise ApiError(400, "number must be a version number") from None
    version = store.version(number) if number is not None else None
    if version is None:
        raise ApiError(404, f"no serving version {number}" if number is not None else "no serving version yet")
    return 200, version.model_dump(mode="json")


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: int = Field(ge=1)
    reason: str = Field(min_length=3, max_length=500)
    by: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@ -]+$")


def serving_rollback(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.serving import store as serving_store

    req = RollbackBody.model_validate(body)
    store = serving_store.repository()
    current = store.current_number()
    outcome = store.point_to(req.to, current, f"operator:{req.by}", req.reason)
    if outcome == "missing":
        raise ApiError(404, f"no serving version {req.to}")
    if outcome == "moved":
        raise ApiError(409, "the serving pointer moved meanwhile; read /serving/history and try again")
    return 200, {"from": current, "to": req.to, "by": req.by, "reason": req.reason}


def changes_list(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from typing import get_args

    from shared.planning import plans
    from shared.planning.plans import ReviewStatus

    status = body.get("status") or query.get("status")
    if status not in (None, *get_args(ReviewStatus)):
        raise ApiError(400, f"status must be one of {', '.join(get_args(ReviewStatus))}")
    return 200, {"items": plans.repository().reviews(status)}


def changes_show(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.planning import plans

    change_id = _record_id(body.get("id") or query.get("id"), "change")
    item = plans.repository().review(change_id)
    if item is None:
        raise ApiError(404, f"no review item {change_id!r}")
    return 200, plans.present(item)


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=RECORD_ID.pattern)
    reason: str = Field(min_length=3, max_length=500)
    by: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@ -]+$")


def _decide(body: dict[str, Any], verdict: str) -> tuple[int, dict[str, Any]]:
    from datetime import datetime, timezone

    from shared.planning import plans

    req = DecisionBody.model_validate(body)
    store = plans.repository()
    outcome, why = plans.decide_review(store, req.id, verdict, req.by, req.reason, datetime.now(timezone.utc))
    if outcome == "missing":
        raise ApiError(404, f"no review item {req.id!r}")
    if outcome == "blocked":
        raise ApiError(409, f"{req.id}: {why}")
    if outcome == "already":
        item = store.review(req.id) or {}
        raise ApiError(409, f"{req.id} was {item.get('status')} already (by {item.get('decided_by')})")
    return 200, {"change_id": req.id, "status": verdict, "by": req.by}


def changes_approve(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    return _decide(body, "approved")


def changes_reject(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    return _decide(body, "rejected")


class ApplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field([], max_length=100, description="empty: every approved change not yet applied")
    reason: str = Field(min_length=3, max_length=500)
    by: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@ -]+$")
    demo: bool = False


def changes_apply(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.cycle.trigger import request_apply
    from shared.planning import plans

    req = ApplyBody.model_validate(body)
    for change_id in req.ids:
        _record_id(change_id, "change")
    approved = {r["change_id"] for r in plans.repository().reviews("approved")}
    missing = [i for i in req.ids if i not in approved] if req.ids else []
    if missing or not approved:
        raise ApiError(409, f"not approved (or applied already): {', '.join(missing)}" if missing
                       else "no approved change waits to be applied")
    out = request_apply(req.by, req.reason, req.ids, req.demo)
    return 202, {**out, "status_url": f"/upgrades/status?id={out['upgrade_id']}"}


def upgrade_status(body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from shared.serving import store as serving_store
    from shared.serving.stage import compact

    upgrade_id = _record_id(body.get("id") or query.get("id"), "upgrade")
    outcome = serving_store.repository().upgrade(upgrade_id)
    if outcome is None:
        raise ApiError(404, f"no upgrade {upgrade_id!r} (yet: an apply request is handled within seconds)")
    return 200, compact(outcome)


Handler = Callable[[dict[str, Any], dict[str, str]], tuple[int, dict[str, Any]]]
ACTIONS: dict[str, Handler] = {
    "weekly.run": weekly_run,
    "weekly.status": weekly_status,
    "openrouter.sync": openrouter_sync,
    "openrouter.rankings.sync": rankings_sync,
    "openrouter.sync.status": sync_status,
    "research.scan": research_scan,
    "research.scan.status": research_scan_status,
    "research.findings": research_findings,
    "research.feedback": research_feedback,
    "research.feedback.list": research_feedback_list,
    "drift.check": drift_check,
    "drift.status": drift_status,
    "bench.run": bench_run,
    "bench.status": bench_status,
    "reports.list": reports_list,
    "reports.show": reports_show,
    "deadletters.list": deadletters_list,
    "deadletters.show": deadletters_show,
    "ops.poison": ops_poison,
    "status": record_status,
    "serving.history": serving_history,
    "serving.show": serving_show,
    "serving.rollback": serving_rollback,
    "changes.list": changes_list,
    "changes.show": changes_show,
    "changes.approve": changes_approve,
    "changes.reject": changes_reject,
    "changes.apply": changes_apply,
    "upgrades.status": upgrade_status,
}
ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/weekly/run"): "weekly.run",
    ("GET", "/weekly/status"): "weekly.status",
    ("POST", "/openrouter/sync"): "openrouter.sync",
    ("POST", "/openrouter/rankings/sync"): "openrouter.rankings.sync",
    ("GET", "/openrouter/sync/status"): "openrouter.sync.status",
    ("POST", "/research/scan"): "research.scan",
    ("GET", "/research/scan/status"): "research.scan.status",
    ("GET", "/research/findings"): "research.findings",
    ("POST", "/research/feedback"): "research.feedback",
    ("GET", "/research/feedback"): "research.feedback.list",
    ("POST", "/drift/check"): "drift.check",
    ("GET", "/drift/status"): "drift.status",
    ("POST", "/bench/run"): "bench.run",
    ("GET", "/bench/status"): "bench.status",
    ("GET", "/reports"): "reports.list",
    ("GET", "/reports/show"): "reports.show",
    ("GET", "/deadletters"): "deadletters.list",
    ("GET", "/deadletters/show"): "deadletters.show",
    ("GET", "/ops/poison"): "ops.poison",
    ("GET", "/status"): "status",
    ("GET", "/serving/history"): "serving.history",
    ("GET", "/serving/show"): "serving.show",
    ("POST", "/serving/rollback"): "serving.rollback",
    ("GET", "/changes"): "changes.list",
    ("GET", "/changes/show"): "changes.show",
    ("POST", "/changes/approve"): "changes.approve",
    ("POST", "/changes/reject"): "changes.reject",
    ("POST", "/changes/apply"): "changes.apply",
    ("GET", "/upgrades/status"): "upgrades.status",
}


def _request_id(request: Any) -> str:
    """Cloud Run's trace id when it came with one (the logs carry it too), else a new one."""
    trace = (request.headers.get("X-Cloud-Trace-Context") or "").split("/")[0]
    return trace if re.fullmatch(r"[0-9a-f]{32}", trace) else uuid.uuid4().hex


def _allowed(path: str) -> list[str]:
    return ["POST"] if path == "/" else sorted(m for m, p in ROUTES if p == path)


def _read_body(request: Any) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, f"the body is over {MAX_BODY_BYTES // 1024} KiB")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"the body is over {MAX_BODY_BYTES // 1024} KiB")
    if not raw.strip():
        return {}
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "send the body as JSON with Content-Type: application/json "
                            f"(it came as {mimetype[:60] or 'no content type'})")
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return parsed


def _dispatch(request: Any, path: str) -> tuple[int, dict[str, Any]]:
    allowed = _allowed(path)
    if not allowed:
        known = ", ".join(f"{m} {p}" for m, p in ROUTES)
        raise ApiError(404, f"no route {path[:100]}; routes: {known}; or POST / with an \"action\"")
    if request.method not in allowed:
        raise ApiError(405, f"{path} takes {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
    body = _read_body(request)
    if path == "/":
        action = body.pop("action", None)
        if not action:
            raise ApiError(400, "POST / needs a JSON body with \"action\": one of " + ", ".join(sorted(ACTIONS)))
        if not isinstance(action, str) or action not in ACTIONS:
            raise ApiError(400, "unknown action; actions: " + ", ".join(sorted(ACTIONS)))
    else:
        action = ROUTES[(request.method, path)]
    from shared.platform import backend

    backend.probe()     # a frozen or unreachable backend is a 503 within seconds, not a hung request
    status, out = ACTIONS[action](body, dict(request.args))
    log.info("api action", action=action, status=status)
    return status, out


def _error(exc: Exception) -> tuple[int, str]:
    """The status and one line for a failure; the unexpected ones are logged with their trace."""
    from shared.platform import backend

    if isinstance(exc, ApiError):
        return exc.status, str(exc)
    if isinstance(exc, ValidationError):
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))[:80]}: {e['msg']}" for e in exc.errors()[:5])
        return 400, f"invalid request: {reasons}"
    if isinstance(exc, ConfigError):
        log.error("the api is misconfigured", error=str(exc))
        return 500, f"the api is misconfigured: {exc}"
    reason = str(exc) if isinstance(exc, backend.BackendUnavailable) else backend.describe(exc)
    if reason is not None:
        log.error("backend unavailable", error=reason)
        return 503, "the pipeline's backend is unavailable; try again later"
    log.exception("unexpected error in the api")
    return 500, "internal error; the api log has the details under this request_id"


def handle(request: Any) -> Any:
    request_id = _request_id(request)
    path = "/" + request.path.strip("/")
    with log_context(function="api", path=path[:200], request_id=request_id):
        try:
            configure(get_settings().log_level)
            status, out = _dispatch(request, path)
            return _respond(status, out, request_id, {})
        except Exception as exc:   # every failure is a JSON answer, 5xx included
            status, message = _error(exc)
            headers = exc.headers if isinstance(exc, ApiError) else {}
            return _respond(status, {"error": message, "request_id": request_id}, request_id, headers)
