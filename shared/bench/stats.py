"""Statistics for benchmark runs: percentiles, intervals for proportions, the paired
significance test and the minimum detectable effect. The verdicts built on them live in
shared/policy.py.

Standard library only (normal quantiles from statistics.NormalDist); checked in
tests/bench/test_bench_stats.py against values computed with NumPy/SciPy (hard-coded there; neither is
a dependency of the project). Every function is pure and deterministic.

Conventions
- Pass rates and per-case scores are proportions in [0, 1]; verdicts speak in *points* of a
  0–100 scale (1 point = 0.01 in proportion units).
- Two-sided tests throughout; `confidence` is the two-sided coverage (0.95 → 2.5 % in each tail).

Formulas and references are given in each docstring. Summary:
- `percentile`: R type 7 / NumPy "linear" (Hyndman & Fan 1996, definition 7).
- `wilson_interval`: Wilson (1927) score interval; `proportion_interval` applies it to a mean of
  scores in [0, 1] (binary scores: exactly Wilson).
- `paired_difference_interval`: Newcombe (1998) method 10 for the difference of two paired
  proportions (square-and-add of the Wilson intervals with a correlation correction).
- `mcnemar`: exact (conditional binomial) McNemar test (McNemar 1947; Fagerland et al. 2013).
- `minimum_detectable_effect`: Connor (1987) sample-size formula for McNemar's test, solved for
  the effect in closed form.
- `norm_ppf`: statistics.NormalDist().inv_cdf (Wichura 1988, AS 241; ≈ machine precision).
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Sequence

__all__ = [
    "percentile", "norm_ppf", "wilson_interval", "proportion_interval",
    "paired_difference_interval", "mcnemar", "mcnemar_from_pairs", "minimum_detectable_effect",
]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _finite_list(values: Sequence[float], what: str = "values") -> list[float]:
    out = [float(v) for v in values]
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{what} must be finite numbers, got {v!r}")
    return out


def _check_confidence(confidence: float) -> None:
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _clamp01(x: float) -> float:
    return min(1.0, max(0.0, x))


# ---------------------------------------------------------------------------------------------
# percentile
# ---------------------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (q in [0, 100]) by linear interpolation between closest ranks.

    With the values sorted as x[0] <= ... <= x[n-1] (0-based):
        h = (n - 1) * q / 100,   j = floor(h),   g = h - j
        percentile = x[j] + g * (x[j+1] - x[j])          (x[j] when g == 0 or j == n - 1)
    This is definition 7 of Hyndman & Fan (1996), R's default `quantile(type = 7)` and NumPy's
    default `np.percentile(..., method="linear")`. E.g. percentile([1, 2, 3, 4], 95) = 3.85.

    Empty input or q outside [0, 100] → ValueError; one value → that value.
    """
    xs = sorted(_finite_list(values))
    if not xs:
        raise ValueError("percentile of an empty sequence")
    q = float(q)
    if not (0.0 <= q <= 100.0):          # also rejects NaN
        raise ValueError(f"q must be in [0, 100], got {q!r}")
    n = len(xs)
    h = (n - 1) * q / 100.0
    j = math.floor(h)
    if j >= n - 1:
        return xs[-1]
    g = h - j
    if g == 0.0:
        return xs[j]
    lo, hi = xs[j], xs[j + 1]
    return lo + g * (hi - lo)


# ---------------------------------------------------------------------------------------------
# normal distribution
# ---------------------------------------------------------------------------------------------

_STANDARD_NORMAL = NormalDist()


def norm_ppf(p: float) -> float:
    """Inverse standard normal CDF z = Φ⁻¹(p) for p in (0, 1); Φ⁻¹(0.975) = 1.959963984540054.

    statistics.NormalDist().inv_cdf: Wichura's AS 241 (1988), relative error about 1e-16.
    """
    p = float(p)
    if not (0.0 < p < 1.0):          # also rejects NaN, which inv_cdf would let through
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    return _STANDARD_NORMAL.inv_cdf(p)


# ---------------------------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------------------------

