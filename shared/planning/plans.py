"""Plans behind a repository: one plan per weekly run (`plans/{run_id}`), written once, so a
redelivered planner message finds the plan it made. `FirestorePlanStore` in production,
`InMemoryPlanStore` for unit tests, one contract (tests/planning/test_plan_store_contract.py).
The collection name lives here only."""
from __future__ import annotations

import functools
import threading
from typing import Any, Protocol

from shared.planning.planner import Plan

PLANS = "plans"


class PlanStore(Protocol):
    def create(self, plan: Plan) -> bool:
        """Store the run's plan; False (and the stored one kept) when the run has one already."""
    def get(self, run_id: str) -> Plan | None: ...


class FirestorePlanStore:
    def _ref(self, run_id: str) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(PLANS).document(fs.doc_id(run_id))

    def create(self, plan: Plan) -> bool:
        from google.api_core.exceptions import AlreadyExists

        try:
            self._ref(plan.run_id).create(plan.model_dump(mode="python"))
            return True
        except AlreadyExists:
            return False

    def get(self, run_id: str) -> Plan | None:
        snap = self._ref(run_id).get()
        return Plan.model_validate(snap.to_dict()) if snap.exists else None


class InMemoryPlanStore:
    def __init__(self) -> None:
        self.plans: dict[str, str] = {}      # stored as JSON, as Firestore would: no shared objects
        self._mutex = threading.Lock()

    def create(self, plan: Plan) -> bool:
        with self._mutex:
            if plan.run_id in self.plans:
                return False
            self.plans[plan.run_id] = plan.model_dump_json()
            return True

    def get(self, run_id: str) -> Plan | None:
        raw = self.plans.get(run_id)
        return Plan.model_validate_json(raw) if raw else None


@functools.cache
def repository() -> PlanStore:
    return FirestorePlanStore()
