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
TOKEN_F1_MIN_PRECISION = 0.6  # below it most of the answer is not the alias: "Obama Biden" (P 0.5) lists names
NUMERIC_REL_TOL = 1e-6       # numeric: relative tolerance (float formatting, not rounding, differs)
NUMERIC_ABS_TOL = 1e-9       # numeric: absolute tolerance for answers at or near zero
ALIAS_MAX_ANSWER_TOKENS = 8  # alias_match: longer answers that merely contain an alias are explanations, not answers
CREATIVE_MIN_WORDS = 5       # creative: fewer distinct words is no attempt ("I don't know.", "!"); shortest slogan fits
CREATIVE_MIN_OWN_WORDS = 3   # creative: distinct words not in the prompt; echoing or stuffing the prompt's words is no attempt
PARTIAL_CREDIT_MIN_FRACTION = 0.5  # constraints: below half met the attempt missed the task; no credit
PARTIAL_CREDIT_MIN_DEMANDING = 0.5  # constraints: share of demanding rules (not limits/bans) met for any credit;
#                                     limits and bans alone are met by saying nothing
