"""What became of each Pub/Sub message, for operators: the record a message created (message id →
record), the poison messages dropped (kept with their payload, capped), and the dead letters
(kept by the dead-letter consumer). Collection names live here only.

Writes here never turn a delivery into a failure: losing an index entry is better than a retry
loop (the callers catch and log).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from shared.platform import firestore as fs
from shared.redaction import redact

DELIVERIES = "message_deliveries"     # {message_id}: function, record kind and id
POISON = "poison_messages"            # {message_id}: function, topic, reason, payload (capped)
DEAD_LETTERS = "dead_letters"         # {message_id}: function, attempts, attributes, payload, record
PAYLOAD_LIMIT = 20_000                # characters of a dead letter's payload kept
POISON_PAYLOAD_LIMIT = 4_096          # a poison message may be anything: keep a sample
RECORD_ID_FIELDS = ("run_id", "request_id", "scan_id", "bench_id")


def note_delivery(message_id: str, function: str, kind: str, record_id: str) -> None:
    """Message `message_id` made (or continued) record `kind/record_id`."""
    if message_id:
        fs.client().collection(DELIVERIES).document(fs.doc_id(message_id)).set(
            {"message_id": message_id, "function": function, "kind": kind, "record_id": record_id,
             "at": datetime.now(timezone.utc)})


def delivery(message_id: str) -> dict[str, Any] | None:
    snap = fs.client().collection(DELIVERIES).document(fs.doc_id(message_id)).get()
    return snap.to_dict() if snap.exists else None


def keep_poison(message_id: str, function: str, topic: str | None, reason: str, payload: bytes) -> None:
    text = redact(payload[:POISON_PAYLOAD_LIMIT].decode("utf-8", errors="replace"))
    key = message_id or f"no-id-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    fs.client().collection(POISON).document(fs.doc_id(key)).set(
        {"message_id": message_id or None, "function": function, "topic": topic, "reason": reason[:2000],
         "payload": text, "payload_bytes": len(payload), "truncated": len(payload) > POISON_PAYLOAD_LIMIT,
         "at": datetime.now(timezone.utc)})


def recent_poison(limit: int) -> list[dict[str, Any]]:
    from google.cloud import firestore

    return [s.to_dict() for s in fs.client().collection(POISON)
            .order_by("at", direction=firestore.Query.DESCENDING).limit(limit).stream()]


def record_id_of(body: dict[str, Any]) -> str | None:
    """The record a message body names (a weekly run, sync, scan or benchmark run), if any."""
    for name in RECORD_ID_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    run = body.get("run")
    return run.get("run_id") if isinstance(run, dict) and isinstance(run.get("run_id"), str) else None


def keep_dead_letter(message_id: str, record: dict[str, Any], body: dict[str, Any]) -> None:
    payload = json.dumps(body, default=str)
    fs.client().collection(DEAD_LETTERS).document(fs.doc_id(message_id or "unknown")).set({
        **record, "message_id": message_id, "record_id": record_id_of(body),
        "payload": redact(payload)[:PAYLOAD_LIMIT], "payload_complete": len(payload) <= PAYLOAD_LIMIT,
        "received_at": datetime.now(timezone.utc)})


def dead_letters(limit: int) -> list[dict[str, Any]]:
    from google.cloud import firestore

    return [s.to_dict() for s in fs.client().collection(DEAD_LETTERS)
            .order_by("received_at", direction=firestore.Query.DESCENDING).limit(limit).stream()]


def dead_letter(message_id: str) -> dict[str, Any] | None:
    snap = fs.client().collection(DEAD_LETTERS).document(fs.doc_id(message_id)).get()
    return snap.to_dict() if snap.exists else None


def dead_letters_for_record(record_id: str) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return [s.to_dict() for s in fs.client().collection(DEAD_LETTERS)
            .where(filter=FieldFilter("record_id", "==", record_id)).limit(10).stream()]


def mark_replayed(message_id: str, new_message_id: str) -> None:
    from google.cloud import firestore

    fs.client().collection(DEAD_LETTERS).document(fs.doc_id(message_id)).update(
        {"replays": firestore.ArrayUnion([{"message_id": new_message_id, "at": datetime.now(timezone.utc)}])})


def purge_dead_letter(message_id: str) -> bool:
    ref = fs.client().collection(DEAD_LETTERS).document(fs.doc_id(message_id))
    if not ref.get().exists:
        return False
    ref.delete()
    return True

