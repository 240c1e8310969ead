"""Where the weekly reports live in the bucket, and how a name there is read back.

One folder per run, written once: `reports/YYYY-MM-DD/<run_id>/report.{md,json}` (the day of
the run's start, UTC), so a second run on the same day never overwrites the first. The one
object that is rewritten on purpose is `reports/latest.json`, a pointer to the newest run's
report; it only moves forward. Reports written before this layout (`reports/YYYY-MM-DD.md`,
`.json`) are still read. Pure: the reporter and shared/operate.py do the reading and writing.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from shared.report.weekly import WeeklyReport

PREFIX = "reports/"
LATEST_PATH = f"{PREFIX}latest.json"
MARKDOWN_TYPE = "text/markdown; charset=utf-8"
JSON_TYPE = "application/json"
EXTENSIONS = {"md": "report.md", "json": "report.json"}
RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")     # as WeeklyCycleRequest.run_id
_RUN_NAME = re.compile(rf"{PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})/([^/]+)/report\.(md|json)")
_FLAT_NAME = re.compile(rf"{PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})\.(md|json)")


def started(report: WeeklyReport) -> datetime:
    return (report.started_at or report.generated_at).astimezone(timezone.utc)


def run_folder(report: WeeklyReport) -> str:
    if not RUN_ID.fullmatch(report.run_id) or set(report.run_id) == {"."}:
        raise ValueError(f"run id {report.run_id!r} cannot name a report folder")
    return f"{PREFIX}{started(report):%Y-%m-%d}/{report.run_id}/"


def report_paths(report: WeeklyReport) -> tuple[str, str]:
    """(markdown, json) object names of the run's report."""
    folder = run_folder(report)
    return folder + EXTENSIONS["md"], folder + EXTENSIONS["json"]


def object_metadata(report: WeeklyReport) -> dict[str, str]:
    """Custom metadata on both objects, so a listing shows each run's SAFE label without
    opening a report."""
    return {"run_id": report.run_id, "started_at": started(report).isoformat(), "safe_label": report.safe_label}


def latest_pointer(report: WeeklyReport) -> dict[str, Any]:
    """The content of reports/latest.json for this report (its paths already set)."""
    return {"run_id": report.run_id, "started_at": started(report).isoformat(), "safe": report.safe,
            "safe_label": report.safe_label, "markdown": report.paths["markdown"], "json": report.paths["json"]}


def _order(pointer: dict[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(pointer["started_at"]), pointer["run_id"]


def advance_latest(current: bytes | None, pointer: dict[str, Any]) -> bytes | None:
    """The new latest.json, or None to leave it: a run that started earlier than the one it
    points at (an older run finishing late, or this run's redelivery) never moves it back.
    An unreadable pointer is replaced."""
    try:
        existing = json.loads(current) if current is not None else None
        if existing is not None and _order(existing) >= _order(pointer):
            return None
    except (ValueError, KeyError, TypeError):
        pass
    return json.dumps(pointer, indent=2).encode()


def parse_name(name: str) -> dict[str, Any] | None:
    """What an object name under reports/ says: day, run id (None for the flat layout), format
    and layout; None for anything else (latest.json included)."""
    if m := _RUN_NAME.fullmatch(name):
        return {"day": m.group(1), "run_id": m.group(2), "format": m.group(3), "layout": "run"}
    if m := _FLAT_NAME.fullmatch(name):
        return {"day": m.group(1), "run_id": None, "format": m.group(2), "layout": "flat"}
    return None
