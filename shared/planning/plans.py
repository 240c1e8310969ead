"""Plans behind a repository: one plan per weekly run (`plans/{run_id}`), written once, so a
redelivered planner message finds the plan it made; and one review item per gated change
(`reviews/{change_id}`: pending, then approved or rejected by a named person with a reason, then
applied), decided exactly once however many people press the button; a routing change's review
item also records the pull request opened for it (`pull_request`: number, url, branch), once.
`FirestorePlanStore` in production, `InMemoryPlanStore` for unit tests, one contract
(tests/planning/test_plan_store_contract.py).
The collection name lives here only."""
from __future__ import annotations

import functools
import threading
from copy import deepcopy
from datetime import datetime
from typing import Any, Callable, Literal, Protocol

from shared.planning.planner import Plan
from shared.serving.changes import Change

PLANS = "plans"
REVIEWS = "reviews"
# rolled_back: approved and measured, but the post-change benchmark regressed; not retried
# automatically (the item says which upgrade and why)
ReviewStatus = Literal["pending", "approved", "rejected", "applied", "rolled_back"]
Verdict = Literal["approved", "rejected"]
Decided = Literal["decided", "already", "missing"]
Recorded = Literal["recorded", "already", "missing"]


def review_item(change: Change, run_id: str, now: datetime) -> dict[str, Any]:
    return {"change_id": change.id, "run_id": run_id, "kind": change.kind, "target": change.target,
            "risk": change.risk, "status": "pending", "created_at": now, "change": change.model_dump(mode="json"),
            "decided_by": None, "decided_at": None, "reason": None, "applied_in_version": None,
            "pull_request": None}


