"""The planner's rules (pure): the week's evidence and the current serving version in, one plan
of typed, risk-rated, prioritised changes out. Re-planning the same evidence gives the same
change ids. Storage and Pub/Sub are the planner stage's; nothing here reads a client.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.planning.policy import RiskPolicy
from shared.policy import ModelVerdict
from shared.serving.changes import POST_BENCHMARK_KINDS, Change
from shared.serving.models import Route, ServingVersion

# priority = base for the kind + the strength of its evidence (parts kept on every change)
BASE_PRIORITY = {"routing_primary": 50.0, "fallback_update": 35.0, "catalog_deactivate": 30.0,
                 "catalog_add": 20.0, "catalog_reactivate": 20.0, "category_add": 15.0, "pricing_update": 10.0,
                 "prompt_template_update": 25.0, "strategy_change": 25.0}
TOP_N = 3


class ModelFacts(BaseModel):
    """What the catalog knows about a model the rules may touch."""
    model_config = ConfigDict(extra="ignore")
    id: str
    name: str = ""
    pricing: dict[str, str] = {}
    capabilities: dict[str, Any] = {}
    active: bool = True
    first_seen_at: datetime | None = None
    endpoints_down: bool = False              # the last endpoint check found no live endpoint


class RankingFacts(BaseModel):
    ranked: list[str]                         # the category's latest top models, best first
    snapshot_id: str


class PlanningFacts(BaseModel):
    """The week's evidence, gathered by the planner stage from the records of this run."""
    run_id: str
    now: datetime
    demo: bool = False
    sync_run_id: str | None = None
    added: list[str] = []
    deactivated: list[str] = []
    reactivated: list[str] = []
    price_changes: list[dict[str, Any]] = []   # {"model", "old", "new"} as the sync recorded them
    new_categories: list[dict[str, Any]] = []  # {"slug", "name", "parent"}
    models: dict[str, ModelFacts] = {}
    rankings: dict[str, RankingFacts] = {}
    bench_id: str | None = None
    bench_simulated: bool = False
    verdicts: dict[str, ModelVerdict] = {}      # pre-change benchmark, per model
    routing_changes_this_week: dict[str, int] = {}


class Plan(BaseModel):
    run_id: str
    based_on: int                              # the serving version the changes were planned against
    created_at: datetime
    changes: list[Change]
    top: list[str]                             # the three highest-priority change ids

    def by_decision(self, decision: str) -> list[Change]:
        return [c for c in self.changes if c.decision == decision]


