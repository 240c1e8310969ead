"""Routes of the `api` HTTP function. Thin: validate, call shared logic, answer JSON."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.config import ConfigError, get_settings
from shared.log import configure, get_logger, log_context

log = get_logger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _respond(status: int, body: dict[str, Any]) -> Any:
    import flask

    return flask.Response(json.dumps(body, default=_json_default), status=status,
                          mimetype="application/json")


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
    run = runs.get_run(run_id) if run_id else runs.latest_run()
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
    rec = loader(record_id)
    if rec is None:
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


class BenchRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[str] = []
    suite: str | None = None
    max_cases_per_category: int | None = None


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


Handler = Callable[[dict[str, Any], dict[str, str]], tuple[int, dict[str, Any]]]
ACTIONS: dict[str, Handler] = {
    "weekly.run": weekly_run,
    "weekly.status": weekly_status,
    "openrouter.sync": openrouter_sync,
    "openrouter.rankings.sync": rankings_sync,
    "openrouter.sync.status": sync_status,
    "research.scan": research_scan,
    "research.scan.status": research_scan_status,
    "bench.run": bench_run,
    "bench.status": bench_status,
}
ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/weekly/run"): "weekly.run",
    ("GET", "/weekly/status"): "weekly.status",
    ("POST", "/openrouter/sync"): "openrouter.sync",
    ("POST", "/openrouter/rankings/sync"): "openrouter.rankings.sync",
    ("GET", "/openrouter/sync/status"): "openrouter.sync.status",
    ("POST", "/research/scan"): "research.scan",
    ("GET", "/research/scan/status"): "research.scan.status",
    ("POST", "/bench/run"): "bench.run",
    ("GET", "/bench/status"): "bench.status",
}


def handle(request: Any) -> Any:
    configure(get_settings().log_level)
    path = "/" + request.path.strip("/")
    with log_context(function="api", path=path):
        try:
            body: dict[str, Any] = {}
            if request.get_data():
                parsed = request.get_json(silent=True)
                if not isinstance(parsed, dict):
                    raise ApiError(400, "the request body must be a JSON object")
                body = parsed
            if path == "/":
                action = body.pop("action", None)
                if request.method != "POST" or not action:
                    raise ApiError(400, "POST / needs a JSON body with \"action\": one of "
                                        + ", ".join(sorted(ACTIONS)))
            else:
                action = ROUTES.get((request.method, path))
                if action is None:
                    known = ", ".join(f"{m} {p}" for m, p in ROUTES)
                    raise ApiError(404, f"no route {request.method} {path}; routes: {known}")
            if action not in ACTIONS:
                raise ApiError(400, f"unknown action {action!r}; actions: " + ", ".join(sorted(ACTIONS)))
            status, out = ACTIONS[action](body, dict(request.args))
            log.info("api action", action=action, status=status)
            return _respond(status, out)
        except ApiError as exc:
            return _respond(exc.status, {"error": str(exc)})
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return _respond(400, {"error": f"invalid request: {reasons}"})
        except ConfigError as exc:
            log.error("configuration error", error=str(exc))
            return _respond(500, {"error": str(exc)})
