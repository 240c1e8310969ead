"""The upgrade's rules (pure): which of a plan's changes go into a candidate now, which wait and
why. Changes that alter what a route serves (the measured kinds) are kept apart from the others:
the others form a candidate promoted at once; the measured ones form a second candidate on top of
it, promoted only after its post-change benchmark (so a regression rolls back exactly the risky
part). Changes are tried one by one, so one that no longer fits (ChangeConflict) is set aside with
its reason instead of sinking the others."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.serving.changes import Change, ChangeConflict, build_candidate
from shared.serving.models import ServingVersion

NO_BENCHMARKS = ("benchmarks are disabled for this run: a change that alters what a route serves needs a "
                 "post-change benchmark, so it waits for a run with benchmarks")


class UpgradeDecision(BaseModel):
    candidate: ServingVersion | None = None           # the unmeasured changes: promoted at once
    applied: list[str] = []
    measured_candidate: ServingVersion | None = None  # the measured changes, on top of `candidate`
    measured: list[str] = []
    waiting: dict[str, str] = {}                      # change id → why it is not applied now
    changes: dict[str, Change] = {}                   # id → change, for whoever records the outcome

    def everything(self, current: ServingVersion, created_by: str, reason: str, now: datetime) -> ServingVersion | None:
        """One candidate with every change (when the measured ones turn out to change no route)."""
        ids = [*self.applied, *self.measured]
        return build_candidate(current, [self.changes[i] for i in ids], created_by, reason, now) if ids else None

    def summary(self) -> dict[str, Any]:
        return {"applied": self.applied, "measured": self.measured, "waiting": self.waiting,
                "candidate_version": self.candidate.number if self.candidate else None,
                "measured_candidate_version": self.measured_candidate.number if self.measured_candidate else None}


def _fit(base: ServingVersion, todo: list[Change], created_by: str, reason: str, now: datetime,
         waiting: dict[str, str]) -> list[Change]:
    applied: list[Change] = []
    for change in todo:
        try:
            build_candidate(base, [*applied, change], created_by, reason, now)
        except ChangeConflict as exc:
            waiting[change.id] = f"conflict: {exc}"
            continue
        applied.append(change)
    return applied


def decide(changes: list[Change], current: ServingVersion, created_by: str, reason: str, now: datetime,
           approved: list[Change] | None = None, hold_measured: str | None = None,
           skip: dict[str, str] | None = None) -> UpgradeDecision:
    """The candidates built from the auto-applied changes and the approved ones that fit `current`.
    `hold_measured`: why measured changes wait this time (e.g. no benchmarks); `skip`: change id →
    why it is not tried (rolled back recently, applied already)."""
    waiting: dict[str, str] = {}
    approved_ids = {c.id for c in approved or []}
    todo: list[Change] = []
    for change in [*changes, *(c for c in approved or [] if c.id not in {x.id for x in changes})]:
        if change.id in (skip or {}):
            waiting[change.id] = (skip or {})[change.id]
        elif change.decision != "auto_apply" and change.id not in approved_ids:
            waiting[change.id] = f"{change.decision}: {change.decision_rule}"
        else:
            todo.append(change)
    plain = [c for c in todo if not c.measured_before_promotion()]
    measured = [c for c in todo if c.measured_before_promotion()]
    if hold_measured:
        waiting.update({c.id: hold_measured for c in measured})
        measured = []
    applied = _fit(current, plain, created_by, reason, now, waiting)
    candidate = build_candidate(current, applied, created_by, reason, now) if applied else None
    base = candidate or current
    fitted = _fit(base, measured, created_by, reason, now, waiting)
    measured_candidate = build_candidate(base, fitted, created_by, reason, now) if fitted else None
    return UpgradeDecision(candidate=candidate, applied=[c.id for c in applied], measured_candidate=measured_candidate,
                           measured=[c.id for c in fitted], waiting=waiting,
                           changes={c.id: c for c in [*applied, *fitted]})
