"""Catalog sync: OpenRouter models, categories, rankings and endpoint status into Firestore.

Modes: full (models, categories, rankings, routing seeds, endpoints), quick (models for
availability and pricing, endpoints), rankings (categories and rankings only).
Every run leaves a sync-run record and archives what it fetched to the raw bucket; where both
live is the catalog store's (shared/catalog/store.py), which this module reads and writes through.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from shared.catalog import categories as cats
from shared.catalog import rankings as rk
from shared.catalog.diff import MassDeactivationRefused, StoredModel, plan_model_changes
from shared.catalog.endpoints import parse_endpoints, status_document
from shared.catalog.models import Drift, DriftLog, Rejected, parse_models
from shared.catalog.openrouter import OpenRouterClient
from shared.catalog.store import CatalogStore, repository
# re-exported for shared/bench/planning.py until it reads store.routing_targets
from shared.config import Settings
from shared.messages import JobStatus, SyncMode
from shared.log import get_logger
from shared.platform.events import RetryLater
from shared.platform.http import SourceError

log = get_logger(__name__)

# pricing_tiers and unparsed: what bounds a call (shared/catalog/models.bounding_pricing)
MODEL_DETAIL_FIELDS = ["name", "pricing", "pricing_tiers", "unparsed", "context_length", "capabilities"]

Mode = SyncMode      # one declaration: the message contract's


class SyncFailed(RuntimeError):
    """The sync could not complete; the message says why and that nothing was applied."""


class SyncRecord(BaseModel):
    """The sync-run record and what the CLI prints. Its claim creates it whole (status
    "running"), so a reader of a run still in progress gets a valid record too."""
    sync_run_id: str
    mode: Mode
    dry_run: bool = False
    weekly_run_id: str | None = None
    status: JobStatus = "running"
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    source: str
    timings_s: dict[str, float] = {}
    counts: dict[str, int] = {}
    rejected: list[Rejected] = []
    # fields of the feed whose shape no longer fits: kept raw on the model, one row per field path
    schema_drift: list[Drift] = []
    added: list[str] = []
    deactivated: list[str] = []
    reactivated: list[str] = []
    price_changes: list[dict[str, Any]] = []
    categories: dict[str, list[str]] = {}
    rankings: dict[str, dict[str, Any]] = {}
    routing_seeded: list[str] = []
    endpoints: dict[str, Any] = {}
    writes: dict[str, int] = {}
    raw_archive: list[str] = []
    warnings: list[str] = []
    errors: list[str] = Field(default_factory=list, description="isolated failures (one category, one model)")
    error: str | None = None


class CatalogSync:
    def __init__(self, settings: Settings, record: SyncRecord, store: CatalogStore | None = None):
        self.settings = settings
        self.rec = record
        self.store = store or repository()
        self.now = record.started_at
        self.api = OpenRouterClient(settings)
        self._active: dict[str, dict[str, Any]] | None = None

    def active_models(self) -> dict[str, dict[str, Any]]:
        """id → {canonical_slug, capabilities} of the active models. After sync_models that is
        the feed it just applied (or would apply, in a dry run); otherwise one read."""
        if self._active is None:
            self._active = self.store.models(["canonical_slug", "capabilities"], active_only=True)
        return self._active

    # --- phases ----------------------------------------------------------------------------
    def run(self) -> None:
        phases = {
            "full": [self.sync_models, self.sync_categories, self.sync_rankings, self.seed_routing,
                     self.sync_endpoints],
            "quick": [self.sync_models, self.sync_endpoints],
            "rankings": [self.sync_categories, self.sync_rankings],
        }[self.rec.mode]
        try:
            for phase in phases:
                started = time.monotonic()
                log.info("sync phase started", phase=phase.__name__, mode=self.rec.mode)
                phase()
                self.rec.timings_s[phase.__name__] = round(time.monotonic() - started, 3)
        finally:
            self.api.close()
            self.rec.counts["http_requests"] = self.api.http.requests_made
            self.rec.counts["http_bytes"] = self.api.http.bytes_received

    def _write(self, kind: str, count: int) -> None:
        self.rec.writes[kind] = self.rec.writes.get(kind, 0) + count

    def _archive(self, name: str, data: bytes) -> None:
        self.rec.raw_archive.append(self.store.archive_raw(
            self.settings.require_raw_bucket(), self.rec.sync_run_id, self.now, name, data))

    def sync_models(self) -> None:
        try:
            entries, pages = self.api.fetch_models()
        except SourceError as exc:
            raise SyncFailed(f"model feed unavailable, nothing changed: {exc} "
                             f"(check OPENROUTER_BASE_URL={self.settings.openrouter_base_url} "
                             f"and the network)") from None
        for i, page in enumerate(pages):
            self._archive("models.json" if len(pages) == 1 else f"models-page-{i + 1}.json", page.body)
        drift = DriftLog()
        models, rejected = parse_models(entries, drift)
        self.rec.rejected = rejected
        self.rec.schema_drift = drift.rows()
        if rejected:
            log.warning("model entries rejected", rejected=len(rejected),
                        first=[r.model_dump() for r in rejected[:3]])
        if self.rec.schema_drift:
            paths = [f"{d.path} ({d.count})" for d in self.rec.schema_drift]
            self.rec.warnings.append(f"schema drift: {len(paths)} field(s) changed shape, kept raw on "
                                     f"their models: {', '.join(paths[:20])}")
            log.warning("schema drift in the model feed", fields=paths[:20])
        # a rejected entry whose id reads is still listed by the feed: it is not deactivated
        listed = {r.model_id for r in rejected if r.model_id}
        stored = {mid: StoredModel.from_doc(d)
                  for mid, d in self.store.models(["content_hash", "active", "pricing"]).items()}
        try:
            plan = plan_model_changes(stored, models, self.settings.mass_deactivation_max_share, listed)
        except MassDeactivationRefused as exc:
            raise SyncFailed(str(exc)) from None
        self.rec.counts.update(plan.counts())
        self.rec.counts["rejected"] = len(rejected)
        self.rec.added = sorted(m.id for m in plan.added)
        self.rec.deactivated = plan.deactivated
        self.rec.reactivated = sorted(m.id for m in plan.reactivated)
        self.rec.price_changes = [p.as_dict() for p in plan.price_changes]
        docs = plan.documents(self.now, self.store.catalog_meta().get("last_models_sync_at"))
        self._active = {m.id: {"id": m.id, "canonical_slug": m.canonical_slug, "capabilities": m.capabilities}
                        for m in models}
        if self.rec.dry_run:
            self.rec.counts["would_write_models"] = len(docs)
            return
        written = self.store.write_models(docs)
        self._write("models", written)
        self.store.update_catalog_meta({"last_models_sync_at": self.now, "last_sync_run_id": self.rec.sync_run_id,
                                        "active_models": plan.seen})
        self._write("catalog_meta", 1)
        log.info("models synced", **plan.counts(), rejected=len(rejected), writes=written)

    def _configured_categories(self) -> list[cats.Category]:
        try:
            return cats.parse_categories(self.settings.openrouter_categories)
        except ValueError as exc:
            raise SyncFailed(f"OPENROUTER_CATEGORIES: {exc}") from None

    def sync_categories(self) -> None:
        configured = self._configured_categories()
        plan = cats.plan_category_changes(self.store.categories(), configured)
        self.rec.categories = {"added": [c.slug for c in plan.added],
                               "reactivated": [c.slug for c in plan.reactivated],
                               "deactivated": plan.deactivated}
        self.rec.counts["categories_active"] = len(configured)
        if self.rec.dry_run:
            return
        writes = [(c.slug, {**c.as_doc(), "active": True, "first_seen_at": self.now, "inactive_since": None},
                   "set") for c in plan.added]
        writes += [(c.slug, {**c.as_doc(), "active": True, "inactive_since": None}, "update")
                   for c in plan.reactivated]
        writes += [(s, {"active": False, "inactive_since": self.now}, "update") for s in plan.deactivated]
        self._write("categories", self.store.write_categories(writes))

    def sync_rankings(self) -> None:
        configured = self._configured_categories()
        slug_of = {mid: d.get("canonical_slug") or mid for mid, d in self.active_models().items()}
        raw: dict[str, Any] = {}
        # time first (sortable), then the sync run: unique even for two syncs in one second
        snapshot_id = f"{self.now:%Y-%m-%dT%H%M%SZ}_{self.rec.sync_run_id}"
        for cat in configured:
            try:
                fetched = self.api.fetch_category_ranking(cat.slug)
                body = fetched.json()
                entries = rk.parse_ranking(body, self.settings.rankings_top_n)
            except (SourceError, ValueError) as exc:
                self.rec.errors.append(f"rankings {cat.slug}: {exc}")
                continue
            raw[cat.slug] = body
            slug_of.update({m["id"]: m["canonical_slug"] for m in body["data"]
                            if isinstance(m, dict) and m.get("id") and m.get("canonical_slug")})
            if not entries:
                self.rec.errors.append(f"rankings {cat.slug}: the feed listed no models; "
                                       f"previous snapshot kept")
                continue
            tokens_note = "no OPENROUTER_API_KEY: token volumes not fetched"
            if self.api.has_key:
                try:
                    volumes = rk.parse_token_volumes(self.api.fetch_token_volumes(cat.slug).json())
                    entries = rk.attach_tokens(entries, volumes, slug_of)
                    tokens_note = None
                except (SourceError, ValueError) as exc:
                    tokens_note = f"token volumes unavailable: {exc}"
                    self.rec.warnings.append(f"rankings {cat.slug}: {tokens_note}")
            parent = self.store.ranking(cat.slug) or {}
            previous = [rk.RankEntry(**e) for e in parent["latest_entries"]] \
                if parent.get("latest_entries") else None
            moves = rk.movements(previous, entries)
            self.rec.rankings[cat.slug] = {
                "snapshot_id": snapshot_id, "top": [e.model_id for e in entries],
                "movements": moves, "tokens": tokens_note or "included"}
            if self.rec.dry_run:
                continue
            snapshot = {"category": cat.slug, "entries": [e.model_dump() for e in entries],
                        "source_url": fetched.url, "fetched_at": self.now,
                        "parser_version": rk.PARSER_VERSION, "sync_run_id": self.rec.sync_run_id,
                        "tokens_note": tokens_note}
            latest = {"category": cat.slug, "latest_snapshot_id": snapshot_id, "latest_fetched_at": self.now,
                      "latest_entries": snapshot["entries"], "movements": moves}
            if not self.store.add_ranking_snapshot(cat.slug, snapshot_id, snapshot, latest):
                self.rec.warnings.append(f"rankings {cat.slug}: snapshot {snapshot_id} already exists")
                continue
            self._write("rankings", 2)
        if raw:
            self._archive("rankings.json", json.dumps(raw).encode())
        self.rec.counts["rankings_categories"] = len(self.rec.rankings)

    def seed_routing(self) -> None:
        """Create routing/<category> from the first rankings, only where absent.

        The sync never edits an existing routing entry: later changes go through the planner."""
        if self.rec.dry_run:
            return
        active = self.active_models()
        for slug, info in self.rec.rankings.items():
            ranked = [m for m in info["top"] if m in active]
            if not ranked:
                continue
            if self.store.seed_routing(slug, {"primary_model": ranked[0], "fallbacks": ranked[1:3],
                                              "updated_at": self.now,
                                              "source": f"seed:rankings:{info['snapshot_id']}"}):
                self.rec.routing_seeded.append(slug)
                self._write("routing", 1)

    def sync_endpoints(self) -> None:
        docs = list(self.active_models().values())
        # Router models (dynamic "-1" pricing, e.g. openrouter/auto) have no endpoints of their
        # own: they are not checked, and not reported unavailable.
        routers = sorted(d["id"] for d in docs if (d.get("capabilities") or {}).get("dynamic_pricing"))
        active = sorted({d["id"] for d in docs} - set(routers))
        stored = self.store.status_hashes()
        results: dict[str, Any] = {}
        errors: list[str] = []

        def fetch(model_id: str) -> tuple[str, Any, str | None]:
            try:
                body = self.api.fetch_endpoints(model_id).json()
                return model_id, body, None
            except SourceError as exc:
                return model_id, None, str(exc)

        with ThreadPoolExecutor(max_workers=self.settings.endpoint_concurrency) as pool:
            for model_id, body, err in pool.map(fetch, active):
                if err:
                    errors.append(f"endpoints {model_id}: {err}")
                else:
                    results[model_id] = body
        writes, unavailable, raw = [], [], {}
        for model_id, body in results.items():
            raw[model_id] = body
            try:
                doc = status_document(model_id, parse_endpoints(body))
            except ValueError as exc:
                errors.append(f"endpoints {model_id}: {exc}")
                continue
            if not doc["available"]:
                unavailable.append(model_id)
            if stored.get(model_id) != doc["status_hash"]:
                writes.append((model_id, {**doc, "checked_at": self.now, "changed_at": self.now}, "set"))
        self.rec.endpoints = {"checked": len(active), "fetched": len(results), "routers_not_checked": routers,
                              "unavailable": sorted(unavailable), "status_changed": len(writes)}
        self.rec.errors.extend(sorted(errors))
        if raw:
            self._archive("endpoints.json", json.dumps(raw).encode())
        if not self.rec.dry_run:
            self._write("model_status", self.store.write_model_status(writes))
        log.info("endpoints synced", checked=len(active), unavailable=len(unavailable), errors=len(errors))


def save_record(rec: SyncRecord, store: CatalogStore | None = None) -> None:
    (store or repository()).save_sync_run(rec.sync_run_id, rec.model_dump(mode="python"))


def model_details(ids: list[str], store: CatalogStore | None = None) -> dict[str, dict[str, Any]]:
    """id, name, pricing, context length and capabilities of catalog models, by id (absent ones left out)."""
    return (store or repository()).models_by_id(ids, MODEL_DETAIL_FIELDS) if ids else {}


def load_record(sync_run_id: str, store: CatalogStore | None = None) -> SyncRecord | None:
    """The sync-run record, also while the run is in progress (status "running")."""
    doc = (store or repository()).sync_run(sync_run_id)
    return SyncRecord.model_validate(doc) if doc is not None else None


def run_sync(settings: Settings, mode: Mode, sync_run_id: str, *, dry_run: bool = False,
             weekly_run_id: str | None = None, store: CatalogStore | None = None) -> SyncRecord:
    """Run one sync, exactly once per sync_run_id (a redelivery returns status 'duplicate')."""
    store = store or repository()
    rec = SyncRecord(sync_run_id=sync_run_id, mode=mode, dry_run=dry_run, weekly_run_id=weekly_run_id,
                     started_at=datetime.now(timezone.utc), source=settings.openrouter_base_url)
    claim = store.claim_sync_run(sync_run_id, rec.model_dump(mode="python"))
    if claim == "busy":
        raise RetryLater(f"sync {sync_run_id} is running in another attempt with a live lease")
    if claim != "claimed":
        existing = store.sync_run(sync_run_id) or {}
        log.warning("sync already handled", sync_run_id=sync_run_id, claim=claim,
                    status=existing.get("status"))
        duplicate = SyncRecord(sync_run_id=sync_run_id, mode=mode, started_at=rec.started_at,
                               source=settings.openrouter_base_url, status="duplicate")
        duplicate.warnings.append(f"sync {sync_run_id} was already {existing.get('status')}; not run again")
        return duplicate
    started = time.monotonic()
    try:
        with store.keep_sync_run_alive(sync_run_id):
            CatalogSync(settings, rec, store).run()
        rec.status = "partial" if rec.errors or rec.rejected else "succeeded"
    except SyncFailed as exc:
        rec.status, rec.error = "failed", str(exc)
        log.error("sync failed", error=str(exc))
    finally:
        rec.finished_at = datetime.now(timezone.utc)
        rec.duration_s = round(time.monotonic() - started, 3)
        if rec.status == "running":
            # An unexpected exception (Firestore, Storage): record it and let it propagate so
            # Pub/Sub redelivers; "errored" is claimable again, unlike "failed".
            rec.status, rec.error = "errored", "internal error (see logs); will be retried"
        save_record(rec, store)
    log.info("sync finished", sync_run_id=sync_run_id, status=rec.status, counts=rec.counts,
             duration_s=rec.duration_s)
    return rec
