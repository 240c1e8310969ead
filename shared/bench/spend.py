"""The benchmark spend ledger (Firestore bench_spend/): money reserved and spent per run, per
UTC day and per ISO week, across all runs (weekly and ad-hoc), against BENCH_BUDGET_USD,
BENCH_DAILY_BUDGET_USD and BENCH_WEEKLY_BUDGET_USD.

A shard reserves the upper bound of its calls in blocks (one transaction per block, not per
call: 16 threads per shard and many shards share the day and week documents) and settles the
actual cost of finished calls in the next transaction, releasing their unused reservation.
Amounts are Decimal strings, so sums stay exact. A shard's spend counts on the UTC day and ISO
week it started (shards last minutes; a run never straddles two caps' worth of time).
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from shared.bench.budget import BUDGET_EXHAUSTED, ZERO, usd
from shared.config import Settings, decimal_setting
from shared.log import get_logger
from shared.platform import firestore as fs

log = get_logger(__name__)
SPEND = "bench_spend"
# Concurrent shards contend on the day and week documents. The client retries a transaction at
# once; rounds of retries with jittered backoff let contending writers spread out.
TXN_ATTEMPTS = 3
TXN_ROUNDS = 10
TXN_BACKOFF_MAX_S = 2.0
# Transactions of one process queue here instead of contending in Firestore (whose lock waits
# cost far more than a local queue); other processes are kept apart by the transaction.
_PROCESS_LOCK = threading.Lock()


def period_keys(now: datetime) -> tuple[str, str]:
    """(UTC day, ISO week) of a moment, e.g. ("2026-05-01", "2026-W18")."""
    now = now.astimezone(timezone.utc)
    iso = now.isocalendar()
    return now.date().isoformat(), f"{iso[0]}-W{iso[1]:02d}"


@dataclass(frozen=True)
class Cap:
    setting: str   # the variable that sets it, named in every refusal
    doc: str       # bench_spend document id
    kind: str
    key: str
    limit: Decimal


class SpendLedger:
    """`run_cap` (the name a refusal gives it, its limit) replaces BENCH_BUDGET_USD as the cap of
    this run: the research judge spends under `judge.budget_usd` per scan, and under the same day
    and week caps as the benchmark (its run id, e.g. "research-judge-<scan id>", names its run document)."""

    def __init__(self, settings: Settings, bench_id: str, now: datetime | None = None,
                 run_cap: tuple[str, Decimal] | None = None):
        day, week = period_keys(now or datetime.now(timezone.utc))
        self.bench_id = bench_id
        run_setting, run_limit = run_cap or ("BENCH_BUDGET_USD", decimal_setting(settings.bench_budget_usd))
        self.caps = (
            Cap(run_setting, f"run-{fs.doc_id(bench_id)}", "run", bench_id, run_limit),
            Cap("BENCH_DAILY_BUDGET_USD", f"day-{day}", "day", day, decimal_setting(settings.bench_daily_budget_usd)),
            Cap("BENCH_WEEKLY_BUDGET_USD", f"week-{week}", "week", week,
                decimal_setting(settings.bench_weekly_budget_usd)),
        )

    def _ref(self, cap: Cap) -> Any:
        return fs.client().collection(SPEND).document(cap.doc)

    def used(self) -> dict[str, tuple[Decimal, Decimal]]:
        """setting → (cap, spent + reserved now): what planning checks a run's bound against."""
        snaps = fs.client().get_all([self._ref(c) for c in self.caps])
        docs = {s.id: s.to_dict() or {} for s in snaps if s.exists}
        return {c.setting: (c.limit, _used(docs.get(c.doc, {}))) for c in self.caps}

    def reserve(self, want: Decimal, minimum: Decimal, release: Decimal = ZERO, spend: Decimal = ZERO,
                calls: int = 0) -> tuple[Decimal, str | None]:
        """One transaction: settle finished calls (release their reservation, add their cost), then
        reserve up to `want` (at least `minimum`) under every cap. Returns (granted, None) or
        (0, why) when even `minimum` would pass a cap; the settlement is applied either way."""
        from google.cloud import firestore

        refs = [self._ref(c) for c in self.caps]

        @firestore.transactional
        def txn(transaction: Any) -> tuple[Decimal, str | None]:
            snaps = {s.id: s for s in transaction.get_all(refs)}
            now = datetime.now(timezone.utc)
            docs = {c.doc: (snaps[c.doc].to_dict() or {}) if c.doc in snaps and snaps[c.doc].exists else {}
                    for c in self.caps}
            after = {c.doc: (Decimal(docs[c.doc].get("reserved_usd", "0")) - release,
                             Decimal(docs[c.doc].get("spent_usd", "0")) + spend) for c in self.caps}
            headroom = {c: c.limit - sum(after[c.doc]) for c in self.caps}
            tight = min(self.caps, key=lambda c: headroom[c])
            if minimum > 0 and headroom[tight] < minimum:
                granted, why = ZERO, (f"{tight.setting}=${tight.limit:.2f} would be passed ({tight.kind} "
                                      f"{tight.key}: ${usd(after[tight.doc][1], 4)} spent, "
                                      f"${usd(after[tight.doc][0], 4)} reserved, next block needs "
                                      f"${usd(minimum, 4)})")
            else:
                granted, why = min(want, max(headroom[tight], ZERO)), None
            for c, ref in zip(self.caps, refs):
                reserved, spent = after[c.doc]
                transaction.set(ref, {"kind": c.kind, "key": c.key, "cap_setting": c.setting,
                                      "reserved_usd": str(max(reserved + granted, ZERO)), "spent_usd": str(spent),
                                      "calls": int(docs[c.doc].get("calls") or 0) + calls, "updated_at": now})
            return granted, why

        with _PROCESS_LOCK:
            return _with_backoff(lambda: txn(fs.client().transaction(max_attempts=TXN_ATTEMPTS)))

    def settle(self, release: Decimal, spend: Decimal, calls: int) -> None:
        self.reserve(ZERO, ZERO, release, spend, calls)


