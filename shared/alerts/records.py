"""Alert records behind a repository: one document per run and channel,
`alerts/{run_id}__{channel}`, claimed before anything is sent, so a redelivered report-published
message never alerts twice and a dying instance's send is taken over once its lease expires.

Fields: run_id, channel, week, status (running, then sent | failed | skipped), attempts (send
attempts, every retry counted), claims, last_error (redacted), sent (what went out: title,
recipients, issue number and action), claimed_at / heartbeat_at / finished_at.
`FirestoreAlertRecords` in production, `InMemoryAlertRecords` for unit tests, one contract
(tests/alerts/test_alert_records.py). The collection name lives here only.
"""
from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Literal, Protocol

from shared.platform.leases import HEARTBEAT_S, LEASE_S, decide_claim

ALERTS = "alerts"
DONE = ("sent", "failed", "skipped")     # a record in these states is never sent again
Claim = Literal["claimed", "done", "busy"]


def record_id(run_id: str, channel: str) -> str:
    return f"{run_id}__{channel}"


def decide(state: dict[str, Any], now: datetime, lease_s: float) -> tuple[Claim, dict[str, Any]]:
    """The leases' rule with the alert vocabulary: a sent, failed or skipped record is done."""
    if state.get("status") in DONE:
        return "done", {}
    # decide_claim counts claims in `attempts`; here `attempts` counts sends and `claims` claims
    outcome, update = decide_claim({**state, "attempts": state.get("claims")}, now, lease_s)
    if "attempts" in update:
        update["claims"] = update.pop("attempts")
    return outcome, update            # type: ignore[return-value]


class AlertRecords(Protocol):
    def claim(self, run_id: str, channel: str, fields: dict[str, Any], lease_s: float = LEASE_S) -> Claim:
        """Create the record (status running) or take it over; "done" for a finished one."""
    def keep_alive(self, run_id: str, channel: str, every_s: float = HEARTBEAT_S) -> Any:
        """Context manager: heartbeats while a send (with its retries) goes on."""
    def note_attempt(self, run_id: str, channel: str, error: str | None) -> None:
        """Count one send attempt; `error`, already redacted, when it failed."""
    def finish(self, run_id: str, channel: str, status: str, fields: dict[str, Any]) -> None: ...
    def get(self, run_id: str, channel: str) -> dict[str, Any] | None: ...


class FirestoreAlertRecords:
    def _ref(self, run_id: str, channel: str) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(ALERTS).document(fs.doc_id(record_id(run_id, channel)))

    def claim(self, run_id: str, channel: str, fields: dict[str, Any], lease_s: float = LEASE_S) -> Claim:
        from google.cloud import firestore

        from shared.platform import firestore as fs

        ref = self._ref(run_id, channel)

        @firestore.transactional
        def _txn(transaction: Any) -> Claim:
            snap = ref.get(transaction=transaction)
            now = datetime.now(timezone.utc)
            if not snap.exists:
                transaction.create(ref, {**fields, "run_id": run_id, "channel": channel, "status": "running",
                                         "claimed_at": now, "first_claimed_at": now, "claims": 1,
                                         "takeovers": 0, "attempts": 0, "last_error": None})
                return "claimed"
            outcome, update = decide(snap.to_dict() or {}, now, lease_s)
            if update:
                transaction.update(ref, update)
            return outcome

        return _txn(fs.client().transaction())

    def keep_alive(self, run_id: str, channel: str, every_s: float = HEARTBEAT_S) -> Any:
        from shared.platform import firestore as fs

        return fs.keep_alive(self._ref(run_id, channel), every_s=every_s)

    def note_attempt(self, run_id: str, channel: str, error: str | None) -> None:
        from google.cloud import firestore

        self._ref(run_id, channel).update({"attempts": firestore.Increment(1), "last_error": error,
                                           "heartbeat_at": datetime.now(timezone.utc)})

    def finish(self, run_id: str, channel: str, status: str, fields: dict[str, Any]) -> None:
        self._ref(run_id, channel).update({**fields, "status": status, "finished_at": datetime.now(timezone.utc)})

    def get(self, run_id: str, channel: str) -> dict[str, Any] | None:
        snap = self._ref(run_id, channel).get()
        return snap.to_dict() if snap.exists else None


class InMemoryAlertRecords:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.docs: dict[str, dict[str, Any]] = {}
        self.clock = clock
        self._mutex = threading.Lock()

    def claim(self, run_id: str, channel: str, fields: dict[str, Any], lease_s: float = LEASE_S) -> Claim:
        with self._mutex:
            key, now = record_id(run_id, channel), self.clock()
            if key not in self.docs:
                self.docs[key] = {**deepcopy(fields), "run_id": run_id, "channel": channel, "status": "running",
                                  "claimed_at": now, "first_claimed_at": now, "claims": 1, "takeovers": 0,
                                  "attempts": 0, "last_error": None}
                return "claimed"
            outcome, update = decide(self.docs[key], now, lease_s)
            self.docs[key].update(update)
            return outcome

    @contextmanager
    def keep_alive(self, run_id: str, channel: str, every_s: float = HEARTBEAT_S) -> Iterator[None]:
        yield

    def note_attempt(self, run_id: str, channel: str, error: str | None) -> None:
        with self._mutex:
            doc = self.docs[record_id(run_id, channel)]
            doc.update(attempts=doc["attempts"] + 1, last_error=error, heartbeat_at=self.clock())

    def finish(self, run_id: str, channel: str, status: str, fields: dict[str, Any]) -> None:
        with self._mutex:
            self.docs[record_id(run_id, channel)].update({**deepcopy(fields), "status": status,
                                                         "finished_at": self.clock()})

    def get(self, run_id: str, channel: str) -> dict[str, Any] | None:
        with self._mutex:
            doc = self.docs.get(record_id(run_id, channel))
            return deepcopy(doc) if doc else None


@functools.cache
def repository() -> AlertRecords:
    return FirestoreAlertRecords()