class PlanStore(Protocol):
    def create(self, plan: Plan) -> bool:
        """Store the run's plan; False (and the stored one kept) when the run has one already."""
    def get(self, run_id: str) -> Plan | None: ...
    def open_reviews(self, items: list[dict[str, Any]]) -> None:
        """Create the review items that do not exist yet (a re-planned change keeps its state)."""
    def review(self, change_id: str) -> dict[str, Any] | None: ...
    def reviews(self, status: ReviewStatus | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
    def decide(self, change_id: str, verdict: Verdict, by: str, reason: str, now: datetime) -> Decided:
        """Approve or reject a pending item, once: "already" when it was decided before."""
    def mark_applied(self, change_ids: list[str], version: int) -> None: ...
    def mark_rolled_back(self, change_ids: list[str], upgrade_id: str, reason: str) -> None: ...
    def attach_ab(self, change_id: str, ab: dict[str, Any]) -> None:
        """Set the item's A/B result (`ab`: running, then complete or failed)."""
    def record_pull_request(self, change_id: str, pull_request: dict[str, Any]) -> Recorded:
        """Note the pull request opened for an item, once: "already" when one is noted (kept)."""


class FirestorePlanStore:
    def _ref(self, run_id: str) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(PLANS).document(fs.doc_id(run_id))

    def _review_ref(self, change_id: str) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(REVIEWS).document(fs.doc_id(change_id))

    def open_reviews(self, items: list[dict[str, Any]]) -> None:
        from google.api_core.exceptions import AlreadyExists

        for item in items:
            try:
                self._review_ref(item["change_id"]).create(item)
            except AlreadyExists:
                pass

    def review(self, change_id: str) -> dict[str, Any] | None:
        snap = self._review_ref(change_id).get()
        return snap.to_dict() if snap.exists else None

    def reviews(self, status: ReviewStatus | None = None) -> list[dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        from shared.platform import firestore as fs

        col = fs.client().collection(REVIEWS)
        docs = [s.to_dict() for s in (col.where(filter=FieldFilter("status", "==", status)) if status else col).stream()]
        return sorted(docs, key=lambda d: (d["created_at"], d["change_id"]))

    def _update_once(self, change_id: str, still_open: Callable[[dict[str, Any]], bool],
                     fields: dict[str, Any]) -> str:
        """Update the item in a transaction only while `still_open(item)`: "done" | "already" |
        "missing"; a contended transaction looks again (shared/platform/firestore.contended)."""
        from google.cloud import firestore

        from shared.platform import firestore as fs

        ref = self._review_ref(change_id)

        @firestore.transactional
        def txn(transaction: Any) -> str:
            snap = ref.get(transaction=transaction)
            if not snap.exists:
                return "missing"
            if not still_open(snap.to_dict() or {}):
                return "already"
            transaction.update(ref, fields)
            return "done"
        settled = fs.contended(lambda: txn(fs.client().transaction(max_attempts=10)),
                               lambda: still_open(self.review(change_id) or {}))
        return "already" if settled is None else settled

    def decide(self, change_id: str, verdict: Verdict, by: str, reason: str, now: datetime) -> Decided:
        out = self._update_once(change_id, lambda item: item.get("status") == "pending",
                                {"status": verdict, "decided_by": by, "reason": reason, "decided_at": now})
        return "decided" if out == "done" else out    # type: ignore[return-value]

    def mark_applied(self, change_ids: list[str], version: int) -> None:
        for change_id in change_ids:
            self._review_ref(change_id).update({"status": "applied", "applied_in_version": version})

    def attach_ab(self, change_id: str, ab: dict[str, Any]) -> None:
        self._review_ref(change_id).update({"ab": ab})

    def mark_rolled_back(self, change_ids: list[str], upgrade_id: str, reason: str) -> None:
        for change_id in change_ids:
            self._review_ref(change_id).update({"status": "rolled_back", "rolled_back_in": upgrade_id,
                                                "rollback_reason": reason[:2000]})

    def record_pull_request(self, change_id: str, pull_request: dict[str, Any]) -> Recorded:
        out = self._update_once(change_id, lambda item: not item.get("pull_request"),
                                {"pull_request": dict(pull_request)})
        return "recorded" if out == "done" else out    # type: ignore[return-value]

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
        self.items: dict[str, dict[str, Any]] = {}
        self._mutex = threading.Lock()

    def open_reviews(self, items: list[dict[str, Any]]) -> None:
        with self._mutex:
            for item in items:
                self.items.setdefault(item["change_id"], deepcopy(item))

    def review(self, change_id: str) -> dict[str, Any] | None:
        return deepcopy(self.items.get(change_id))

    def reviews(self, status: ReviewStatus | None = None) -> list[dict[str, Any]]:
        return sorted((deepcopy(d) for d in self.items.values() if status is None or d["status"] == status),
                      key=lambda d: (d["created_at"], d["change_id"]))

    def decide(self, change_id: str, verdict: Verdict, by: str, reason: str, now: datetime) -> Decided:
        with self._mutex:
            item = self.items.get(change_id)
            if item is None:
                return "missing"
            if item["status"] != "pending":
                return "already"
            item.update(status=verdict, decided_by=by, reason=reason, decided_at=now)
            return "decided"

    def mark_applied(self, change_ids: list[str], version: int) -> None:
        with self._mutex:
            for change_id in change_ids:
                self.items[change_id].update(status="applied", applied_in_version=version)

    def attach_ab(self, change_id: str, ab: dict[str, Any]) -> None:
        with self._mutex:
            self.items[change_id]["ab"] = deepcopy(ab)

    def mark_rolled_back(self, change_ids: list[str], upgrade_id: str, reason: str) -> None:
        with self._mutex:
            for change_id in change_ids:
                self.items[change_id].update(status="rolled_back", rolled_back_in=upgrade_id,
                                             rollback_reason=reason[:2000])

    def record_pull_request(self, change_id: str, pull_request: dict[str, Any]) -> Recorded:
        with self._mutex:
            item = self.items.get(change_id)
            if item is None:
                return "missing"
            if item.get("pull_request"):
                return "already"
            item["pull_request"] = deepcopy(pull_request)
            return "recorded"

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


# --- what a person sees and may decide (the CLI and the api share these) ---------------------
AB_KINDS = ("strategy_change",)        # never approved without an A/B result attached


def approval_blocker(item: dict[str, Any]) -> str | None:
    """Why this item cannot be approved yet (None: it can)."""
    ab = item.get("ab") or {}
    if item.get("kind") in AB_KINDS and ab.get("status") != "complete":
        where = f" (A/B run {ab.get('bench_id')} is {ab.get('status')})" if ab else " (none was run)"
        return f"a {item['kind']} cannot be approved without an A/B result attached{where}"
    return None


def decide_review(store: PlanStore, change_id: str, verdict: Verdict, by: str, reason: str,
                  now: datetime) -> tuple[str, str | None]:
    """Decide an item as a person does: ("decided" | "already" | "missing" | "blocked", why)."""
    item = store.review(change_id)
    if item is None:
        return "missing", None
    blocker = approval_blocker(item) if verdict == "approved" else None
    if blocker:
        return "blocked", blocker
    return store.decide(change_id, verdict, by, reason, now), None


def present(item: dict[str, Any]) -> dict[str, Any]:
    """A review item as shown: with the prompt diff of a template change."""
    out = dict(item)
    change = item.get("change") or {}
    if item.get("kind") == "prompt_template_update":
        import difflib

        before = (change.get("before") or {}).get("text") or ""
        after = (change.get("after") or {}).get("text") or ""
        out["prompt_diff"] = "\n".join(difflib.unified_diff(
            before.splitlines(), after.splitlines(), f"{item['target']} v{(change.get('before') or {}).get('version')}",
            f"{item['target']} v{(change.get('after') or {}).get('version')}", lineterm=""))
    return out
