"""What operators ask of a running pipeline, for the CLI and the api alike: the reports in the
bucket, dead letters, poison messages, and any record by its id or by the id of the Pub/Sub
message that created it. Read-only: replaying and purging dead letters is shared/replay.py's
(the CLI's, with the operator's own credentials).
"""
from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from shared.config import get_settings
from shared.platform import message_log

REPORTS_PREFIX = "reports/"


class NotFound(LookupError):
    """Nothing with that id or name; the message says what was looked for."""


def _week_of(name: str) -> str | None:
    """`reports/2026-11-29.md` → `2026-W48` (the ISO week of the run's start)."""
    m = re.search(r"(\d{4}-\d{2}-\d{2})", name)
    if not m:
        return None
    year, week, _ = date.fromisoformat(m.group(1)).isocalendar()
    return f"{year}-W{week:02d}"


def list_reports(week: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The weekly reports in the bucket, newest first; `week` (YYYY-Www) narrows to one week."""
    from shared.platform import storage

    rows = [{**o, "week": _week_of(o["name"])}
            for o in storage.list_objects(get_settings().require_reports_bucket(), REPORTS_PREFIX)]
    rows = [r for r in rows if week is None or r["week"] == week]
    return sorted(rows, key=lambda r: r["name"], reverse=True)[:limit]


def read_report(name: str | None = None, week: str | None = None, fmt: str = "md") -> tuple[str, str]:
    """(gs:// URI, text) of a report: by object name, else the newest of `week`, else the newest."""
    from shared.platform import storage

    bucket = get_settings().require_reports_bucket()
    if name is None:
        found = [r for r in list_reports(week) if r["name"].endswith(f".{fmt}")]
        if not found:
            raise NotFound(f"no report{f' for week {week}' if week else ''} in gs://{bucket}/{REPORTS_PREFIX}")
        name = found[0]["name"]
    if not name.startswith(REPORTS_PREFIX) or ".." in name:
        raise NotFound(f"{name!r} is not a report: report names start with {REPORTS_PREFIX}")
    if not storage.exists(bucket, name):
        raise NotFound(f"no report gs://{bucket}/{name}")
    return f"gs://{bucket}/{name}", storage.read_bytes(bucket, name).decode("utf-8", errors="replace")


def dead_letters(limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, without their payloads (`dead_letter` shows one whole)."""
    return [{k: v for k, v in d.items() if k != "payload"} for d in message_log.dead_letters(limit)]


def dead_letter(message_id: str) -> dict[str, Any]:
    """One dead letter with its payload decoded (JSON) when it was kept whole."""
    record = message_log.dead_letter(message_id)
    if record is None:
        raise NotFound(f"no dead letter with message id {message_id!r}")
    try:
        record["body"] = json.loads(record.get("payload") or "")
    except ValueError:
        record["body"] = None          # cut at the size cap: shown as text only
    return record


def poison(limit: int = 20) -> dict[str, Any]:
    """Dropped-message counters per function, and the last `limit` poison messages kept."""
    from shared.platform import firestore as fs
    from shared.platform.events import OPS_COLLECTION, POISON_DOC, STALE_DOC

    ops = fs.client().collection(OPS_COLLECTION)
    counts = {name: (ops.document(name).get().to_dict() or {}) for name in (POISON_DOC, STALE_DOC)}
    return {"counts": counts, "recent": message_log.recent_poison(limit)}


def find(record_id: str) -> dict[str, Any]:
    """The record with this id (a weekly run, sync run, research scan, benchmark run, upgrade or
    dead letter), or the record a Pub/Sub message created, with any dead letters naming it."""
    from shared.bench.fanout import load_bench
    from shared.catalog.sync import load_record
    from shared.cycle import runs
    from shared.research.store import repository as research_store

    from shared.serving import store as serving_store
    from shared.serving.stage import compact

    def upgrade(upgrade_id: str) -> dict[str, Any] | None:
        outcome = serving_store.repository().upgrade(upgrade_id)
        return compact(outcome) if outcome else None

    lookups = [("weekly_run", runs.get_run), ("sync_run", load_record),
               ("research_scan", research_store().load_scan), ("bench_run", load_bench),
               ("upgrade", upgrade), ("dead_letter", message_log.dead_letter)]
    for kind, load in lookups:
        found = load(record_id)
        if found is not None:
            record = found if isinstance(found, dict) else found.model_dump(mode="json")
            letters = message_log.dead_letters_for_record(record_id) if kind != "dead_letter" else []
            return {"kind": kind, "id": record_id, "record": record,
                    "dead_lettered": bool(letters), "dead_letters": [d["message_id"] for d in letters]}
    delivered = message_log.delivery(record_id)
    if delivered is not None and delivered.get("record_id") != record_id:
        return {**find(delivered["record_id"]), "message": delivered}
    letters = message_log.dead_letters_for_record(record_id)
    if letters:    # its request died before it made a record
        return {"kind": "dead_lettered_request", "id": record_id, "record": None, "dead_lettered": True,
                "dead_letters": [d["message_id"] for d in letters]}
    raise NotFound(f"no record, message or dead letter with id {record_id!r} (a request published "
                   f"seconds ago may not have started yet)")