def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927; Agresti & Coull 1998).

    With p̂ = successes/n and z = Φ⁻¹(1 − (1 − confidence)/2):
        centre = (p̂ + z²/(2n)) / (1 + z²/n)
        half   = z / (1 + z²/n) · √( p̂(1 − p̂)/n + z²/(4n²) )
        (low, high) = (centre − half, centre + half), clamped to [0, 1]
    (low is exactly 0 when successes = 0 and high exactly 1 when successes = n.)
    wilson_interval(8, 10) ≈ (0.4902, 0.9433); n = 0 → (0.0, 1.0).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    return proportion_interval(successes / n if n else 0.0, n, confidence)


def proportion_interval(mean: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval around a mean of n per-case scores in [0, 1].

    For binary scores this is exactly `wilson_interval(round(mean·n), n)`. For fractional scores
    (token F1, share of constraints met) the same formula is used with p̂ = mean: a score X in
    [0, 1] with mean p has Var(X) <= p(1 − p), so the binomial variance is an upper bound and the
    interval is conservative. Unlike a t-interval it never has zero width at 0 % or 100 %
    (n = 4, all passed → (0.510, 1.0)). n = 0 → (0.0, 1.0).
    """
    _check_confidence(confidence)
    if n < 0:
        raise ValueError("n must be >= 0")
    if n == 0:
        return (0.0, 1.0)
    p = float(mean)
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"mean must be in [0, 1], got {mean!r}")
    z = norm_ppf(1.0 - (1.0 - confidence) / 2.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if p == 0.0 else _clamp01(centre - half)
    high = 1.0 if p == 1.0 else _clamp01(centre + half)
    return (low, high)


def paired_difference_interval(both: int, first_only: int, second_only: int, neither: int,
                               confidence: float = 0.95) -> tuple[float, float, float]:
    """(d, low, high) for d = p1 − p2, the difference of two paired proportions.

    The 2×2 table of n paired outcomes: `both` passed in both, `first_only` passed only in the
    first, `second_only` only in the second, `neither` in neither; p1 = (both + first_only)/n,
    p2 = (both + second_only)/n. Newcombe (1998), "Improved confidence intervals for the
    difference between binomial proportions based on paired data", Stat. Med. 17:2635–2650,
    method 10: with Wilson intervals (l1, u1) for p1 and (l2, u2) for p2,
        low  = d − √((p1 − l1)² − 2φ(p1 − l1)(u2 − p2) + (u2 − p2)²)
        high = d + √((u1 − p1)² − 2φ(u1 − p1)(p2 − l2) + (p2 − l2)²)
    where φ is the phi coefficient of the table with Newcombe's correction: with
    B = both·neither − first_only·second_only, φ = (B − n/2)/√A if B > n/2, B/√A if B < 0, else 0,
    A = product of the four margins (φ = 0 when A = 0). Unlike a Wald interval it is not zero width
    when there are no discordant pairs (n = 24, all concordant at 20 passes: ±0.119).
    n = 0 → (0.0, −1.0, 1.0).
    """
    _check_confidence(confidence)
    cells = (both, first_only, second_only, neither)
    if any(c < 0 or int(c) != c for c in cells):
        raise ValueError("the table needs non-negative integer counts")
    n = sum(cells)
    if n == 0:
        return (0.0, -1.0, 1.0)
    p1, p2 = (both + first_only) / n, (both + second_only) / n
    l1, u1 = wilson_interval(both + first_only, n, confidence)
    l2, u2 = wilson_interval(both + second_only, n, confidence)
    margins = (both + first_only) * (second_only + neither) * (both + second_only) * (first_only + neither)
    b = both * neither - first_only * second_only
    phi = 0.0
    if margins > 0:
        phi = (b - n / 2.0) / math.sqrt(margins) if b > n / 2.0 else b / math.sqrt(margins) if b < 0 else 0.0
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return (d, max(-1.0, low), min(1.0, high))


# ---------------------------------------------------------------------------------------------
# paired tests
# ---------------------------------------------------------------------------------------------

def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for the discordant pairs b (pass→fail) and c (fail→pass).

    Conditional on n = b + c discordant pairs, b ~ Binomial(n, 1/2) under H0, so
        p = min(1, 2 · P(X <= min(b, c))) = min(1, 2 · Σ_{k=0}^{min(b,c)} C(n, k) / 2ⁿ)
    computed with exact integers (McNemar 1947; exact form: Fagerland, Lydersen & Laake 2013).
    Equals scipy.stats.binomtest(b, n, 0.5).pvalue. n = 0 → 1.0.
    mcnemar(0, 5) = 0.0625, mcnemar(1, 9) = 0.021484375, mcnemar(3, 3) = 1.0.
    """
    if b < 0 or c < 0 or int(b) != b or int(c) != c:
        raise ValueError("b and c must be non-negative integers")
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, (2 * tail) / (2 ** n))


