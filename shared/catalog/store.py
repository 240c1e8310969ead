"""The catalog behind a repository: models, categories, rankings and their snapshots, routing,
endpoint status, catalog meta, raw archives of what a sync fetched, and sync-run records.
`FirestoreCatalogStore` (Firestore + Cloud Storage) in production, `InMemoryCatalogStore` in unit
tests, one contract (tests/catalog/test_catalog_store_contract.py runs the same tests against
both). Collection names and object path prefixes live here only.

Keys are the catalog's own (model ids and category slugs hold '/'); readers get them from the
documents' own fields, so how a key becomes a Firestore document id stays inside this module.
Writes are (key, fields, op) with op "set" (the whole document) or "update" (the given top-level
fields replaced whole; the document must exist).
"""
from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Protocol

from shared.platform import firestore as fs
from shared.platform import storage
from shared.platform.leases import LEASE_S, decide_claim

MODELS = "models"
MODEL_STATUS = "model_status"
CATEGORIES = "categories"
RANKINGS = "rankings"
SNAPSHOTS = "snapshots"
ROUTING = "routing"
SYNC_RUNS = "sync_runs"
CATALOG_META = "catalog_meta"
DRIFT_CHECKS = "drift_checks"
META_DOC = "openrouter"
RAW_PREFIX = "raw/openrouter"

Write = tuple[str, dict[str, Any], str]


