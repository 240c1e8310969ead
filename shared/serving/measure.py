"""What a candidate's post-change benchmark measures (pure): the target each changed route
serves in the candidate, and the target it served before. A route counts as changed when what
answers its requests changes: its primary model, its reasoning strategy, or the text of the
prompt template its strategy names (`params.template`). A fallback-only change leaves the
primary answering, so it is not measured (the planner's guards keep fallbacks active and
reachable).

A target is named by its label: the model id alone for a plain target (direct strategy, no
template: exactly what the pre-change benchmark measures), else the model id, the strategy and
a short hash of its parameters and template, so each variant gets its own like-for-like results.
"""
from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict

from shared.messages import BenchTarget
from shared.serving.models import ServingVersion


def label(target: BenchTarget) -> str:
    if target.strategy is None and target.template is None:
        return target.model
    body = json.dumps([target.strategy, target.template], sort_keys=True)
    name = (target.strategy or {}).get("name", "direct")
    return f"{target.model}#{name}-{hashlib.sha256(body.encode()).hexdigest()[:8]}"


def served_target(version: ServingVersion, category: str) -> BenchTarget | None:
    """What answers `category`'s requests in `version` (None: the category has no route)."""
    route = version.routing.get(category)
    if route is None:
        return None
    strategy = version.strategy_for(category)
    name = strategy.params.get("template")
    template = version.prompts[name].text if isinstance(name, str) and name in version.prompts else None
    plain = strategy.name == "direct" and template is None
    return BenchTarget(model=route.primary, strategy=None if plain else strategy.model_dump(mode="json"),
                       template=template)


class MeasuredRoute(BaseModel):
    model_config = ConfigDict(frozen=True)
    category: str                   # the routing category (catalog slug)
    before: str | None              # label of the target it served (None: a new route)
    after: str                      # label of the target the candidate serves


class PostChangePlan(BaseModel):
    """The routes to compare, the targets to run now, and the before-targets whose results the
    pre-change run already holds (label → pre-change bench id)."""
    routes: list[MeasuredRoute]
    run: dict[str, BenchTarget]
    reused: dict[str, str]

    def needed(self) -> bool:
        return bool(self.routes)


def plan_post_change(current: ServingVersion, candidate: ServingVersion, pre_bench_id: str | None,
                     pre_complete: set[str]) -> PostChangePlan:
    """`pre_complete`: the labels the pre-change run measured completely. A plain before-target
    found there is not measured again (same cases); any other before-target runs beside the
    candidate's, so the comparison is always on the same cases, as served."""
    routes: list[MeasuredRoute] = []
    run: dict[str, BenchTarget] = {}
    reused: dict[str, str] = {}
    for category in sorted(candidate.routing):
        after = served_target(candidate, category)
        before = served_target(current, category)
        if after is None or after == before:
            continue
        routes.append(MeasuredRoute(category=category, before=label(before) if before else None,
                                    after=label(after)))
        run[label(after)] = after
        if before is None:
            continue
        if pre_bench_id and label(before) == before.model and before.model in pre_complete:
            reused[label(before)] = pre_bench_id
        else:
            run[label(before)] = before
    for name in [n for n in reused if n in run]:    # measured now anyway: compare within one run
        del reused[name]
    return PostChangePlan(routes=routes, run=run, reused=reused)
