"""Typed changes to the serving configuration, and the pure function that builds a candidate
version from the current one and a list of changes. The planner proposes changes; the upgrade
stage applies them; nothing else edits what the platform serves."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.serving.models import (AppliedChange, PromptTemplate, Route, ServedCategory, ServedModel,
                                   ServingVersion, Strategy)

ChangeKind = Literal["catalog_add", "catalog_deactivate", "catalog_reactivate", "pricing_update", "category_add",
                     "routing_primary", "fallback_update", "prompt_template_update", "strategy_change",
                     "evaluate_model"]
# kinds that change nothing served: a request to the next benchmark run, never part of a candidate
NOT_SERVED_KINDS = ("evaluate_model",)
# kinds that change what a route serves: measured by a post-change benchmark before promotion
POST_BENCHMARK_KINDS = ("routing_primary", "fallback_update", "strategy_change", "prompt_template_update")
Risk = Literal["LOW", "MEDIUM", "HIGH"]
Decision = Literal["auto_apply", "gated", "deferred", "rejected"]


class ChangeConflict(ValueError):
    """A change does not fit the version it is applied to (its `before` is not what is there)."""


class Change(BaseModel):
    """One proposed change. Its id derives from its content (kind, target, before, after), so
    planning the same week twice proposes the same ids."""
    model_config = ConfigDict(extra="forbid")
    id: str = ""
    kind: ChangeKind
    target: str                              # model id, category slug or template name
    before: Any = None
    after: Any = None
    risk: Risk = "LOW"
    priority: float = 0.0
    priority_parts: dict[str, float] = {}
    rationale: str = ""
    evidence: dict[str, list[str]] = {}      # sync_runs, ranking_snapshots, findings, bench_runs
    decision: Decision = "deferred"
    decision_rule: str = ""
    simulated: bool = False                  # its evidence came from simulated models
    needs_post_benchmark: bool = False       # changes what a route serves: measured before promotion

    def model_post_init(self, _: Any) -> None:
        if not self.id:
            self.id = change_id(self.kind, self.target, self.before, self.after)

    def measured_before_promotion(self) -> bool:
        return self.needs_post_benchmark or self.kind in POST_BENCHMARK_KINDS

    def applied(self) -> AppliedChange:
        return AppliedChange(change_id=self.id, kind=self.kind, target=self.target,
                             summary=f"{self.kind} {self.target}: {_short(self.before)} → {_short(self.after)}")


def change_id(kind: str, target: str, before: Any, after: Any) -> str:
    body = json.dumps([kind, target, before, after], sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def build_candidate(base: ServingVersion, changes: list[Change], created_by: str, reason: str,
                    now: datetime) -> ServingVersion:
    """Version base.number + 1 with `changes` applied in order. ChangeConflict when a change's
    `before` is not what `base` holds (it was planned against another version), or when a change
    is of a kind that changes nothing served (`evaluate_model`: it asks the next benchmark run to
    measure a model; it is rejected here, never silently dropped, so a candidate's change list
    is exactly what it serves differently)."""
    models = dict(base.models)
    categories = dict(base.categories)
    routing = dict(base.routing)
    prompts = dict(base.prompts)
    strategies = dict(base.strategies)
    for c in changes:
        _require(c.kind not in NOT_SERVED_KINDS, c, "it changes nothing served and is never part of a candidate")
        if c.kind in ("catalog_add", "catalog_reactivate"):
            models[c.target] = ServedModel.model_validate({**(c.after or {}), "id": c.target, "active": True})
        elif c.kind == "catalog_deactivate":
            _require(c.target in models, c, "the model is not served")
            models[c.target] = models[c.target].model_copy(update={"active": False})
        elif c.kind == "pricing_update":
            _require(c.target in models, c, "the model is not served")
            _require(dict(models[c.target].pricing) == (c.before or {}), c, "its pricing changed meanwhile")
            models[c.target] = models[c.target].model_copy(update={"pricing": dict(c.after or {})})
        elif c.kind == "category_add":
            categories[c.target] = ServedCategory.model_validate({**(c.after or {}), "slug": c.target})
        elif c.kind in ("routing_primary", "fallback_update"):
            current = routing.get(c.target)
            _require((current.model_dump(mode="json") if current else None) == c.before, c,
                     "its route changed meanwhile")
            routing[c.target] = Route.model_validate(c.after)
        elif c.kind == "prompt_template_update":
            old = prompts.get(c.target)
            _require((old.model_dump() if old else None) == c.before, c, "the template changed meanwhile")
            prompts[c.target] = PromptTemplate.model_validate(c.after)
        elif c.kind == "strategy_change":
            old = strategies.get(c.target)
            _require((old.model_dump() if old else None) == c.before, c, "the strategy changed meanwhile")
            strategies[c.target] = Strategy.model_validate(c.after)
    for slug, route in routing.items():     # never serve a route to a model that is not active
        for model in (route.primary, *route.fallbacks):
            if model not in models or not models[model].active:
                raise ChangeConflict(f"route {slug} would use {model}, which is not an active served model")
    return ServingVersion(number=base.number + 1, parent=base.number, created_at=now, created_by=created_by,
                          reason=reason, changes=tuple(c.applied() for c in changes), models=models,
                          categories=categories, routing=routing, prompts=prompts, strategies=strategies)


def _require(ok: bool, change: Change, why: str) -> None:
    if not ok:
        raise ChangeConflict(f"change {change.id} ({change.kind} {change.target}) does not apply: {why}")


def initial_version(models: list[dict[str, Any]], categories: list[dict[str, Any]],
                    routing: dict[str, dict[str, Any]], prompts: dict[str, PromptTemplate],
                    strategies: dict[str, Strategy], created_by: str, now: datetime) -> ServingVersion:
    """Version 1: the catalog as the first sync stored it, its seeded routing, and the defaults."""
    served = {m["id"]: ServedModel(id=m["id"], name=m.get("name") or m["id"], pricing=m.get("pricing") or {},
                                   capabilities=m.get("capabilities") or {}, active=bool(m.get("active", True)))
              for m in models}
    cats = {c["slug"]: ServedCategory(slug=c["slug"], name=c.get("name") or c["slug"], parent=c.get("parent"),
                                      active=bool(c.get("active", True))) for c in categories}
    routes = {slug: Route(primary=r["primary_model"], fallbacks=tuple(r.get("fallbacks") or ()))
              for slug, r in routing.items() if r.get("primary_model")}
    return ServingVersion(number=1, parent=None, created_at=now, created_by=created_by,
                          reason="version 1: the first catalog sync and the defaults in shared/serving/defaults.yaml",
                          models=served, categories=cats, routing=routes, prompts=prompts, strategies=strategies)