def _with_backoff(attempt: Callable[[], Any]) -> Any:
    from google.api_core.exceptions import Aborted

    for round_ in range(TXN_ROUNDS):
        try:
            return attempt()
        except (Aborted, ValueError) as exc:  # ValueError: "Failed to commit transaction in N attempts"
            if round_ == TXN_ROUNDS - 1:
                raise
            log.warning("spend ledger contended; retrying", round=round_ + 1, error=str(exc)[:200])
            time.sleep(random.uniform(0, min(TXN_BACKOFF_MAX_S, 0.05 * 2 ** round_)))
    raise AssertionError("unreachable")  # pragma: no cover


def _used(doc: dict[str, Any]) -> Decimal:
    return Decimal(doc.get("reserved_usd", "0")) + Decimal(doc.get("spent_usd", "0"))


class RunBudget:
    """A shard's side of the ledger, shared by its call threads. Each call takes its bound from a
    pool reserved a block at a time; a finished call reports its charge, settled at the next
    transaction. Once a reservation is refused, every later call is refused with the reason."""

    def __init__(self, ledger: SpendLedger, bounds: list[Decimal], block_calls: int):
        self.ledger = ledger
        self.block_calls = max(1, block_calls)
        self.left, self.n_left = sum(bounds, ZERO), len(bounds)   # bounds of calls not yet taken
        self.pool = ZERO          # reserved, not yet handed to a call
        self.release = ZERO       # bounds of finished calls, released at the next transaction
        self.spend = ZERO
        self.calls = 0
        self.exhausted: str | None = None
        self._lock = threading.Lock()

    def take(self, bound: Decimal) -> str | None:
        """None: the call may go ahead (its bound is reserved). Otherwise the error for its row."""
        with self._lock:
            if self.exhausted:
                return self.exhausted
            if bound > self.pool:
                block = self.left / self.n_left * self.block_calls if self.n_left else bound
                want = max(bound, min(block, self.left)) - self.pool
                granted, why = self.ledger.reserve(want, bound - self.pool, self.release, self.spend, self.calls)
                self.release, self.spend, self.calls = ZERO, ZERO, 0
                if why:
                    self.exhausted = f"{BUDGET_EXHAUSTED}: {why}"
                    log.warning("benchmark budget exhausted: no more calls", bench_id=self.ledger.bench_id,
                                reason=why)
                    return self.exhausted
                self.pool += granted
            self.pool -= bound
            self.left -= bound
            self.n_left -= 1
            return None

    def done(self, bound: Decimal, charge: Decimal) -> None:
        with self._lock:
            self.release += bound
            self.spend += charge
            self.calls += 1

    def close(self) -> None:
        """Settle what is left and give the unused pool back (after the last call finished)."""
        with self._lock:
            if self.pool or self.release or self.spend or self.calls:
                self.ledger.settle(self.release + self.pool, self.spend, self.calls)
            self.pool = self.release = self.spend = ZERO
            self.calls = 0