def mcnemar_from_pairs(before: Sequence[bool], after: Sequence[bool]) -> tuple[int, int, float]:
    """(b, c, p): b = #cases passing before and failing after, c = #failing before and passing
    after, p = mcnemar(b, c). The sequences are paired by position and must have equal length."""
    if len(before) != len(after):
        raise ValueError(f"before and after differ in length ({len(before)} != {len(after)})")
    b = sum(1 for x, y in zip(before, after) if x and not y)
    c = sum(1 for x, y in zip(before, after) if not x and y)
    return (b, c, mcnemar(b, c))


# ---------------------------------------------------------------------------------------------
# power
# ---------------------------------------------------------------------------------------------

def minimum_detectable_effect(n: int, p0: float, alpha: float = 0.05, power: float = 0.8,
                              paired_discordance: float | None = None) -> float:
    """Smallest change in pass rate (proportion units, 0–1) that a two-sided McNemar test at level
    `alpha` detects with probability `power` on n paired cases, baseline pass rate p0.

    Formula: Connor (1987), "Sample size for testing differences in proportions for the
    paired-sample design", Biometrics 43:207–211 — the normal-approximation sample size for
    McNemar's test
        n = ( z_{1−α/2} · √ψ + z_{power} · √(ψ − δ²) )² / δ²
    with ψ = P(discordant pair) = p01 + p10 and δ = p01 − p10 (the difference of the two pass
    rates). Solved exactly for δ (the positive root of the resulting quadratic):
        δ = √ψ · ( z_a · √n + z_b · √(n + z_b² − z_a²) ) / (n + z_b²)
    where z_a = Φ⁻¹(1 − α/2), z_b = Φ⁻¹(power) (see `norm_ppf`). ψ = paired_discordance when
    given, else 2·p0·(1 − p0) (the discordance if the two runs' outcomes were independent at p0).

    Returns δ in [0, 1]. When no change can be detected — n + z_b² <= z_a², ψ = 0, or δ > ψ (a
    difference of pass rates can never exceed the discordant share, |p01 − p10| <= p01 + p10) —
    returns 1.0. Example: n = 40, p0 = 0.7 (ψ = 0.42), α = 0.05, power = 0.8 → δ ≈ 0.2787
    (about 28 points); the cruder (z_a + z_b)·√(ψ/n) would give 0.2871.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not (0.0 <= p0 <= 1.0):
        raise ValueError(f"p0 must be in [0, 1], got {p0!r}")
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not (0.0 < power < 1.0):
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    psi = 2.0 * p0 * (1.0 - p0) if paired_discordance is None else float(paired_discordance)
    if not (0.0 <= psi <= 1.0):
        raise ValueError(f"paired_discordance must be in [0, 1], got {paired_discordance!r}")
    za = norm_ppf(1.0 - alpha / 2.0)
    zb = norm_ppf(power)
    radicand = n + zb * zb - za * za
    if n == 0 or psi == 0.0 or radicand <= 0.0:
        return 1.0
    delta = math.sqrt(psi) * (za * math.sqrt(n) + zb * math.sqrt(radicand)) / (n + zb * zb)
    if delta > psi:
        return 1.0
    return _clamp01(delta)
