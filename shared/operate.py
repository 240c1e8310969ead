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


class NotFound(LookupError):
    """Nothing with that id or name; the message says what was looked for."""


def _week_of(day: str) -> str:
    """`2026-11-29` → `2026-W48` (the ISO week of the run's start)."""
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def _report_row(day: str, run_id: str | None, layout_name: str) -> dict[str, Any]:
    return {"day": day, "week": _week_of(day), "run_id": run_id, "layout": layout_name, "safe_label": None,
            "started_at": None, "markdown": None, "json": None, "uri": None, "name": None, "updated": None}


def list_reports(week: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The weekly reports in the bucket, one row per run, newest first: day, ISO week, run id
    (None for a report written before the per-run folders), SAFE label (from the objects'
    metadata; None for the old ones), markdown and json URIs. `week` (YYYY-Www) narrows."""
    from shared.platform import storage
    from shared.report import layout

    bucket = get_settings().require_reports_bucket()
    rows: dict[tuple[str, str | None], dict[str, Any]] = {}
    for obj in storage.list_objects(bucket, layout.PREFIX, limit=None):  # all: listed oldest first
        parsed = layout.parse_name(obj["name"])
        if parsed is None:
            continue
        row = rows.setdefault((parsed["day"], parsed["run_id"]),
                              _report_row(parsed["day"], parsed["run_id"], parsed["layout"]))
        row[parsed["format"]] = obj["uri"]
        for key in ("safe_label", "started_at"):
            row[key] = row[key] or obj["metadata"].get(key)
        if parsed["format"] == "md" or row["name"] is None:     # the row is named by its Markdown
            row.update(uri=obj["uri"], name=obj["name"], updated=obj["updated"])
    found = [r for r in rows.values() if week is None or r["week"] == week]
    return sorted(found, key=_newest_first, reverse=True)[:limit]


def _newest_first(row: dict[str, Any]) -> tuple[str, str, str]:
    when = row["started_at"] or (row["updated"].isoformat() if row["updated"] else "")
    return row["day"], when, row["run_id"] or ""


def _pick(rows: list[dict[str, Any]], what: str) -> tuple[dict[str, Any], str | None]:
    """The newest of `rows` (newest first), and a note naming it when there was a choice."""
    if not rows:
        raise NotFound(f"no report {what}")
    chosen = rows[0]
    if len(rows) == 1:
        return chosen, None
    others = ", ".join(r["run_id"] or r["name"] for r in rows[1:])
    return chosen, (f"{len(rows)} reports {what}; showing the newest, run {chosen['run_id'] or chosen['name']} "
                    f"({chosen['day']}); the others: {others}")


def read_report(ref: str | None = None, week: str | None = None, fmt: str = "md") -> dict[str, Any]:
    """A report's text: `ref` is a run id, a day (YYYY-MM-DD), or an object or folder name under
    reports/ (flat names from before the per-run folders too); else the newest of `week`, else
    the newest. When several runs match, the newest is shown and `note` says which and the
    others. Returns uri, text, run_id, note."""
    from shared.platform import storage
    from shared.report import layout

    bucket = get_settings().require_reports_bucket()
    if ref is not None and ref.startswith(f"gs://{bucket}/"):
        ref = ref[len(f"gs://{bucket}/"):]
    if ref is not None and (".." in ref or "//" in ref):
        raise NotFound(f"{ref!r} is not a report: give a run id, a day or a name under {layout.PREFIX}")
    if ref is not None and (parsed := layout.parse_name(ref)):
        name, run_id, note = ref, parsed["run_id"], None
    else:
        rows = list_reports(week, limit=10_000)
        if ref is None:
            what = f"in week {week}" if week else f"in gs://{bucket}/{layout.PREFIX}"
        elif ref.startswith(layout.PREFIX):
            folder = ref.rstrip("/") + "/"
            rows, what = [r for r in rows if r["name"].startswith(folder)], f"under gs://{bucket}/{folder}"
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", ref):
            rows, what = [r for r in rows if r["day"] == ref], f"of {ref}"
        elif layout.RUN_ID.fullmatch(ref):
            rows, what = [r for r in rows if r["run_id"] == ref], f"of run {ref}"
        else:
            raise NotFound(f"{ref!r} is not a report: give a run id, a day or a name under {layout.PREFIX}")
        if ref is not None and week:
            what += f" in week {week}"
        row, note = _pick(rows, what)
        name, run_id = storage.split_uri(row[fmt])[1] if row[fmt] else None, row["run_id"]
        if name is None:
            raise NotFound(f"report {row['name']} has no {fmt} rendering")
    if not storage.exists(bucket, name):
        raise NotFound(f"no report gs://{bucket}/{name}")
    return {"uri": f"gs://{bucket}/{name}", "run_id": run_id, "note": note,
            "text": storage.read_bytes(bucket, name).decode("utf-8", errors="replace")}


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
