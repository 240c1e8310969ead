"""The upgrade's rules (pure): which of a plan's changes go into the candidate version now, which
wait and why. Changes are tried one by one on the current version, so one that no longer fits
(ChangeConflict) is set aside with its reason instead of sinking the others."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.serving.changes import Change, ChangeConflict, build_candidate
from shared.serving.models import ServingVersion

# The post-change benchmark of a candidate is the next step of this issue: until it exists, a
# change that alters what a route serves is never applied.
NO_POST_BENCHMARK_YET = "it changes what a route serves and needs a post-change benchmark, which is not built yet"


class UpgradeDecision(BaseModel):
    candidate: ServingVersion | None          # None: nothing to apply
    applied: list[str] = []                   # change ids in the candidate
    waiting: dict[str, str] = {}              # change id → why it is not applied this week
    needs_post_benchmark: bool = False        # the candidate changes a route: measure before promoting

    def summary(self) -> dict[str, Any]:
        return {"applied": self.applied, "waiting": self.waiting, "candidate_version":
                self.candidate.number if self.candidate else None,
                "post_benchmark_needed": self.needs_post_benchmark}


def decide(changes: list[Change], current: ServingVersion, created_by: str, reason: str,
           now: datetime, approved: list[Change] | None = None) -> UpgradeDecision:
    """The candidate built from the auto-applied changes, and the approved ones, that fit `current`."""
    applied: list[Change] = []
    waiting: dict[str, str] = {}
    approved_ids = {c.id for c in approved or []}
    todo = [*changes, *(c for c in approved or [] if c.id not in {x.id for x in changes})]
    for change in todo:
        if change.decision != "auto_apply" and change.id not in approved_ids:
            waiting[change.id] = f"{change.decision}: {change.decision_rule}"
            continue
        if change.measured_before_promotion():
            waiting[change.id] = NO_POST_BENCHMARK_YET
            continue
        try:
            build_candidate(current, [*applied, change], created_by, reason, now)
        except ChangeConflict as exc:
            waiting[change.id] = f"conflict: {exc}"
            continue
        applied.append(change)
    candidate = build_candidate(current, applied, created_by, reason, now) if applied else None
    return UpgradeDecision(candidate=candidate, applied=[c.id for c in applied], waiting=waiting,
                           needs_post_benchmark=any(c.measured_before_promotion() for c in applied))
