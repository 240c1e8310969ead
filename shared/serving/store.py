"""Serving configuration behind a repository: immutable numbered versions
(`serving_versions/{n}`), the `serving/current` pointer, and an audit trail of every pointer move
(`serving_events`). The pointer changes only in transactions that check where it stands, so a
candidate built on a version that moved meanwhile is refused (the caller rebuilds it), and moving
back to an earlier version restores exactly what was served. `FirestoreServingStore` in
production, `InMemoryServingStore` for unit tests, one contract
(tests/serving/test_serving_store_contract.py). Collection names live here only.
"""
from __future__ import annotations

import functools
import threading
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any, Callable, Literal, Protocol

from shared.serving.models import ServingVersion

VERSIONS = "serving_versions"
POINTER_COLLECTION, POINTER_DOC = "serving", "current"
EVENTS = "serving_events"
UPGRADES = "upgrades"                 # {run_id}: what the upgrade stage did with the run's plan
CONTENDED_ATTEMPTS = 10               # the client's own retries of one transaction

Promotion = Literal["promoted", "moved"]
PointerMove = Literal["pointed", "moved", "missing"]


class ServingStore(Protocol):
    def current_number(self) -> int | None: ...
    def pointer_state(self) -> dict[str, Any] | None:
        """The pointer as stored: `number` and `updated_at` (new with every move); None before any
        version. Readers that keep a version in memory key it by both: a version number alone
        names different content once a database is reset or restored."""
    def version(self, number: int) -> ServingVersion | None: ...
    def history(self, limit: int) -> list[ServingVersion]:
        """Versions, newest number first."""
    def promote(self, candidate: ServingVersion) -> Promotion:
        """In one transaction: store `candidate` as version `candidate.number` and point to it,
        only if the pointer is at `candidate.parent` (None: no version yet) and that number is
        free. "moved": someone promoted or pointed meanwhile; rebuild on the new current."""
    def point_to(self, number: int, expected_current: int | None, by: str, reason: str) -> PointerMove:
        """Move the pointer to an existing version (a rollback by hand), only if it is at
        `expected_current`; audited in the events."""
    def events(self, limit: int) -> list[dict[str, Any]]:
        """Pointer moves, newest first: from, to, by, reason, at, kind (promote | point)."""
    def save_upgrade(self, run_id: str, outcome: dict[str, Any]) -> None:
        """The upgrade stage's outcome for a run (kept once: a second save leaves the first)."""
    def upgrade(self, run_id: str) -> dict[str, Any] | None: ...
    def settle_upgrade(self, run_id: str, outcome: dict[str, Any]) -> bool:
        """Replace an outcome whose result is "measuring" by the final one, once: False when it
        was settled already (a redelivery) or never began."""
    def upgrades_since(self, since: datetime) -> list[dict[str, Any]]:
        """Upgrade outcomes saved at or after `since` (their `saved_at`), newest first."""


MEASURING = "measuring"


def current(store: ServingStore) -> ServingVersion | None:
    number = store.current_number()
    return store.version(number) if number is not None else None


def _event(kind: str, frm: int | None, to: int, by: str, reason: str, at: datetime) -> dict[str, Any]:
    return {"kind": kind, "from": frm, "to": to, "by": by, "reason": reason, "at": at}


class _PointerMoves:
    """promote and point_to are one checked move of the pointer (`_move`, per implementation)."""

    def _move(self, expected: int | None, to: int, write_version: ServingVersion | None, kind: str, by: str,
              reason: str) -> str:
        raise NotImplementedError

    def promote(self, candidate: ServingVersion) -> Promotion:
        return self._move(candidate.parent, candidate.number, candidate, "promote", candidate.created_by,
                          candidate.reason)

    def point_to(self, number: int, expected_current: int | None, by: str, reason: str) -> PointerMove:
        return self._move(expected_current, number, None, "point", by, reason)