class _Planner:
    def __init__(self, facts: PlanningFacts, serving: ServingVersion, policy: RiskPolicy):
        self.f, self.v, self.p = facts, serving, policy
        self.changes: list[Change] = []
        self.routes: dict[str, Route] = dict(serving.routing)    # as the auto-applied changes leave them

    # --- evidence helpers ---------------------------------------------------------------
    def evidence(self, bench: bool = False, **extra: list[str]) -> dict[str, list[str]]:
        """The records a change rests on; `bench`: the pre-change benchmark is part of it."""
        out = {"sync_runs": [self.f.sync_run_id] if self.f.sync_run_id else [],
               "bench_runs": [self.f.bench_id] if bench and self.f.bench_id else []}
        return {k: v for k, v in {**out, **extra}.items() if v}

    def healthy(self, model: str) -> bool:
        m = self.f.models.get(model)
        served = self.v.models.get(model)
        return bool(m and m.active and not m.endpoints_down and (served is None or served.active))

    def old_enough(self, model: str) -> bool:
        m = self.f.models.get(model)
        age = timedelta(days=self.p.guards.min_model_age_days)
        return bool(m and m.first_seen_at and self.f.now - m.first_seen_at >= age)

    def regressed(self, model: str) -> ModelVerdict | None:
        v = self.f.verdicts.get(model)
        return v if v and v.state == "regression" and v.level == "critical" else None

    # --- proposing ----------------------------------------------------------------------
    def add(self, change: Change, rule: str | None = None, decision: str | None = None) -> Change:
        """Rate, decide and keep a change: the policy's decision unless a guard says otherwise."""
        c = change.model_copy(update={
            "risk": self.p.risk(change.kind),
            "priority": round(sum(change.priority_parts.values()), 2),
            "needs_post_benchmark": change.kind in POST_BENCHMARK_KINDS,
            "simulated": change.simulated or (self.f.bench_simulated and bool(change.evidence.get("bench_runs")))})
        c.decision, c.decision_rule = (decision or self.p.decision(c.kind)), (rule or f"risk policy: {c.risk}")
        if c.decision == "auto_apply" and c.simulated and not self.f.demo:
            c.decision, c.decision_rule = "gated", "its evidence is simulated: never auto-applied outside a demo run"
        self.changes.append(c)
        return c

    def route_change(self, category: str, after: Route, why: str, parts: dict[str, float],
                     evidence: dict[str, list[str]]) -> None:
        before = self.routes.get(category)
        kind = "routing_primary" if before is None or before.primary != after.primary else "fallback_update"
        change = Change(kind=kind, target=category, before=before.model_dump(mode="json") if before else None,
                        after=after.model_dump(mode="json"), rationale=why,
                        priority_parts={"kind": BASE_PRIORITY[kind], **parts}, evidence=evidence)
        bad = [m for m in (after.primary, *after.fallbacks) if not self.healthy(m)]
        if bad:
            self.add(change, f"guard: never route to an inactive or unreachable model ({', '.join(bad)})", "rejected")
            return
        if kind == "routing_primary" and not self.old_enough(after.primary):
            self.add(change, f"guard: {after.primary} was first seen less than "
                             f"{self.p.guards.min_model_age_days:g} days ago", "deferred")
            return
        done = self.f.routing_changes_this_week.get(category, 0)
        if done >= self.p.guards.max_routing_changes_per_category_per_week:
            self.add(change, f"guard: {category} had {done} routing change(s) this week already", "deferred")
            return
        if self.add(change).decision == "auto_apply":
            self.routes[category] = after       # what a deactivation planned after it can rely on
        self.f.routing_changes_this_week[category] = done + 1   # proposed counts: one per week

    def plan(self) -> list[Change]:
        self.catalog()
        self.repair_routes()
        self.follow_leaders()
        return sorted(self.changes, key=lambda c: (-c.priority, c.id))

    def catalog(self) -> None:
        for mid in self.f.added + self.f.reactivated:
            m = self.f.models.get(mid)
            if m is None or (mid in self.v.models and self.v.models[mid].active):
                continue
            kind = "catalog_reactivate" if mid in self.v.models else "catalog_add"
            self.add(Change(kind=kind, target=mid,
                            after={"name": m.name or mid, "pricing": m.pricing, "capabilities": m.capabilities},
                            rationale=f"{mid} is {'listed again' if kind == 'catalog_reactivate' else 'new'} "
                                      f"on OpenRouter", priority_parts={"kind": BASE_PRIORITY[kind]},
                            evidence=self.evidence()))
        for pc in self.f.price_changes:
            mid = pc.get("model") or pc.get("id")
            served = self.v.models.get(mid)
            if served is None or dict(served.pricing) == (pc.get("new") or {}):
                continue
            self.add(Change(kind="pricing_update", target=mid, before=dict(served.pricing), after=pc.get("new") or {},
                            rationale=f"OpenRouter changed {mid}'s pricing",
                            priority_parts={"kind": BASE_PRIORITY["pricing_update"]}, evidence=self.evidence()))
        for cat in self.f.new_categories:
            if cat["slug"] in self.v.categories:
                continue
            self.add(Change(kind="category_add", target=cat["slug"],
                            after={"name": cat.get("name") or cat["slug"], "parent": cat.get("parent")},
                            rationale=f"new category {cat['slug']}",
                            priority_parts={"kind": BASE_PRIORITY["category_add"]}, evidence=self.evidence()))

    def repair_routes(self) -> None:
        """A route that uses a deactivated, unreachable or critically regressed model gets a
        replacement; a deactivation waits for the routes that still use the model."""
        for slug, route in sorted(self.v.routing.items()):
            regressed = self.regressed(route.primary)
            if not self.healthy(route.primary) or regressed:
                healthy = [m for m in route.fallbacks if self.healthy(m) and not self.regressed(m)]
                if not healthy:
                    continue   # nothing to promote: the report shows the route as at risk
                why = (f"{route.primary} regressed critically ({regressed.delta_points:+.1f} points)" if regressed
                       else f"{route.primary} is inactive or has no live endpoint")
                parts = {"repair": 40.0, **({"regression_points": abs(regressed.delta_points or 0)} if regressed else {})}
                self.route_change(slug, Route(primary=healthy[0], fallbacks=tuple(healthy[1:])), why, parts,
                                  self.evidence(bench=regressed is not None))
            elif any(not self.healthy(m) for m in route.fallbacks):
                kept = tuple(m for m in route.fallbacks if self.healthy(m))
                self.route_change(slug, Route(primary=route.primary, fallbacks=kept),
                                  "a fallback is inactive or has no live endpoint", {"repair": 20.0}, self.evidence())
        for mid in self.f.deactivated:
            if mid not in self.v.models or not self.v.models[mid].active:
                continue
            using = sorted(s for s, r in self.routes.items() if mid in (r.primary, *r.fallbacks))
            change = Change(kind="catalog_deactivate", target=mid, rationale=f"{mid} is no longer on OpenRouter",
                            priority_parts={"kind": BASE_PRIORITY["catalog_deactivate"]}, evidence=self.evidence())
            if using:
                self.add(change, f"waits for the routes that still use it ({', '.join(using)})", "deferred")
            else:
                self.add(change)

    def follow_leaders(self) -> None:
        """A category whose ranking leader is not its primary proposes routing to the leader."""
        for slug, ranking in sorted(self.f.rankings.items()):
            route = self.routes.get(slug)
            leader = next((m for m in ranking.ranked if self.f.models.get(m) and self.f.models[m].active), None)
            if route is None or leader is None or leader == route.primary:
                continue
            fallbacks = tuple(m for m in (route.primary, *route.fallbacks) if m != leader)[:2]
            self.route_change(slug, Route(primary=leader, fallbacks=fallbacks),
                              f"{leader} leads the {slug} ranking (snapshot {ranking.snapshot_id}); "
                              f"{route.primary} is the primary", {"ranking_leader": 10.0},
                              self.evidence(ranking_snapshots=[ranking.snapshot_id]))


def make_plan(facts: PlanningFacts, serving: ServingVersion, policy: RiskPolicy) -> Plan:
    changes = _Planner(facts.model_copy(deep=True), serving, policy).plan()
    applied = [c for c in changes if c.decision == "auto_apply"]
    top = [c.id for c in (applied or [c for c in changes if c.decision == "gated"] or changes)[:TOP_N]]
    return Plan(run_id=facts.run_id, based_on=serving.number, created_at=facts.now, changes=changes, top=top)
