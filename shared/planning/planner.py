"""The planner's rules (pure): the week's evidence and the current serving version in, one plan
of typed, risk-rated, prioritised changes out. Re-planning the same evidence gives the same
change ids. Storage and Pub/Sub are the planner stage's; nothing here reads a client.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.planning.policy import RiskPolicy
from shared.policy import ModelVerdict
from shared.research.blackboard import ProposalType
from shared.serving.changes import POST_BENCHMARK_KINDS, Change
from shared.serving.models import Route, ServingVersion, Strategy, StrategyName

# priority = base for the kind + the strength of its evidence (parts kept on every change)
BASE_PRIORITY = {"routing_primary": 50.0, "fallback_update": 35.0, "catalog_deactivate": 30.0,
                 "catalog_add": 20.0, "catalog_reactivate": 20.0, "category_add": 15.0, "pricing_update": 10.0,
                 "prompt_template_update": 25.0, "strategy_change": 25.0, "evaluate_model": 5.0}
TOP_N = 3
DEFAULT_STRATEGY = "default"           # the strategy of every category without its own entry
DEFAULT_TEMPLATE = "system"            # the platform's general system prompt
# the planner stage requests that run (bench id eval-<change id>) as soon as the plan is made
MEASURED_NEXT = "measured by an on-demand benchmark run the planner requests (bench id eval-<change id>)"
# how a proposal may name a strategy (lower case, spaces and hyphens as "_") -> the served name
STRATEGY_ALIASES: dict[str, StrategyName] = {
    **{name: name for name in get_args(StrategyName)}, "cot": "chain_of_thought", "sc": "self_consistency"}


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


class ProposedStrategy(BaseModel):
    """A strategy as a proposal names it: not checked against the served names here (an unknown
    name is a deferred change saying so, not a malformed proposal)."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    params: dict[str, str | int | float | bool] = Field({}, max_length=20)


