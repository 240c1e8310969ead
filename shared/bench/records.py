"""Benchmark run records (`bench_runs/{bench_id}`: plan, shard claims, aggregation, summary)
behind a repository: `FirestoreBenchRuns` in production, `InMemoryBenchRuns` for unit tests, one
contract (tests/bench/test_bench_runs_contract.py runs the same tests against both). The
collection name lives here only.

Fields may be given as dotted paths (`shards.s3.status`), as Firestore's update takes them.
"""
from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Protocol

from shared.platform.leases import decide_claim

BENCH_RUNS = "bench_runs"


class BenchRuns(Protocol):
    def get(self, bench_id: str) -> dict[str, Any] | None: ...
    def create(self, bench_id: str, doc: dict[str, Any]) -> bool:
        """False when a record with this id exists already."""
    def claim(self, bench_id: str, unit: str, lease_s: float) -> str:
        """Claim `unit` ("shards.s3", "aggregation"): "claimed" | "done" | "busy" | "missing"."""
    def keep_alive(self, bench_id: str, unit: str, every_s: float) -> Any: ...
    def update(self, bench_id: str, fields: dict[str, Any]) -> None: ...
    def finish_shard(self, bench_id: str, shard: int, cases: int, seconds: float) -> None:
        """Mark a shard succeeded and count it in `shards_done`, once, however often called."""


def _shard_done_fields(shard: int, cases: int, seconds: float) -> dict[str, Any]:
    return {f"shards.s{shard}.status": "succeeded", f"shards.s{shard}.cases": cases,
            f"shards.s{shard}.duration_s": round(seconds, 3)}


class FirestoreBenchRuns:
    def _ref(self, bench_id: str) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(BENCH_RUNS).document(bench_id)

    def get(self, bench_id: str) -> dict[str, Any] | None:
        snap = self._ref(bench_id).get()
        return snap.to_dict() if snap.exists else None

    def create(self, bench_id: str, doc: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        try:
            self._ref(bench_id).create(doc)
            return True
        except AlreadyExists:
            return False

    def claim(self, bench_id: str, unit: str, lease_s: float) -> str:
        from shared.platform import firestore as fs

        try:
            return fs.claim(self._ref(bench_id), lease_s, prefix=unit)
        except LookupError:
            return "missing"

    def keep_alive(self, bench_id: str, unit: str, every_s: float) -> Any:
        from shared.platform import firestore as fs

        return fs.keep_alive(self._ref(bench_id), unit, every_s)

    def update(self, bench_id: str, fields: dict[str, Any]) -> None:
        self._ref(bench_id).update(fields)

    def finish_shard(self, bench_id: str, shard: int, cases: int, seconds: float) -> None:
        from google.cloud import firestore

        from shared.platform import firestore as fs

        ref = self._ref(bench_id)

        @firestore.transactional
        def txn(transaction: Any) -> None:
            snap = ref.get(transaction=transaction).to_dict() or {}
            if ((snap.get("shards") or {}).get(f"s{shard}") or {}).get("status") == "succeeded":
                return  # counted already
            transaction.update(ref, {**_shard_done_fields(shard, cases, seconds),
                                     "shards_done": firestore.Increment(1)})
        txn(fs.client().transaction())


def _get_path(doc: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        doc = doc.setdefault(part, {})
    return doc


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[leaf] = deepcopy(value)


class InMemoryBenchRuns:
    """The same contract in a dict, with an injectable clock."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.docs: dict[str, dict[str, Any]] = {}
        self.clock = clock
        self._mutex = threading.Lock()

    def get(self, bench_id: str) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(self.docs.get(bench_id))

    def create(self, bench_id: str, doc: dict[str, Any]) -> bool:
        with self._mutex:
            if bench_id in self.docs:
                return False
            self.docs[bench_id] = deepcopy(doc)
            return True

    def claim(self, bench_id: str, unit: str, lease_s: float) -> str:
        with self._mutex:
            if bench_id not in self.docs:
                return "missing"
            state = _get_path(self.docs[bench_id], unit)
            outcome, update = decide_claim(state, self.clock(), lease_s)
            state.update(update)
            return outcome

    @contextmanager
    def keep_alive(self, bench_id: str, unit: str, every_s: float) -> Iterator[None]:
        self.update(bench_id, {f"{unit}.heartbeat_at": self.clock()})
        yield

    def update(self, bench_id: str, fields: dict[str, Any]) -> None:
        with self._mutex:
            doc = self.docs[bench_id]      # like Firestore's update: the record must exist
            for path, value in fields.items():
                _set_path(doc, path, value)

    def finish_shard(self, bench_id: str, shard: int, cases: int, seconds: float) -> None:
        with self._mutex:
            doc = self.docs[bench_id]
            if ((doc.get("shards") or {}).get(f"s{shard}") or {}).get("status") == "succeeded":
                return
            for path, value in _shard_done_fields(shard, cases, seconds).items():
                _set_path(doc, path, value)
            doc["shards_done"] = int(doc.get("shards_done") or 0) + 1


@functools.cache
def repository() -> BenchRuns:
    return FirestoreBenchRuns()
