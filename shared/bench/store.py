"""Benchmark results behind a repository: the planned cases and each shard's case results (objects
in the raw bucket) and one target result per run and model (`bench_target_results`: the rolling
baseline). `CloudBenchResults` in production (Cloud Storage and Firestore), `InMemoryBenchResults`
for unit tests, one contract (tests/bench/test_bench_results_contract.py runs the same tests
against both). Collection names and object prefixes live here only.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from copy import deepcopy
from typing import Any, Protocol

from shared.bench.cases import CaseResult, PlannedCases
from shared.bench.suite import SuiteError
from shared.config import get_settings
from shared.platform import firestore as fs
from shared.platform import storage

TARGET_RESULTS = "bench_target_results"
PLANNED_PREFIX = "bench/planned/"
RESULTS_PREFIX = "bench/results/"
MAX_KEY_BYTES = 1500   # Firestore's limit for a document id and for a value a query compares


class NotStored(LookupError):
    """Stored benchmark data that should exist does not (a shard never written, planned cases gone)."""


class BenchResults(Protocol):
    def write_planned(self, planned: PlannedCases) -> str:
        """Store the cases once under their content hash; the reference every shard reads them by."""
    def read_planned(self, ref: str) -> PlannedCases:
        """The planned cases, checked against the hash in their reference (SuiteError if not)."""
    def write_shard(self, bench_id: str, shard: int, results: list[CaseResult]) -> None:
        """One shard's results; a retried shard replaces them."""
    def read_results(self, bench_id: str, shard_count: int) -> list[CaseResult]:
        """Every shard's results in shard order; NotStored when a shard was never written."""
    def results_location(self, bench_id: str) -> str:
        """Where a run's per-case results are, for people reading its summary."""
    def save_target_result(self, doc: dict[str, Any]) -> None:
        """One document per run and model (`bench_id`, `model`); saving it again replaces it."""
    def baseline_runs(self, target_key: str, exclude_bench_id: str, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` complete target results with this key (by `finished_at`),
        `exclude_bench_id`'s left out: the runs a new run is compared with."""


def _planned_path(planned: PlannedCases) -> str:
    return f"{PLANNED_PREFIX}{planned.sha256()}.json"


def _checked_planned(ref: str, raw: bytes) -> PlannedCases:
    planned = PlannedCases.model_validate_json(raw)
    if not ref.endswith(f"/{planned.sha256()}.json"):
        raise SuiteError(f"{ref}: content does not match its hash")
    return planned


def _shard_path(bench_id: str, shard: int) -> str:
    return f"{RESULTS_PREFIX}{bench_id}/shard-{shard:04d}.jsonl"


def _ndjson(results: list[CaseResult]) -> bytes:
    return "".join(r.model_dump_json() + "\n" for r in results).encode()


def _rows(raw: bytes) -> list[CaseResult]:
    return [CaseResult.model_validate_json(line) for line in raw.decode().splitlines() if line.strip()]


def _is_baseline(doc: dict[str, Any], target_key: str, exclude_bench_id: str) -> bool:
    """Comparable: the same key (checked again after a query by its hash), complete, not this run."""
    return doc.get("target_key") == target_key and bool(doc.get("complete")) and doc.get("bench_id") != exclude_bench_id


def _newest(docs: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    return sorted(docs, key=lambda d: d["finished_at"], reverse=True)[:limit]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _target_doc_id(bench_id: str, model: str) -> str:
    return fs.doc_id(f"{bench_id}__{model}")   # readable, or hashed for a model id too long


class CloudBenchResults:
    """Objects in the raw bucket, target results in Firestore. The bucket is looked up at each
    call, as the clients look up their project: one cached repository serves changing settings."""

    def _bucket(self) -> str:
        return get_settings().require_raw_bucket()

    def write_planned(self, planned: PlannedCases) -> str:
        bucket, path = self._bucket(), _planned_path(planned)
        if not storage.exists(bucket, path):   # content-addressed: the same cases are written once
            storage.write_bytes(bucket, path, planned.model_dump_json().encode(), "application/json")
        return f"gs://{bucket}/{path}"

    def read_planned(self, ref: str) -> PlannedCases:
        return _read_planned_object(ref)

    def write_shard(self, bench_id: str, shard: int, results: list[CaseResult]) -> None:
        storage.write_bytes(self._bucket(), _shard_path(bench_id, shard), _ndjson(results), "application/x-ndjson")

    def read_results(self, bench_id: str, shard_count: int) -> list[CaseResult]:
        from google.api_core.exceptions import NotFound

        bucket, out = self._bucket(), []
        for shard in range(shard_count):
            try:
                out += _rows(storage.read_bytes(bucket, _shard_path(bench_id, shard)))
            except NotFound as exc:
                raise NotStored(f"shard {shard} of {bench_id} has no results") from exc
        return out

    def results_location(self, bench_id: str) -> str:
        return f"gs://{self._bucket()}/{RESULTS_PREFIX}{bench_id}/"

    def save_target_result(self, doc: dict[str, Any]) -> None:
        fs.client().collection(TARGET_RESULTS).document(_target_doc_id(doc["bench_id"], doc["model"])).set(
            {**doc, "target_key_sha256": _sha256(doc["target_key"])})

    def baseline_runs(self, target_key: str, exclude_bench_id: str, limit: int) -> list[dict[str, Any]]:
        """Equality query only (no composite index); filtered and ordered in memory. A key too long
        for a query (a very long model id) is found by its hash; others by the key itself, which
        documents saved before the hash was stored have too."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        by = ("target_key", target_key) if len(target_key.encode()) <= MAX_KEY_BYTES \
            else ("target_key_sha256", _sha256(target_key))
        docs = [s.to_dict() for s in fs.client().collection(TARGET_RESULTS)
                .where(filter=FieldFilter(by[0], "==", by[1])).stream()]
        return _newest([d for d in docs if _is_baseline(d, target_key, exclude_bench_id)], limit)


@functools.lru_cache(maxsize=16)
def _read_planned_object(ref: str) -> PlannedCases:
    """Cached per process: content-addressed objects never change, and every shard an instance
    runs reads the same cases."""
    from google.api_core.exceptions import NotFound

    bucket, path = storage.split_uri(ref)
    try:
        return _checked_planned(ref, storage.read_bytes(bucket, path))
    except NotFound as exc:
        raise NotStored(f"{ref}: no planned cases") from exc


class InMemoryBenchResults:
    """The same contract in dicts; objects are kept serialized, so what a test reads back went
    through the same encoding as in the bucket."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.targets: dict[tuple[str, str], dict[str, Any]] = {}
        self._mutex = threading.Lock()

    def write_planned(self, planned: PlannedCases) -> str:
        path = _planned_path(planned)
        with self._mutex:
            self.objects.setdefault(path, planned.model_dump_json().encode())
        return f"memory://{path}"

    def read_planned(self, ref: str) -> PlannedCases:
        with self._mutex:
            raw = self.objects.get(ref.removeprefix("memory://"))
        if raw is None:
            raise NotStored(f"{ref}: no planned cases")
        return _checked_planned(ref, raw)

    def write_shard(self, bench_id: str, shard: int, results: list[CaseResult]) -> None:
        with self._mutex:
            self.objects[_shard_path(bench_id, shard)] = _ndjson(results)

    def read_results(self, bench_id: str, shard_count: int) -> list[CaseResult]:
        out = []
        with self._mutex:
            for shard in range(shard_count):
                raw = self.objects.get(_shard_path(bench_id, shard))
                if raw is None:
                    raise NotStored(f"shard {shard} of {bench_id} has no results")
                out += _rows(raw)
        return out

    def results_location(self, bench_id: str) -> str:
        return f"memory://{RESULTS_PREFIX}{bench_id}/"

    def save_target_result(self, doc: dict[str, Any]) -> None:
        with self._mutex:
            self.targets[(doc["bench_id"], doc["model"])] = deepcopy(doc)

    def baseline_runs(self, target_key: str, exclude_bench_id: str, limit: int) -> list[dict[str, Any]]:
        with self._mutex:
            docs = [deepcopy(d) for d in self.targets.values() if _is_baseline(d, target_key, exclude_bench_id)]
        return _newest(docs, limit)


@functools.cache
def repository() -> BenchResults:
    return CloudBenchResults()