class FirestoreServingStore(_PointerMoves):
    def _col(self, name: str) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(name)

    def _pointer(self) -> Any:
        return self._col(POINTER_COLLECTION).document(POINTER_DOC)

    def current_number(self) -> int | None:
        snap = self._pointer().get()
        return (snap.to_dict() or {}).get("number") if snap.exists else None

    def pointer_state(self) -> dict[str, Any] | None:
        snap = self._pointer().get()
        doc = (snap.to_dict() or {}) if snap.exists else {}
        return {"number": doc["number"], "updated_at": doc.get("updated_at")} if doc.get("number") else None

    def version(self, number: int) -> ServingVersion | None:
        snap = self._col(VERSIONS).document(str(number)).get()
        return ServingVersion.model_validate(snap.to_dict()) if snap.exists else None

    def history(self, limit: int) -> list[ServingVersion]:
        from google.cloud import firestore

        return [ServingVersion.model_validate(s.to_dict()) for s in
                self._col(VERSIONS).order_by("number", direction=firestore.Query.DESCENDING).limit(limit).stream()]

    def _move(self, expected: int | None, to: int, write_version: ServingVersion | None, kind: str, by: str,
              reason: str) -> str:
        from google.cloud import firestore

        from shared.platform import firestore as fs

        db = fs.client()
        target = self._col(VERSIONS).document(str(to))

        @firestore.transactional
        def txn(transaction: Any) -> str:
            pointer = self._pointer().get(transaction=transaction)
            now_at = (pointer.to_dict() or {}).get("number") if pointer.exists else None
            exists = target.get(transaction=transaction).exists
            if now_at != expected or (write_version is not None and exists):
                return "moved"
            if write_version is None and not exists:
                return "missing"
            at = datetime.now(timezone.utc)
            if write_version is not None:
                transaction.create(target, write_version.model_dump(mode="python"))
            transaction.set(self._pointer(), {"number": to, "updated_at": at, "by": by, "reason": reason})
            transaction.create(self._col(EVENTS).document(), _event(kind, now_at, to, by, reason, at))
            return "promoted" if write_version is not None else "pointed"
        settled = fs.contended(lambda: txn(db.transaction(max_attempts=CONTENDED_ATTEMPTS)),
                               lambda: self.current_number() == expected)
        return "moved" if settled is None else settled     # None: someone else moved the pointer

    def events(self, limit: int) -> list[dict[str, Any]]:
        from google.cloud import firestore

        return [s.to_dict() for s in
                self._col(EVENTS).order_by("at", direction=firestore.Query.DESCENDING).limit(limit).stream()]

    def save_upgrade(self, run_id: str, outcome: dict[str, Any]) -> None:
        from google.api_core.exceptions import AlreadyExists

        from shared.platform import firestore as fs

        try:
            self._col(UPGRADES).document(fs.doc_id(run_id)).create(outcome)
        except AlreadyExists:
            pass

    def upgrade(self, run_id: str) -> dict[str, Any] | None:
        from shared.platform import firestore as fs

        snap = self._col(UPGRADES).document(fs.doc_id(run_id)).get()
        return snap.to_dict() if snap.exists else None

    def settle_upgrade(self, run_id: str, outcome: dict[str, Any]) -> bool:
        from google.cloud import firestore

        from shared.platform import firestore as fs

        ref = self._col(UPGRADES).document(fs.doc_id(run_id))

        @firestore.transactional
        def txn(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            if not snap.exists or (snap.to_dict() or {}).get("result") != MEASURING:
                return False
            transaction.set(ref, outcome)
            return True
        return bool(txn(fs.client().transaction()))

    def upgrades_since(self, since: datetime) -> list[dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        docs = [s.to_dict() for s in self._col(UPGRADES).where(filter=FieldFilter("saved_at", ">=", since)).stream()]
        return sorted(docs, key=lambda d: d["saved_at"], reverse=True)


class InMemoryServingStore(_PointerMoves):
    """The same contract in dicts, with an injectable clock."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.versions: dict[int, ServingVersion] = {}
        self.pointer: int | None = None
        self.log: list[dict[str, Any]] = []
        self.upgrades: dict[str, dict[str, Any]] = {}
        self.clock = clock
        self._mutex = threading.Lock()

    def current_number(self) -> int | None:
        return self.pointer

    def pointer_state(self) -> dict[str, Any] | None:
        with self._mutex:
            return None if self.pointer is None else {"number": self.pointer, "updated_at": self.log[-1]["at"]}

    def version(self, number: int) -> ServingVersion | None:
        return self.versions.get(number)      # frozen models: sharing them is safe

    def history(self, limit: int) -> list[ServingVersion]:
        return [self.versions[n] for n in sorted(self.versions, reverse=True)[:limit]]

    def _move(self, expected: int | None, to: int, write_version: ServingVersion | None, kind: str, by: str,
              reason: str) -> str:
        with self._mutex:
            exists = to in self.versions
            if self.pointer != expected or (write_version is not None and exists):
                return "moved"
            if write_version is None and not exists:
                return "missing"
            if write_version is not None:
                self.versions[to] = write_version
            self.log.append(_event(kind, self.pointer, to, by, reason, self.clock()))
            self.pointer = to
            return "promoted" if write_version is not None else "pointed"

    def events(self, limit: int) -> list[dict[str, Any]]:
        return [dict(e) for e in reversed(self.log)][:limit]

    def save_upgrade(self, run_id: str, outcome: dict[str, Any]) -> None:
        with self._mutex:
            self.upgrades.setdefault(run_id, deepcopy(outcome))

    def upgrade(self, run_id: str) -> dict[str, Any] | None:
        return deepcopy(self.upgrades.get(run_id))

    def settle_upgrade(self, run_id: str, outcome: dict[str, Any]) -> bool:
        with self._mutex:
            if (self.upgrades.get(run_id) or {}).get("result") != MEASURING:
                return False
            self.upgrades[run_id] = deepcopy(outcome)
            return True

    def upgrades_since(self, since: datetime) -> list[dict[str, Any]]:
        with self._mutex:
            docs = [deepcopy(d) for d in self.upgrades.values() if d.get("saved_at") and d["saved_at"] >= since]
        return sorted(docs, key=lambda d: d["saved_at"], reverse=True)


@functools.cache
def repository() -> ServingStore:
    return FirestoreServingStore()
