"""Serving version 1: the catalog as the first sync stored it, its seeded routing, and the
defaults in shared/serving/defaults.yaml. Made by the first successful catalog sync (or, if that
did not happen, by the first plan)."""
from __future__ import annotations

from datetime import datetime

from shared.catalog.store import CatalogStore
from shared.serving import store as serving_store
from shared.serving.changes import initial_version
from shared.serving.models import ServingVersion, load_defaults
from shared.serving.store import ServingStore

MODEL_FIELDS = ["name", "pricing", "capabilities", "active", "first_seen_at"]


class NothingToServe(RuntimeError):
    """No serving version, and no catalog to make version 1 from."""


def ensure_version_one(catalog: CatalogStore, serving: ServingStore, now: datetime, created_by: str) -> ServingVersion:
    """The current version; when there is none, version 1 made from the stored catalog."""
    version = serving_store.current(serving)
    if version is not None:
        return version
    models = catalog.models(MODEL_FIELDS)
    if not models:
        raise NothingToServe("no serving version yet and the catalog is empty: the first sync makes version 1")
    prompts, strategies = load_defaults()
    routing = {slug: {"primary_model": r.get("primary_model"), "fallbacks": r.get("fallbacks") or []}
               for slug, r in catalog.routing().items()}
    first = initial_version(list(models.values()), list(catalog.categories().values()), routing, prompts,
                            strategies, created_by, now)
    serving.promote(first)          # "moved": another attempt made it first; read what is there
    return serving_store.current(serving) or first
