"""Run by tests/bench/test_budget.py as a separate process (a function instance): two reservations
of $0.30 against the shared ledger, printing "granted <usd>" or "refused <usd>" for each.

    python tests/programs/reserve_spend.py <n>      (PYTHONPATH = repository root)
"""
import sys
from decimal import Decimal

from shared.bench.spend import SpendLedger
from shared.config import settings_from_env

s = settings_from_env()
for i in range(2):
    granted, why = SpendLedger(s, f"b-proc-{sys.argv[1]}-{i}").reserve(Decimal("0.3"), Decimal("0.3"))
    print("granted" if why is None else "refused", granted, flush=True)
