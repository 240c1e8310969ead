"""The weekly run record (`weekly_runs/{run_id}`) and the one-cycle-at-a-time lock, behind a
repository: `FirestoreWeeklyRuns` in production, `InMemoryWeeklyRuns` in unit tests, one
contract (tests/cycle/test_weekly_runs_contract.py runs the same tests against both). Collection names
live here only. How the chain moves from stage to stage is shared/cycle/protocol.py's.
"""
from __future__ import annotations

import functools
import re
import threading
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Protocol

from shared.log import get_logger
from shared.messages import RunContext, RunStatus, WeeklyCycleRequest
from shared.pipeline import load_manifest
from shared.platform.leases import decide_claim

log = get_logger(__name__)

WEEKLY_RUNS = "weekly_runs"
LOCKS = "locks"
CYCLE_LOCK = "weekly_cycle"
# A cycle older than this no longer holds the lock, whatever its record says (a run whose every
# message was lost must not block the next week's).
CYCLE_LOCK_MAX_AGE_S = 12 * 3600


# --- pure rules ---------------------------------------------------------------------------------
def run_id_for(request: WeeklyCycleRequest, message_id: str, now: datetime) -> str:
    """The caller's run id; for the scheduler (which sends none) the scheduled ISO week, so a
    duplicate publish of the same week's trigger maps to the same run and starts nothing; for
    anything else the message id (a redelivery maps to the same run)."""
    if request.run_id:
        return request.run_id
    if request.requested_by == "scheduler":
        year, week, _ = now.isocalendar()
        return f"weekly-{year}-W{week:02d}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "", message_id) or "unknown"
    return f"weekly-{now:%Y%m%d}-{safe}"


def holds_lock(run: dict[str, Any] | None, now: datetime) -> bool:
    return bool(run) and run.get("status") == "running" and \
        (now - run["started_at"]).total_seconds() < CYCLE_LOCK_MAX_AGE_S


