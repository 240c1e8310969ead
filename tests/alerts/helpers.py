"""Reports and messages for the alert tests (synthetic)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from shared.messages import ReportPublished, RunContext, RunOptions

STARTED = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)      # Sunday of ISO week 2026-W48
BUCKET = "alert-reports"


def uris(run_id: str) -> tuple[str, str]:
    folder = f"gs://{BUCKET}/reports/2026-11-29/{run_id}/"
    return folder + "report.md", folder + "report.json"


def check(name: str, passed: bool, detail: str = "ran and passed") -> dict[str, Any]:
    return {"name": name, "description": name, "passed": passed, "outcome": "passed" if passed else "failed",
            "detail": detail}


def report(run_id: str = "weekly-2026-W48", safe: bool = False, **extra: Any) -> dict[str, Any]:
    """A weekly report as the reporter writes it: SAFE=false by the benchmark and upgrade checks
    unless `safe`."""
    checks = [check("catalog_sync", True), check("benchmark", safe, "ran and passed" if safe else
                                                   "1 of 2 models failed: a/one: −20.0 points vs baseline"),
              check("upgrade", safe, "ran and passed" if safe else "the candidate was rolled back")]
    md, js = uris(run_id)
    out = {"report_version": 2, "run_id": run_id, "generated_at": STARTED.isoformat(),
           "started_at": STARTED.isoformat(), "options": {}, "dry_run": False, "safe": safe,
           "safe_label": f"SAFE={'true' if safe else 'false'}", "demo": False, "simulated": False,
           "reasons": [] if safe else ["benchmark: 1 of 2 models failed", "upgrade: the candidate was rolled back"],
           "checks": checks,
           "stages": [{"stage": s, "status": "succeeded", "error": None} for s in
                      ("catalog_sync", "research_digest", "benchmark", "planner", "upgrade", "reporter")],
           "summary": {}, "catalog": {}, "benchmark": {"status": "complete", "models": {
               "a/one": {"regression": {"state": "regression" if not safe else "pass",
                                        "level": "critical" if not safe else "ok",
                                        "text": "−20.0 points vs baseline 80.0 on 40 paired cases (critical)"}},
               "b/two": {"regression": {"state": "pass", "level": "ok", "text": "no regression"}}}},
           "upgrades": {"rollback": None if safe else {"candidate_version": 5, "kept_version": 4,
                                                       "reason": "programming: −18 points"}},
           "paths": {"markdown": md, "json": js}}
    out.update(extra)
    return out


def message(data: dict[str, Any] | None = None, run_id: str = "weekly-2026-W48", **extra: Any) -> ReportPublished:
    data = data if data is not None else report(run_id)
    md, js = uris(run_id)
    fields = {"run": RunContext(run_id=run_id, options=RunOptions(), started_at=STARTED), "markdown_uri": md,
              "json_uri": js, "safe": data.get("safe", False) if isinstance(data, dict) else False,
              "safe_label": data.get("safe_label", "SAFE=false") if isinstance(data, dict) else "SAFE=false",
              "simulated": False, "demo": False,
              "reasons": data.get("reasons", []) if isinstance(data, dict) else ["x"]}
    return ReportPublished(**{**fields, **extra})


def raw(data: Any) -> bytes:
    return json.dumps(data).encode()