class CatalogStore(Protocol):
    def models(self, fields: list[str], active_only: bool = False) -> dict[str, dict[str, Any]]:
        """id → the given fields of every (or every active) model."""
    def models_by_id(self, ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        """id → the given fields of those models; absent ones left out."""
    def model_id_for_hugging_face(self, repo_id: str) -> str | None: ...
    def write_models(self, writes: Iterable[Write]) -> int:
        """Apply (model id, fields, op) writes; returns how many documents were written."""
    def categories(self) -> dict[str, dict[str, Any]]: ...
    def write_categories(self, writes: Iterable[Write]) -> int: ...
    def ranking(self, category: str) -> dict[str, Any] | None:
        """The category's latest ranking (latest_entries, movements, latest_snapshot_id)."""
    def add_ranking_snapshot(self, category: str, snapshot_id: str, snapshot: dict[str, Any],
                             latest: dict[str, Any]) -> bool:
        """Append a snapshot (never rewritten: False when `snapshot_id` exists) and set the
        category's latest fields from it."""
    def ranking_snapshots(self, category: str) -> list[dict[str, Any]]:
        """The category's snapshots, oldest first (snapshot ids start with their time)."""
    def routing(self) -> dict[str, dict[str, Any]]:
        """category → its routing entry (primary_model, fallbacks, source)."""
    def seed_routing(self, category: str, entry: dict[str, Any]) -> bool:
        """Create the category's routing entry only where none exists (False then)."""
    def status_hashes(self) -> dict[str, str | None]:
        """model id → the status_hash of its stored endpoint status."""
    def write_model_status(self, writes: Iterable[Write]) -> int: ...
    def catalog_meta(self) -> dict[str, Any]: ...
    def update_catalog_meta(self, fields: dict[str, Any]) -> None: ...
    def archive_raw(self, bucket: str, sync_run_id: str, started_at: datetime, name: str, data: bytes) -> str:
        """Keep a fetched payload (JSON) under the sync run's day and id; returns its gs:// URI."""
    def sync_run(self, sync_run_id: str) -> dict[str, Any] | None: ...
    def claim_sync_run(self, sync_run_id: str, initial: dict[str, Any]) -> str:
        """"claimed" (a missing record is created from `initial`) | "busy" | "done"."""
    def keep_sync_run_alive(self, sync_run_id: str) -> Any: ...
    def save_sync_run(self, sync_run_id: str, record: dict[str, Any]) -> None:
        """Replace the record whole."""
    # --- reads and the record of the drift check (shared/catalog/drift.py) ----------------------
    def stale_active_models(self, seen_before: datetime) -> dict[str, dict[str, Any]]:
        """id → {id, last_seen_at} of active models whose last_seen_at is before `seen_before`
        (a composite query: terraform/firestore_indexes.tf)."""
    def latest_rankings(self) -> dict[str, dict[str, Any]]:
        """category → its ranking parent document (latest_entries, latest_fetched_at, ...)."""
    def model_statuses(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """model id → {available, live_endpoints, total_endpoints} of its stored endpoint status."""
    def drift_check(self, check_id: str) -> dict[str, Any] | None: ...
    def save_drift_check(self, check_id: str, record: dict[str, Any]) -> None: ...
    def latest_drift_check(self) -> dict[str, Any] | None:
        """The drift check that finished last (by `finished_at`), or None."""


def archive_path(sync_run_id: str, started_at: datetime, name: str) -> str:
    return f"{RAW_PREFIX}/{started_at:%Y-%m-%d}/{sync_run_id}/{name}"


def _project(doc: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {f: doc[f] for f in fields if f in doc}


# --- Firestore and Cloud Storage ------------------------------------------------------------------
class FirestoreCatalogStore:
    """Client libraries are imported on first use: the benchmark and research functions read
    the catalog, and their cold starts should not pay for what they never touch."""

    def _col(self, name: str) -> Any:
        return fs.client().collection(name)

    def _keyed(self, query: Any, key: str) -> dict[str, dict[str, Any]]:
        return {d[key]: d for d in (s.to_dict() for s in query.stream()) if d and d.get(key)}

    def _apply(self, name: str, writes: Iterable[Write]) -> int:
        col = self._col(name)
        return fs.commit_in_batches((col.document(fs.doc_id(key)), data, op) for key, data, op in writes)

    def models(self, fields: list[str], active_only: bool = False) -> dict[str, dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        fields = sorted({"id", *fields})
        # queries spelled out as one chain: tests/platform/test_firestore_indexes.py reads them
        query = fs.client().collection(MODELS).where(filter=FieldFilter("active", "==", True)).select(fields) \
            if active_only else self._col(MODELS).select(fields)
        return self._keyed(query, "id")

    def models_by_id(self, ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        refs = [self._col(MODELS).document(fs.doc_id(i)) for i in ids]
        found = (s.to_dict() for s in fs.client().get_all(refs, field_paths=sorted({"id", *fields})) if s.exists)
        return {d["id"]: d for d in found if d.get("id")}

    def model_id_for_hugging_face(self, repo_id: str) -> str | None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        docs = list(fs.client().collection(MODELS).where(filter=FieldFilter("hugging_face_id", "==", repo_id))
                    .limit(1).stream())
        return docs[0].to_dict().get("id") if docs else None

    def write_models(self, writes: Iterable[Write]) -> int:
        return self._apply(MODELS, writes)

    def categories(self) -> dict[str, dict[str, Any]]:
        return self._keyed(self._col(CATEGORIES), "slug")

    def write_categories(self, writes: Iterable[Write]) -> int:
        return self._apply(CATEGORIES, writes)

    def _ranking_ref(self, category: str) -> Any:
        return self._col(RANKINGS).document(fs.doc_id(category))

    def ranking(self, category: str) -> dict[str, Any] | None:
        snap = self._ranking_ref(category).get()
        return snap.to_dict() if snap.exists else None

    def add_ranking_snapshot(self, category: str, snapshot_id: str, snapshot: dict[str, Any],
                             latest: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        parent = self._ranking_ref(category)
        try:
            parent.collection(SNAPSHOTS).document(fs.doc_id(snapshot_id)).create(
                {**snapshot, "snapshot_id": snapshot_id})
        except AlreadyExists:
            return False
        parent.set(latest, merge=list(latest))
        return True

    def ranking_snapshots(self, category: str) -> list[dict[str, Any]]:
        docs = ({"snapshot_id": s.id, **s.to_dict()}   # snapshots written before the field: their id
                for s in self._ranking_ref(category).collection(SNAPSHOTS).stream())
        return sorted(docs, key=lambda d: d["snapshot_id"])

    def routing(self) -> dict[str, dict[str, Any]]:
        return self._keyed(self._col(ROUTING), "category")

    def seed_routing(self, category: str, entry: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        try:
            self._col(ROUTING).document(fs.doc_id(category)).create({**entry, "category": category})
            return True
        except AlreadyExists:
            return False

    def status_hashes(self) -> dict[str, str | None]:
        docs = self._keyed(self._col(MODEL_STATUS).select(["model_id", "status_hash"]), "model_id")
        return {m: d.get("status_hash") for m, d in docs.items()}

    def write_model_status(self, writes: Iterable[Write]) -> int:
        return self._apply(MODEL_STATUS, writes)

    def catalog_meta(self) -> dict[str, Any]:
        return self._col(CATALOG_META).document(META_DOC).get().to_dict() or {}

    def update_catalog_meta(self, fields: dict[str, Any]) -> None:
        self._col(CATALOG_META).document(META_DOC).set(fields, merge=list(fields))

    def archive_raw(self, bucket: str, sync_run_id: str, started_at: datetime, name: str, data: bytes) -> str:
        return storage.write_bytes(bucket, archive_path(sync_run_id, started_at, name), data, "application/json")

    def _run_ref(self, sync_run_id: str) -> Any:
        return self._col(SYNC_RUNS).document(fs.doc_id(sync_run_id))

    def sync_run(self, sync_run_id: str) -> dict[str, Any] | None:
        snap = self._run_ref(sync_run_id).get()
        return snap.to_dict() if snap.exists else None

    def claim_sync_run(self, sync_run_id: str, initial: dict[str, Any]) -> str:
        return fs.claim(self._run_ref(sync_run_id), create_fields=initial)

    def keep_sync_run_alive(self, sync_run_id: str) -> Any:
        return fs.keep_alive(self._run_ref(sync_run_id))

    def save_sync_run(self, sync_run_id: str, record: dict[str, Any]) -> None:
        self._run_ref(sync_run_id).set(record)

    def stale_active_models(self, seen_before: datetime) -> dict[str, dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = fs.client().collection(MODELS).where(filter=FieldFilter("active", "==", True)) \
            .where(filter=FieldFilter("last_seen_at", "<", seen_before)).select(["id", "last_seen_at"])
        return self._keyed(query, "id")

    def latest_rankings(self) -> dict[str, dict[str, Any]]:
        return self._keyed(self._col(RANKINGS), "category")

    def model_statuses(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        refs = [self._col(MODEL_STATUS).document(fs.doc_id(i)) for i in ids]
        fields = ["model_id", "available", "live_endpoints", "total_endpoints"]
        found = (s.to_dict() for s in fs.client().get_all(refs, field_paths=fields) if s.exists) if refs else ()
        return {d["model_id"]: d for d in found if d.get("model_id")}

    def drift_check(self, check_id: str) -> dict[str, Any] | None:
        snap = self._col(DRIFT_CHECKS).document(fs.doc_id(check_id)).get()
        return snap.to_dict() if snap.exists else None

    def save_drift_check(self, check_id: str, record: dict[str, Any]) -> None:
        self._col(DRIFT_CHECKS).document(fs.doc_id(check_id)).set(record)

    def latest_drift_check(self) -> dict[str, Any] | None:
        from google.cloud import firestore

        found = list(self._col(DRIFT_CHECKS).order_by("finished_at", direction=firestore.Query.DESCENDING)
                     .limit(1).stream())
        return found[0].to_dict() if found else None


# --- in memory (tests) ----------------------------------------------------------------------------
class InMemoryCatalogStore:
    """The same contract in dicts (deep copies in and out), with an injectable clock for claims."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.collections: dict[str, dict[str, dict[str, Any]]] = {
            name: {} for name in (MODELS, CATEGORIES, RANKINGS, ROUTING, MODEL_STATUS, SYNC_RUNS, DRIFT_CHECKS)}
        self.snapshots: dict[str, dict[str, dict[str, Any]]] = {}
        self.meta: dict[str, Any] = {}
        self.objects: dict[str, bytes] = {}    # gs:// URI → bytes
        self.clock = clock
        self._mutex = threading.Lock()

    def _apply(self, name: str, writes: Iterable[Write]) -> int:
        col, written = self.collections[name], 0
        with self._mutex:
            for key, data, op in writes:
                if op == "set":
                    col[key] = deepcopy(data)
                elif op == "update":
                    col[key].update(deepcopy(data))   # like Firestore's update: the document must exist
                else:
                    raise ValueError(f"unknown write op {op!r}")
                written += 1
        return written

    def _keyed(self, name: str, key: str) -> dict[str, dict[str, Any]]:
        with self._mutex:
            return {d[key]: deepcopy(d) for d in self.collections[name].values() if d.get(key)}

    def models(self, fields: list[str], active_only: bool = False) -> dict[str, dict[str, Any]]:
        fields = ["id", *fields]
        return {k: _project(d, fields) for k, d in self._keyed(MODELS, "id").items()
                if not active_only or d.get("active") is True}

    def models_by_id(self, ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        fields = ["id", *fields]
        with self._mutex:
            found = self.collections[MODELS]
            return {i: deepcopy(_project(found[i], fields)) for i in ids if i in found}

    def model_id_for_hugging_face(self, repo_id: str) -> str | None:
        with self._mutex:
            return next((d.get("id") for d in self.collections[MODELS].values()
                         if d.get("hugging_face_id") == repo_id), None)

    def write_models(self, writes: Iterable[Write]) -> int:
        return self._apply(MODELS, writes)

    def categories(self) -> dict[str, dict[str, Any]]:
        return self._keyed(CATEGORIES, "slug")

    def write_categories(self, writes: Iterable[Write]) -> int:
        return self._apply(CATEGORIES, writes)

    def ranking(self, category: str) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(self.collections[RANKINGS].get(category))

    def add_ranking_snapshot(self, category: str, snapshot_id: str, snapshot: dict[str, Any],
                             latest: dict[str, Any]) -> bool:
        with self._mutex:
            snapshots = self.snapshots.setdefault(category, {})
            if snapshot_id in snapshots:
                return False
            snapshots[snapshot_id] = deepcopy({**snapshot, "snapshot_id": snapshot_id})
            self.collections[RANKINGS].setdefault(category, {}).update(deepcopy(latest))
            return True

    def ranking_snapshots(self, category: str) -> list[dict[str, Any]]:
        with self._mutex:
            return [deepcopy(s) for _, s in sorted(self.snapshots.get(category, {}).items())]

    def routing(self) -> dict[str, dict[str, Any]]:
        return self._keyed(ROUTING, "category")

    def seed_routing(self, category: str, entry: dict[str, Any]) -> bool:
        with self._mutex:
            if category in self.collections[ROUTING]:
                return False
            self.collections[ROUTING][category] = deepcopy({**entry, "category": category})
            return True

    def status_hashes(self) -> dict[str, str | None]:
        return {m: d.get("status_hash") for m, d in self._keyed(MODEL_STATUS, "model_id").items()}

    def write_model_status(self, writes: Iterable[Write]) -> int:
        return self._apply(MODEL_STATUS, writes)

    def catalog_meta(self) -> dict[str, Any]:
        with self._mutex:
            return deepcopy(self.meta)

    def update_catalog_meta(self, fields: dict[str, Any]) -> None:
        with self._mutex:
            self.meta.update(deepcopy(fields))

    def archive_raw(self, bucket: str, sync_run_id: str, started_at: datetime, name: str, data: bytes) -> str:
        uri = f"gs://{bucket}/{archive_path(sync_run_id, started_at, name)}"
        with self._mutex:
            self.objects[uri] = bytes(data)
        return uri

    def sync_run(self, sync_run_id: str) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(self.collections[SYNC_RUNS].get(sync_run_id))

    def claim_sync_run(self, sync_run_id: str, initial: dict[str, Any]) -> str:
        with self._mutex:
            runs = self.collections[SYNC_RUNS]
            if sync_run_id not in runs:        # created claimed, as fs.claim does
                runs[sync_run_id] = {**deepcopy(initial), **decide_claim({}, self.clock(), LEASE_S)[1]}
                return "claimed"
            outcome, update = decide_claim(runs[sync_run_id], self.clock(), LEASE_S)
            runs[sync_run_id].update(update)
            return outcome

    @contextmanager
    def keep_sync_run_alive(self, sync_run_id: str) -> Iterator[None]:
        with self._mutex:
            self.collections[SYNC_RUNS][sync_run_id]["heartbeat_at"] = self.clock()
        yield

    def save_sync_run(self, sync_run_id: str, record: dict[str, Any]) -> None:
        with self._mutex:
            self.collections[SYNC_RUNS][sync_run_id] = deepcopy(record)

    def stale_active_models(self, seen_before: datetime) -> dict[str, dict[str, Any]]:
        # like Firestore: a document without the field does not match the range filter
        return {k: _project(d, ["id", "last_seen_at"]) for k, d in self._keyed(MODELS, "id").items()
                if d.get("active") is True and d.get("last_seen_at") is not None and d["last_seen_at"] < seen_before}

    def latest_rankings(self) -> dict[str, dict[str, Any]]:
        return self._keyed(RANKINGS, "category")

    def model_statuses(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        docs = self._keyed(MODEL_STATUS, "model_id")
        fields = ["model_id", "available", "live_endpoints", "total_endpoints"]
        return {i: _project(docs[i], fields) for i in ids if i in docs}

    def drift_check(self, check_id: str) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(self.collections[DRIFT_CHECKS].get(check_id))

    def latest_drift_check(self) -> dict[str, Any] | None:
        with self._mutex:
            docs = [d for d in self.collections[DRIFT_CHECKS].values() if d.get("finished_at")]
            return deepcopy(max(docs, key=lambda d: d["finished_at"])) if docs else None

    def save_drift_check(self, check_id: str, record: dict[str, Any]) -> None:
        with self._mutex:
            self.collections[DRIFT_CHECKS][check_id] = deepcopy(record)


# --- the default repository and the reads other areas need ---------------------------------------
@functools.cache
def repository() -> CatalogStore:
    return FirestoreCatalogStore()


def routing_targets(store: CatalogStore | None = None) -> dict[str, list[str]]:
    """model → the routing categories it is primary for (the benchmark's default targets)."""
    targets: dict[str, list[str]] = {}
    for category, entry in (store or repository()).routing().items():
        if entry.get("primary_model"):
            targets.setdefault(entry["primary_model"], []).append(category)
    return {m: sorted(c) for m, c in sorted(targets.items())}


def model_id_for_hugging_face(repo_id: str, store: CatalogStore | None = None) -> str | None:
    """The catalog model whose hugging_face_id is `repo_id` (ties a research finding to OpenRouter)."""
    return (store or repository()).model_id_for_hugging_face(repo_id)
