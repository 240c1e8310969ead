"""Every rule that decides a verdict, in one pure module: scorer acceptance thresholds, regression
levels, the benchmark check, the SAFE rules and their reasons.

No cloud imports and no I/O: the runner, the report, the CLI and the api ask this module and
nobody else decides. Unit-tested without emulators (tests/test_policy.py).
"""
from __future__ import annotations

# =============================================================================================
# Scorer acceptance (shared/bench/scorers.py reads these)
# =============================================================================================

TOKEN_F1_PASS = 0.5          # token_f1 passes at or above this F1 (HotpotQA / SQuAD convention)
