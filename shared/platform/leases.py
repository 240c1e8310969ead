"""Claims with leases, as a pure decision: who may do a unit of work recorded in a document.

Both the Firestore claim (shared/platform/firestore.py, inside a transaction) and the in-memory
repositories (tests) apply `decide_claim`, so they cannot drift apart.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

# A claim without a sign of life for LEASE_S belongs to a dead attempt. Short, so the retries of
# a dead instance's message (the manifest's retry policy: backoff 10 s doubling to at most 60 s,
# 5 attempts, about +10, +30, +70, +130 s) find the lease expired well before they run out;
# three heartbeats may be missed before a live attempt loses it.
LEASE_S = 30
HEARTBEAT_S = 10
TERMINAL = ("succeeded", "partial", "failed", "skipped")   # a claim in these states is done


def decide_claim(state: dict[str, Any], now: datetime, lease_s: float) -> tuple[str, dict[str, Any]]:
    """(outcome, fields to write) for a claim on `state` (the unit's current fields).

    "done": already finished (a redelivery). "busy": another attempt holds a live lease (its
    last sign of life, `claimed_at` or `heartbeat_at`, is younger than `lease_s`). "claimed": the
    caller does the work; a running claim nobody renewed is taken over and counted in
    `takeovers`; `first_claimed_at` keeps the first attempt's start.
    """
    status = state.get("status")
    if status in TERMINAL:
        return "done", {}
    alive = max((t for t in (state.get("claimed_at"), state.get("heartbeat_at")) if t), default=None)
    if status == "running" and alive and (now - alive).total_seconds() < lease_s:
        return "busy", {}
    update: dict[str, Any] = {"status": "running", "claimed_at": now, "heartbeat_at": None,
                              "attempts": int(state.get("attempts") or 0) + 1}
    if status == "running":      # a lease nobody renewed: its holder died
        update["takeovers"] = int(state.get("takeovers") or 0) + 1
    if not state.get("first_claimed_at"):
        update["first_claimed_at"] = now
    return "claimed", update