class ProposalFacts(BaseModel):
    """An open research proposal as the planner reads it (shared/planning/facts.py builds it from
    the blackboard document, which is untrusted: what does not fit here is skipped, logged).
    `target`: what the proposal names: a category (strategy_change), a template (prompt_change)
    or an OpenRouter model id (evaluate_model). `strategy` and `text`: the concrete change, when
    the proposal carries one. `score`: the proposal's own score, else its finding's relevance."""
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=1500)
    type: ProposalType
    title: str = Field("", max_length=2000)
    finding_ids: list[str] = Field([], max_length=20)
    urls: list[str] = Field([], max_length=20)
    score: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    target: str | None = Field(None, min_length=1, max_length=300)
    strategy: ProposedStrategy | None = None
    text: str | None = Field(None, max_length=20_000)

    @field_validator("strategy", mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


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
    proposals: list[ProposalFacts] = []         # the week's open research proposals


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
        self.research()
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


    # --- research proposals ---------------------------------------------------------------
    def research(self) -> None:
        """Each open proposal becomes at most one change (routing_hint: none by itself; the
        ranking and benchmark rules decide routes). Proposals that come to the same change (same
        kind, target, before and after, hence the same id) make one change with all of them as
        evidence and the best score in its priority."""
        drafts: dict[str, tuple[Change, str | None, str | None, list[ProposalFacts]]] = {}
        for p in sorted(self.f.proposals, key=lambda p: p.id):
            draft = {"strategy_change": self.strategy_proposal, "prompt_change": self.prompt_proposal,
                     "evaluate_model": self.evaluate_proposal}.get(p.type, lambda _: None)(p)
            if draft is None:
                continue
            change, rule, decision = draft
            if change.id in drafts:
                drafts[change.id][3].append(p)
            else:
                drafts[change.id] = (change, rule, decision, [p])
        for change, rule, decision, props in drafts.values():
            others = [p.id for p in props[1:]]
            evidence = {"findings": sorted({f for p in props for f in p.finding_ids}),
                        "finding_urls": sorted({u for p in props for u in p.urls}),
                        "proposals": [p.id for p in props]}
            self.add(change.model_copy(update={
                "evidence": {k: v for k, v in evidence.items() if v},
                "priority_parts": {"kind": BASE_PRIORITY[change.kind],
                                   "proposal_score": round(max(p.score for p in props), 2)},
                "rationale": change.rationale + (f" Also proposed by {', '.join(others)}." if others else "")}),
                rule, decision)

    @staticmethod
    def proposed(p: ProposalFacts) -> str:
        return f"research proposal {p.id} ({p.title})" if p.title else f"research proposal {p.id}"

    def strategy_proposal(self, p: ProposalFacts) -> tuple[Change, str | None, str | None] | None:
        """A category's strategy (one with a route), or `default` when the proposal names no
        category; the strategy must map to a served name, else the change is deferred."""
        target = p.target or DEFAULT_STRATEGY
        stored = self.v.strategies.get(target)
        before = stored.model_dump() if stored else None
        name = STRATEGY_ALIASES.get(re.sub(r"[\s-]+", "_", p.strategy.name.strip().lower())) if p.strategy else None
        after = (Strategy(name=name, params=p.strategy.params).model_dump() if name and p.strategy
                 else p.strategy.model_dump() if p.strategy else None)
        where = (f"for {target}" if p.target else f"for {DEFAULT_STRATEGY} (the proposal names no category; "
                 f"rule: a general technique goes to the strategy of every category without its own)")
        why = f"{self.proposed(p)} proposes a strategy change {where}"
        change = Change(kind="strategy_change", target=target, before=before, after=after,
                        rationale=f"{why}; served now: {self.v.strategy_for(target).name}")
        if target != DEFAULT_STRATEGY and target not in self.v.routing:
            return change, f"the proposal names category {target}, which has no route", "deferred"
        if p.strategy is None:
            return change, "the proposal names no concrete strategy (direct, chain_of_thought or self_consistency)", \
                "deferred"
        if name is None:
            return change, (f"the proposed strategy {p.strategy.name!r} is not one the platform serves "
                            f"({', '.join(get_args(StrategyName))})"), "deferred"
        if Strategy.model_validate(after) == self.v.strategy_for(target):
            return None                           # what is served already
        return change, None, None

    def prompt_proposal(self, p: ProposalFacts) -> tuple[Change, str | None, str | None] | None:
        """A new version of a served template (`system` when the proposal names none), only with
        the proposal's own text."""
        target = p.target or DEFAULT_TEMPLATE
        old = self.v.prompts.get(target)
        text = p.text.strip() if p.text and p.text.strip() else None
        after = {"text": text, "version": (old.version if old else 0) + 1} if text else None
        where = target if p.target else f"{DEFAULT_TEMPLATE} (the proposal names no template; rule: the general one)"
        change = Change(kind="prompt_template_update", target=target, before=old.model_dump() if old else None,
                        after=after, rationale=f"{self.proposed(p)} proposes a change to the prompt template {where}")
        if old is None:
            return change, f"the proposal names template {target}, which is not served", "deferred"
        if text is None:
            return change, "the proposal carries no template text: nothing concrete to review", "deferred"
        if text == old.text:
            return None
        return change, None, None

    def evaluate_proposal(self, p: ProposalFacts) -> tuple[Change, str | None, str | None]:
        """A request to the next benchmark run to measure a catalog model; it changes nothing
        served, so it is never applied (and never part of a candidate)."""
        target = p.target or (p.finding_ids[0] if p.finding_ids else p.id)
        change = Change(kind="evaluate_model", target=target,
                        rationale=f"{self.proposed(p)} proposes measuring {target}")
        m = self.f.models.get(target) if p.target else None
        if m is None:
            return change, f"{target} is not in the OpenRouter catalog: there is nothing to benchmark", "rejected"
        if not m.active:
            return change, f"{target} is inactive in the OpenRouter catalog: there is nothing to benchmark", "rejected"
        return change, MEASURED_NEXT, "deferred"


def evaluations(plan: Plan) -> list[Change]:
    """The plan's evaluate_model changes a benchmark run is asked to measure."""
    return [c for c in plan.changes if c.kind == "evaluate_model" and c.decision == "deferred"]


def models_to_evaluate(plan: Plan) -> list[str]:
    """The catalog models the plan asks a benchmark run to measure (sorted, once each)."""
    return sorted({c.target for c in evaluations(plan)})


def make_plan(facts: PlanningFacts, serving: ServingVersion, policy: RiskPolicy) -> Plan:
    changes = _Planner(facts.model_copy(deep=True), serving, policy).plan()
    applied = [c for c in changes if c.decision == "auto_apply"]
    top = [c.id for c in (applied or [c for c in changes if c.decision == "gated"] or changes)[:TOP_N]]
    return Plan(run_id=facts.run_id, based_on=serving.number, created_at=facts.now, changes=changes, top=top)
