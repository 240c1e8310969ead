"""Firestore access: one lazily created client, document-id encoding and batched writes."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote

from shared.config import get_settings

if TYPE_CHECKING:  # the client import costs ~0.3 s: only paths that touch Firestore pay it
    from google.cloud import firestore

MAX_BATCH = 500  # Firestore's limit of writes per batch / commit


@functools.lru_cache(maxsize=1)
def client() -> "firestore.Client":
    from google.cloud import firestore

    return firestore.Client(project=get_settings().require_project())


def doc_id(key: str) -> str:
    """Model ids ('openai/gpt-4o') and category slugs ('marketing/seo') hold '/', which a
    document id may not; percent-encoding keeps them readable and reversible."""
    return quote(key, safe="")


def commit_in_batches(writes: Iterable[tuple[Any, dict[str, Any], str]]) -> int:
    """Apply (document ref, data, op) writes in batches of at most 500; op is "set" (whole
    document) or "update" (the given top-level fields replaced whole, so a price key that
    disappeared from a map disappears here too; set(merge=True) would keep it)."""
    db = client()
    batch, pending, total = db.batch(), 0, 0
    for ref, data, op in writes:
        if op == "set":
            batch.set(ref, data)
        elif op == "update":
            batch.update(ref, data)
        else:
            raise ValueError(f"unknown write op {op!r}")
        pending += 1
        if pending == MAX_BATCH:
            batch.commit()
            total += pending
            batch, pending = db.batch(), 0
    if pending:
        batch.commit()
        total += pending
    return total


def increment_counter(collection: str, document: str, field: str, amount: int = 1) -> None:
    from google.cloud import firestore

    client().collection(collection).document(document).set(
        {field: firestore.Increment(amount)}, merge=True)


def _nested(data: dict[str, Any], prefix: str | None) -> dict[str, Any]:
    if not prefix:
        return data
    for part in prefix.split("."):
        data = data.get(part) or {} if isinstance(data, dict) else {}
    return data if isinstance(data, dict) else {}


def claim(ref: Any, lease_s: float, prefix: str | None = None,
          create_fields: dict[str, Any] | None = None) -> str:
    """Claim a unit of work recorded at `ref` (or at the nested map `prefix` inside it).

    Returns "claimed" (caller does the work), "done" (already finished: a redelivery) or
    "busy" (another instance holds an unexpired lease). A lease older than `lease_s` is taken
    over: the instance that held it died. With `create_fields`, a missing document is created.
    """
    from datetime import datetime, timezone

    from google.cloud import firestore

    db = client()
    key = (lambda f: f"{prefix}.{f}") if prefix else (lambda f: f)

    @firestore.transactional
    def _txn(transaction: Any) -> str:
        snap = ref.get(transaction=transaction)
        now = datetime.now(timezone.utc)
        if not snap.exists:
            if create_fields is None:
                raise LookupError(f"{ref.path} does not exist")
            transaction.create(ref, {**create_fields, "status": "running", "claimed_at": now,
                                     "attempts": 1})
            return "claimed"
        state = _nested(snap.to_dict() or {}, prefix)
        status = state.get("status")
        if status in ("succeeded", "failed"):
            return "done"
        claimed_at = state.get("claimed_at")
        if status == "running" and claimed_at and (now - claimed_at).total_seconds() < lease_s:
            return "busy"
        transaction.update(ref, {key("status"): "running", key("claimed_at"): now,
                                 key("attempts"): int(state.get("attempts") or 0) + 1})
        return "claimed"

    return _txn(db.transaction())
