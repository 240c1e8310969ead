"""Firestore access: one lazily created client, document-id encoding and batched writes."""
from __future__ import annotations

import functools
import hashlib
import re
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar
from urllib.parse import quote

from shared.config import get_settings
from shared.log import get_logger
from shared.platform.leases import HEARTBEAT_S, LEASE_S, decide_claim

if TYPE_CHECKING:  # the client import costs ~0.3 s: only paths that touch Firestore pay it
    from google.cloud import firestore

log = get_logger(__name__)
T = TypeVar("T")
MAX_BATCH = 500  # Firestore's limit of writes per batch / commit


@functools.lru_cache(maxsize=1)
def client() -> "firestore.Client":
    from google.cloud import firestore

    return firestore.Client(project=get_settings().require_project())


MAX_DOC_ID_BYTES = 1500      # Firestore's limit on a document id
_RESERVED_ID = re.compile(r"^(\.{1,2}|__.*__)?$")   # empty, '.', '..', '__x__': refused ids


def doc_id(key: str) -> str:
    """Any key as a valid document id. Model ids ('openai/gpt-4o') and category slugs
    ('marketing/seo') hold '/', which a document id may not: percent-encoding keeps them
    readable. A key Firestore would still refuse (too long, '.', '..', '__x__', empty) becomes a
    readable prefix, '%~' (which no percent-encoding produces) and a hash of the whole key."""
    encoded = quote(key, safe="")
    if len(encoded.encode()) <= MAX_DOC_ID_BYTES and not _RESERVED_ID.match(encoded):
        return encoded
    return f"{encoded[:200]}%~{hashlib.sha256(key.encode()).hexdigest()}"


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


def contended(attempt: Callable[[], T], still_open: Callable[[], bool], rounds: int = 6) -> T | None:
    """Run a transaction that many writers may race for (one document, several instances).
    When it still cannot commit after the client's own retries, look again: None when someone
    else settled it meanwhile (`still_open()` is false), else wait a little and try again."""
    import random
    import time

    for round_ in range(rounds):
        try:
            return attempt()
        except ValueError as exc:          # google-cloud-firestore: "Failed to commit transaction in N attempts"
            if "Failed to commit transaction" not in str(exc):
                raise
            if not still_open():
                return None
            time.sleep(random.uniform(0.05, 0.2) * (round_ + 1))
    raise RuntimeError(f"a contended transaction did not commit in {rounds} rounds; retry later")


def claim(ref: Any, lease_s: float = LEASE_S, prefix: str | None = None,
          create_fields: dict[str, Any] | None = None) -> str:
    """Claim a unit of work recorded at `ref` (or at the nested map `prefix` inside it), in a
    transaction: "claimed", "done" or "busy" as `leases.decide_claim` decides (heartbeats come
    from `keep_alive`). With `create_fields`, a missing document is created."""
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
                                     "first_claimed_at": now, "attempts": 1, "takeovers": 0})
            return "claimed"
        outcome, update = decide_claim(_nested(snap.to_dict() or {}, prefix), now, lease_s)
        if update:
            transaction.update(ref, {key(field): value for field, value in update.items()})
        return outcome

    return _txn(db.transaction())


@contextmanager
def keep_alive(ref: Any, prefix: str | None = None, every_s: float = HEARTBEAT_S) -> Iterator[None]:
    """While the body runs, write `heartbeat_at` every `every_s` seconds so the claim's lease
    stays live; when the process dies the heartbeats stop and the lease expires soon after."""
    from datetime import datetime, timezone

    field = f"{prefix}.heartbeat_at" if prefix else "heartbeat_at"
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                ref.update({field: datetime.now(timezone.utc)})
            except Exception:   # a missed beat only shortens the lease; the work goes on
                log.warning("lease heartbeat failed", exc_info=True, document=ref.path)

    thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