def new_records(request: WeeklyCycleRequest, run_id: str, message_id: str, now: datetime,
                holder: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """("created" | "rejected", the run document) given the current lock holder's run."""
    chain = load_manifest().weekly_chain
    base = {"run_id": run_id, "options": request.options().model_dump(), "started_at": now,
            "requested_by": request.requested_by, "trigger_message_id": message_id, "chain": chain,
            "finished_at": None}
    if holds_lock(holder, now):
        return "rejected", {**base, "status": "rejected", "finished_at": now, "running_run_id": holder["run_id"],
                            "reason": f"another weekly cycle is running: {holder['run_id']}"}
    return "created", {**base, "status": "running", "stages": {name: {"status": "pending"} for name in chain}}


class WeeklyRuns(Protocol):
    def create(self, request: WeeklyCycleRequest, run_id: str, message_id: str) -> tuple[str, dict[str, Any]]:
        """("exists" | "created" | "rejected", the record) in one atomic step with the lock."""
    def get(self, run_id: str) -> dict[str, Any] | None: ...
    def latest(self) -> dict[str, Any] | None: ...
    def running_cycle(self) -> dict[str, Any] | None: ...
    def claim_stage(self, run_id: str, stage: str, lease_s: float) -> str:
        """"claimed" | "done" | "busy" | "missing" (no such run)."""
    def keep_alive(self, run_id: str, stage: str, every_s: float) -> Any: ...
    def update_stages(self, run_id: str, stages: dict[str, dict[str, Any]]) -> None:
        """Set fields of one or more stages (other fields of those stages are kept)."""
    def finish_run(self, run_id: str, status: RunStatus, fields: dict[str, Any]) -> None: ...


# --- Firestore ----------------------------------------------------------------------------------
class FirestoreWeeklyRuns:
    def _col(self) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(WEEKLY_RUNS)

    def create(self, request: WeeklyCycleRequest, run_id: str, message_id: str) -> tuple[str, dict[str, Any]]:
        from google.cloud import firestore

        from shared.platform import firestore as fs

        db = fs.client()
        ref = self._col().document(run_id)
        lock_ref = db.collection(LOCKS).document(CYCLE_LOCK)

        @firestore.transactional
        def txn(transaction: Any) -> tuple[str, dict[str, Any]]:
            snap = ref.get(transaction=transaction)
            if snap.exists:
                return "exists", snap.to_dict()
            lock = lock_ref.get(transaction=transaction).to_dict() or {}
            holder = None
            if lock.get("run_id"):
                held = self._col().document(lock["run_id"]).get(transaction=transaction)
                holder = held.to_dict() if held.exists else None
            outcome, doc = new_records(request, run_id, message_id, datetime.now(timezone.utc), holder)
            if outcome == "created":
                transaction.set(lock_ref, {"run_id": run_id, "acquired_at": doc["started_at"]})
            transaction.create(ref, doc)
            return outcome, doc

        return txn(db.transaction())

    def get(self, run_id: str) -> dict[str, Any] | None:
        snap = self._col().document(run_id).get()
        return snap.to_dict() if snap.exists else None

    def latest(self) -> dict[str, Any] | None:
        from google.cloud import firestore

        from shared.platform import firestore as fs

        docs = list(fs.client().collection(WEEKLY_RUNS)
                    .order_by("started_at", direction=firestore.Query.DESCENDING).limit(1).stream())
        return docs[0].to_dict() if docs else None

    def running_cycle(self) -> dict[str, Any] | None:
        from shared.platform import firestore as fs

        lock = fs.client().collection(LOCKS).document(CYCLE_LOCK).get().to_dict() or {}
        run = self.get(lock["run_id"]) if lock.get("run_id") else None
        return run if holds_lock(run, datetime.now(timezone.utc)) else None

    def claim_stage(self, run_id: str, stage: str, lease_s: float) -> str:
        from shared.platform import firestore as fs

        try:
            return fs.claim(self._col().document(run_id), lease_s, prefix=f"stages.{stage}")
        except LookupError:
            return "missing"

    def keep_alive(self, run_id: str, stage: str, every_s: float) -> Any:
        from shared.platform import firestore as fs

        return fs.keep_alive(self._col().document(run_id), f"stages.{stage}", every_s)

    def update_stages(self, run_id: str, stages: dict[str, dict[str, Any]]) -> None:
        self._col().document(run_id).update({f"stages.{stage}.{field}": value
                                             for stage, fields in stages.items() for field, value in fields.items()})

    def finish_run(self, run_id: str, status: RunStatus, fields: dict[str, Any]) -> None:
        self._col().document(run_id).update({**fields, "status": status, "finished_at": datetime.now(timezone.utc)})


# --- in memory (tests) --------------------------------------------------------------------------
class InMemoryWeeklyRuns:
    """The same contract in a dict, with an injectable clock (unit tests of the protocol)."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.runs: dict[str, dict[str, Any]] = {}
        self.lock_holder: str | None = None
        self.clock = clock
        self._mutex = threading.Lock()

    def create(self, request: WeeklyCycleRequest, run_id: str, message_id: str) -> tuple[str, dict[str, Any]]:
        with self._mutex:
            if run_id in self.runs:
                return "exists", deepcopy(self.runs[run_id])
            holder = self.runs.get(self.lock_holder) if self.lock_holder else None
            outcome, doc = new_records(request, run_id, message_id, self.clock(), holder)
            if outcome == "created":
                self.lock_holder = run_id
            self.runs[run_id] = doc
            return outcome, deepcopy(doc)

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(self.runs.get(run_id))

    def latest(self) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(max(self.runs.values(), key=lambda r: r["started_at"], default=None))

    def running_cycle(self) -> dict[str, Any] | None:
        run = self.get(self.lock_holder) if self.lock_holder else None
        return run if holds_lock(run, self.clock()) else None

    def claim_stage(self, run_id: str, stage: str, lease_s: float) -> str:
        with self._mutex:
            run = self.runs.get(run_id)
            if run is None:
                return "missing"
            state = run["stages"].setdefault(stage, {})
            outcome, update = decide_claim(state, self.clock(), lease_s)
            state.update(update)
            return outcome

    @contextmanager
    def keep_alive(self, run_id: str, stage: str, every_s: float) -> Iterator[None]:
        self.update_stages(run_id, {stage: {"heartbeat_at": self.clock()}})
        yield

    def update_stages(self, run_id: str, stages: dict[str, dict[str, Any]]) -> None:
        with self._mutex:
            run = self.runs[run_id]       # like Firestore's update: the record must exist
            for stage, fields in stages.items():
                run["stages"].setdefault(stage, {}).update(deepcopy(fields))

    def finish_run(self, run_id: str, status: RunStatus, fields: dict[str, Any]) -> None:
        with self._mutex:
            self.runs[run_id].update({**deepcopy(fields), "status": status, "finished_at": self.clock()})


# --- the default repository and the reads everyone needs -----------------------------------------
@functools.cache
def repository() -> WeeklyRuns:
    return FirestoreWeeklyRuns()


def create_run(request: WeeklyCycleRequest, run_id: str, message_id: str,
               repo: WeeklyRuns | None = None) -> RunContext | None:
    """Create the run record and take the cycle lock. None when the run exists already (a
    redelivery or a duplicate scheduler publish: start nothing) or when another cycle holds the
    lock (then the record says `rejected` and names the running cycle, so a caller following
    this run id learns which one to follow)."""
    outcome, doc = (repo or repository()).create(request, run_id, message_id)
    if outcome == "exists":
        log.warning("weekly run already exists; redelivered or duplicate trigger ignored", run_id=run_id)
        return None
    if outcome == "rejected":
        log.warning("another weekly cycle is running; this trigger starts nothing",
                    running_run_id=doc["running_run_id"])
        return None
    log.info("weekly run created", run_id=run_id, options=doc["options"])
    return RunContext(run_id=run_id, options=request.options(), started_at=doc["started_at"])


def get_run(run_id: str) -> dict[str, Any] | None:
    return repository().get(run_id)


def latest_run() -> dict[str, Any] | None:
    return repository().latest()


def running_cycle() -> dict[str, Any] | None:
    return repository().running_cycle()


def stage_state(run_id: str, stage: str, repo: WeeklyRuns | None = None) -> dict[str, Any]:
    return (((repo or repository()).get(run_id) or {}).get("stages") or {}).get(stage) or {}
