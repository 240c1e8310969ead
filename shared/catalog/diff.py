"""Pure change planning for the model catalog: what a fetched feed changes in stored state.

No I/O here, so the rules (what is an update, a price change, a deactivation, when a feed is
too suspicious to apply) are tested directly on recorded real snapshots.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from shared.catalog.models import NORMALISER_VERSION, CatalogModel


class MassDeactivationRefused(RuntimeError):
    """The feed would deactivate too large a share of active models; nothing was changed."""


@dataclass(frozen=True)
class StoredModel:
    """The part of a stored model document the planner needs."""
    id: str
    content_hash: str
    active: bool
    pricing: dict[str, str]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "StoredModel":
        return cls(id=doc["id"], content_hash=doc.get("content_hash", ""),
                   active=bool(doc.get("active", False)), pricing=dict(doc.get("pricing") or {}))


@dataclass
class PriceChange:
    model_id: str
    old: dict[str, str]
    new: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        keys = sorted(set(self.old) | set(self.new))
        return {"model_id": self.model_id,
                "changes": {k: {"old": self.old.get(k), "new": self.new.get(k)}
                            for k in keys if self.old.get(k) != self.new.get(k)}}


@dataclass
class ModelChangePlan:
    seen: int = 0
    added: list[CatalogModel] = field(default_factory=list)
    updated: list[CatalogModel] = field(default_factory=list)        # content changed
    reactivated: list[CatalogModel] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    price_changes: list[PriceChange] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        return {"seen": self.seen, "added": len(self.added), "updated": len(self.updated),
                "price_changed": len(self.price_changes), "deactivated": len(self.deactivated),
                "reactivated": len(self.reactivated), "unchanged": self.unchanged}

    def documents(self, now: datetime, previous_sync_at: datetime | None
                  ) -> list[tuple[str, dict[str, Any], str]]:
        """(model id, data, op) for every document that must be written; nothing else.
        op "set" writes a whole new document; "update" replaces the given top-level fields."""
        out: list[tuple[str, dict[str, Any], str]] = []
        for m in self.added:
            out.append((m.id, {**_model_fields(m), "active": True, "first_seen_at": now,
                               "last_seen_at": now, "inactive_since": None, "updated_at": now}, "set"))
        for m in self.updated:
            out.append((m.id, {**_model_fields(m), "last_seen_at": now, "updated_at": now}, "update"))
        for m in self.reactivated:
            out.append((m.id, {**_model_fields(m), "active": True, "inactive_since": None,
                               "reactivated_at": now, "last_seen_at": now, "updated_at": now}, "update"))
        for model_id in self.deactivated:
            out.append((model_id, {"active": False, "inactive_since": now, "updated_at": now,
                                   # the last sync that still listed it
                                   **({"last_seen_at": previous_sync_at} if previous_sync_at else {})},
                        "update"))
        return out


def _model_fields(m: CatalogModel) -> dict[str, Any]:
    return {**m.model_dump(mode="json"), "content_hash": m.content_hash(),
            "normaliser_version": NORMALISER_VERSION}


def plan_model_changes(stored: dict[str, StoredModel], fetched: list[CatalogModel],
                       max_deactivate_share: float, listed: Iterable[str] = ()) -> ModelChangePlan:
    """`listed`: ids the feed listed in entries that were rejected: they are not deactivated
    (a changed entry must not take a model out of the catalog), nor updated."""
    plan = ModelChangePlan(seen=len(fetched))
    active_before = {mid for mid, s in stored.items() if s.active}
    if not fetched:
        raise MassDeactivationRefused(
            f"the feed listed no models; refusing to deactivate {len(active_before)} active models")
    fetched_ids = set()
    for m in fetched:
        fetched_ids.add(m.id)
        old = stored.get(m.id)
        if old is None:
            plan.added.append(m)
            continue
        changed = old.content_hash != m.content_hash()
        if old.pricing != m.pricing:
            plan.price_changes.append(PriceChange(m.id, old.pricing, m.pricing))
        if not old.active:
            plan.reactivated.append(m)
        elif changed:
            plan.updated.append(m)
        else:
            plan.unchanged += 1
    plan.deactivated = sorted(active_before - fetched_ids - set(listed))
    if active_before:
        share = len(plan.deactivated) / len(active_before)
        if share > max_deactivate_share:
            raise MassDeactivationRefused(
                f"the feed would deactivate {len(plan.deactivated)} of {len(active_before)} active "
                f"models ({share:.0%} > limit {max_deactivate_share:.0%}); the feed looks empty, "
                f"truncated or shrunken, so nothing was changed. Raise "
                f"MASS_DEACTIVATION_MAX_SHARE for one run if the removal is real")
    return plan
