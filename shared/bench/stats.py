"""Statistics for benchmark runs: percentiles, confidence intervals, paired significance tests,
minimum detectable effect and the regression verdict shown to people.

Standard library only (math, statistics, random): every distribution function used here is
implemented in this module and checked in tests/test_bench_stats.py against values computed with
NumPy/SciPy (hard-coded there; neither is a dependency of the project). Every function is pure and
deterministic: the bootstrap ones draw from their own `random.Random(seed)`.

Conventions
- Pass rates and per-case scores are proportions in [0, 1]; the regression verdict speaks in
  *points* of a 0–100 score (1 point = 0.01 in proportion units).
- Two-sided tests throughout; `confidence` is the two-sided coverage (0.95 → 2.5 % in each tail).

Formulas and references are given in each docstring. Summary:
- `percentile`: R type 7 / NumPy "linear" (Hyndman & Fan 1996, definition 7).
- `wilson_interval`: Wilson (1927) score interval.
- `mean_ci`: Student-t interval (quantile from the inverse of the regularized incomplete beta
  function, Numerical Recipes §6.4 continued fraction) or a bootstrap percentile interval
  (Efron & Tibshirani 1993, ch. 13).
- `mcnemar`: exact (conditional binomial) McNemar test (McNemar 1947; Fagerland et al. 2013).
- `paired_bootstrap_delta`: paired bootstrap of the mean difference with a percentile interval and a
  two-sided bootstrap p-value.
- `minimum_detectable_effect`: Connor (1987) sample-size formula for McNemar's test, solved for
  the effect in closed form.
- `norm_ppf`: Acklam's rational approximation refined by one Halley step (≈ machine precision).
"""
from __future__ import annotations

import math
import random
import statistics
from typing import Sequence

__all__ = [
    "percentile", "norm_cdf", "norm_ppf", "betainc", "t_cdf", "t_ppf", "wilson_interval", "mean_ci",
    "mcnemar", "mcnemar_from_pairs", "paired_bootstrap_delta", "minimum_detectable_effect",
    "regression_verdict",
]

MINUS = "\u2212"          # "−", used for negative deltas in human text


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

def norm_cdf(x: float) -> float:
    """Standard normal CDF Φ(x) = erfc(−x/√2) / 2 (math.erfc, accurate to ~1 ulp)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# Acklam (2003), "An algorithm for computing the inverse normal cumulative distribution function".
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
_P_LOW = 0.02425


def norm_ppf(p: float) -> float:
    """Inverse standard normal CDF z = Φ⁻¹(p) for p in (0, 1).

    Peter J. Acklam's rational approximation (relative error < 1.15e-9): a rational function in
    q = p − 0.5 on the central region [0.02425, 0.97575] and in q = √(−2 ln p) (or 1 − p) on the
    tails; then one Halley refinement step using the exact CDF (math.erfc):
        e = Φ(z) − p,   u = e · √(2π) · exp(z²/2),   z ← z − u / (1 + z·u/2)
    which brings the error to about machine precision (|error| < 1e-12 on [1e-10, 1 − 1e-10]).
    Φ⁻¹(0.975) = 1.959963984540054.
    """
    p = float(p)
    if not (0.0 < p < 1.0):
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        z = ((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
             / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    elif p <= 1.0 - _P_LOW:
        q = p - 0.5
        r = q * q
        z = ((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
             / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        z = -((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
              / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    # one Halley step on f(z) = Φ(z) − p (for the upper tail, work with 1 − Φ to keep precision)
    if p > 0.5:
        e = -(0.5 * math.erfc(z / math.sqrt(2.0)) - (1.0 - p))
    else:
        e = norm_cdf(z) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(z * z / 2.0)
    return z - u / (1.0 + z * u / 2.0)


# ---------------------------------------------------------------------------------------------
# Student t via the regularized incomplete beta function
# ---------------------------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for I_x(a, b) by the modified Lentz method (Numerical Recipes §6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    def lentz_step(aa: float, c: float, d: float) -> tuple[float, float, float]:
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) >= tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) >= tiny else tiny
        return c, d, c * d

    for m in range(1, 10_000):
        m2 = 2 * m
        c, d, factor = lentz_step(m * (b - m) * x / ((qam + m2) * (a + m2)), c, d)
        h *= factor
        c, d, delta = lentz_step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), c, d)
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            return h
    raise ArithmeticError("incomplete beta continued fraction did not converge")  # pragma: no cover


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b), a, b > 0, x in [0, 1].

    I_x(a, b) = x^a (1−x)^b / (a B(a, b)) · CF(a, b, x), with the continued fraction CF evaluated
    by the modified Lentz method; for x > (a+1)/(a+b+2) the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) is
    used so the fraction converges fast (Numerical Recipes, 3rd ed., §6.4).
    """
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be > 0")
    if not (0.0 <= x <= 1.0):
        raise ValueError(f"x must be in [0, 1], got {x!r}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _t_sf_abs(t: float, df: float) -> float:
    """P(T > |t|) = I_{df/(df+t²)}(df/2, 1/2) / 2."""
    return 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """Student-t CDF with df > 0 degrees of freedom:
    F(t) = 1 − I_{df/(df+t²)}(df/2, 1/2) / 2 for t >= 0, and F(t) = 1 − F(−t) for t < 0."""
    if df <= 0:
        raise ValueError("df must be > 0")
    tail = _t_sf_abs(t, df)
    return 1.0 - tail if t >= 0 else tail


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def t_ppf(p: float, df: float) -> float:
    """Student-t quantile t_{p, df}: the t with F(t) = p, for p in (0, 1) and any df > 0.

    Solves I_{df/(df+t²)}(df/2, 1/2) = 2·min(p, 1−p) for t >= 0 (i.e. inverts the regularized
    incomplete beta function) by safeguarded Newton iteration on the upper-tail probability,
    starting from the normal quantile and keeping a bisection bracket; the result is then signed.
    Accurate to ~1e-10 relative for df >= 1 (tested against scipy.stats.t.ppf), e.g.
    t_{0.975, 2} = 4.302653, t_{0.975, 10} = 2.228139, t_{0.975, 100} = 1.983972.
    """
    p = float(p)
    if not (0.0 < p < 1.0):
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if df <= 0:
        raise ValueError("df must be > 0")
    if p == 0.5:
        return 0.0
    tail = min(p, 1.0 - p)                 # target P(T > t) for the positive quantile t
    # bracket [lo, hi] with sf(lo) > tail > sf(hi)
    lo, hi = 0.0, max(1.0, abs(norm_ppf(tail)))
    while _t_sf_abs(hi, df) > tail:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:                      # pragma: no cover - absurdly heavy tails
            break
    t = min(max(abs(norm_ppf(tail)), lo), hi)
    for _ in range(200):
        f = _t_sf_abs(t, df) - tail        # decreasing in t
        if f > 0:
            lo = t
        else:
            hi = t
        pdf = _t_pdf(t, df)
        step = f / pdf if pdf > 0 else float("inf")
        t_new = t + step                    # Newton for a decreasing function: t - f/(-pdf)
        if not (lo < t_new < hi):
            t_new = 0.5 * (lo + hi)
        if abs(t_new - t) <= 1e-14 * max(1.0, abs(t_new)):
            t = t_new
            break
        t = t_new
    return t if p > 0.5 else -t


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
    _check_confidence(confidence)
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    z = norm_ppf(1.0 - (1.0 - confidence) / 2.0)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if successes == 0 else _clamp01(centre - half)
    high = 1.0 if successes == n else _clamp01(centre + half)
    return (low, high)


def _bootstrap_means(values: list[float], rng: random.Random, resamples: int) -> list[float]:
    n = len(values)
    return [math.fsum(rng.choices(values, k=n)) / n for _ in range(resamples)]


def mean_ci(values: Sequence[float], confidence: float = 0.95, method: str = "t", seed: int = 0,
            resamples: int = 2000) -> tuple[float, float, float]:
    """(mean, low, high) for per-case scores in [0, 1].

    method="t": Student-t interval
        mean ± t_{1 − α/2, n−1} · s / √n,   α = 1 − confidence, s = sample standard deviation (n − 1)
    method="bootstrap": percentile bootstrap (Efron & Tibshirani 1993, §13.3): `resamples` means of
        n values drawn with replacement by random.Random(seed).choices; (low, high) are their
        percentiles at 100·α/2 and 100·(1 − α/2) (type 7, see `percentile`). Same seed → same result.
    Bounds are clamped to [0, 1]. n < 2 → (mean, 0.0, 1.0) (no spread to estimate).
    Empty input or a value outside [0, 1] → ValueError.
    """
    _check_confidence(confidence)
    xs = _finite_list(values)
    if not xs:
        raise ValueError("mean_ci of an empty sequence")
    if any(v < 0.0 or v > 1.0 for v in xs):
        raise ValueError("mean_ci expects scores in [0, 1]")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return (mean, 0.0, 1.0)
    alpha = 1.0 - confidence
    if method == "t":
        s = statistics.stdev(xs)
        half = t_ppf(1.0 - alpha / 2.0, n - 1) * s / math.sqrt(n)
        return (mean, _clamp01(mean - half), _clamp01(mean + half))
    if method == "bootstrap":
        if resamples < 1:
            raise ValueError("resamples must be >= 1")
        means = _bootstrap_means(xs, random.Random(seed), resamples)
        low = percentile(means, 100.0 * alpha / 2.0)
        high = percentile(means, 100.0 * (1.0 - alpha / 2.0))
        return (mean, _clamp01(low), _clamp01(high))
    raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")


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


def paired_bootstrap_delta(before: Sequence[float], after: Sequence[float], seed: int = 0,
                           resamples: int = 2000, confidence: float = 0.95
                           ) -> tuple[float, float, float, float]:
    """(delta, low, high, p) for the mean paired difference after − before.

    d_i = after_i − before_i, delta = mean(d). Each of `resamples` bootstrap replicates is the mean
    of n of the d_i drawn with replacement (random.Random(seed).choices — the pairing is kept).
    (low, high) = type-7 percentiles of the replicates at 100·α/2 and 100·(1 − α/2).
    p = min(1, 2 · (share of replicates on the other side of 0 from delta)), where "the other side"
    is <= 0 when delta > 0 and >= 0 when delta < 0 (replicates exactly 0 count against the effect,
    which is conservative); delta == 0 → p = 1. Note p can be 0 when no replicate crosses 0
    (resolution is 2/resamples).
    """
    _check_confidence(confidence)
    xs = _finite_list(before, "before")
    ys = _finite_list(after, "after")
    if len(xs) != len(ys):
        raise ValueError(f"before and after differ in length ({len(xs)} != {len(ys)})")
    if not xs:
        raise ValueError("paired_bootstrap_delta of empty sequences")
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    deltas = [y - x for x, y in zip(xs, ys)]
    n = len(deltas)
    delta = math.fsum(deltas) / n
    reps = _bootstrap_means(deltas, random.Random(seed), resamples)
    alpha = 1.0 - confidence
    low = percentile(reps, 100.0 * alpha / 2.0)
    high = percentile(reps, 100.0 * (1.0 - alpha / 2.0))
    if delta > 0:
        other = sum(1 for r in reps if r <= 0.0)
    elif delta < 0:
        other = sum(1 for r in reps if r >= 0.0)
    else:
        return (delta, low, high, 1.0)
    return (delta, low, high, min(1.0, 2.0 * other / resamples))


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


# ---------------------------------------------------------------------------------------------
# the verdict shown to people
# ---------------------------------------------------------------------------------------------

_EPS = 1e-9     # points; absorbs float noise so a drop of exactly 5.0 / 15.0 hits the threshold


def _fmt_p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def _fmt_delta(d: float) -> str:
    r = round(d, 1)
    if r < 0:
        return f"{MINUS}{abs(r):.1f}"
    return f"+{abs(r):.1f}"


def regression_verdict(baseline_scores: Sequence[float], current_score: float,
                       alert_points: float = 5.0, critical_points: float = 15.0,
                       paired_p: float | None = None, alpha: float = 0.05,
                       mde_points: float | None = None, n: int | None = None) -> dict:
    """Compare a run's score (points, 0–100) with the mean of the baseline runs' scores.

    baseline = mean(baseline_scores); delta_points = current − baseline; drop = −delta_points.
    level = "critical" if drop >= critical_points, "alert" if drop >= alert_points, else "ok"
    (improvements and smaller drops are "ok"; the comparisons allow 1e-9 points of float noise so
    a drop of exactly 5 or 15 points reaches the threshold).
    significant = paired_p < alpha when paired_p is given (e.g. from `mcnemar`), else None.
    text, one line, e.g.
        "−6.0 points vs baseline 72.0 (alert), not significant at n = 40 (p = 0.31; smallest
         detectable drop: 19 points)"
        "+2.1 points vs baseline 70.0 (ok)"
        "−8.0 points vs baseline 60.0 (alert); smallest detectable drop at n = 200: 12 points"
                                                        (mde_points given but no paired_p)
        "no baseline yet: first run for this target and suite version"   (empty baseline)
    Returns {"baseline", "current", "delta_points", "level", "significant", "p_value",
    "mde_points", "n", "text"}; with no baseline, baseline/delta_points/significant/p_value are
    None and level is "ok".
    """
    base = _finite_list(baseline_scores, "baseline_scores")
    current = float(current_score)
    if not math.isfinite(current):
        raise ValueError("current_score must be finite")
    if not (0.0 <= alert_points <= critical_points):
        raise ValueError("need 0 <= alert_points <= critical_points")
    if paired_p is not None and not (0.0 <= paired_p <= 1.0):
        raise ValueError(f"paired_p must be in [0, 1], got {paired_p!r}")
    if not base:
        return {"baseline": None, "current": current, "delta_points": None, "level": "ok",
                "significant": None, "p_value": None, "mde_points": mde_points, "n": n,
                "text": "no baseline yet: first run for this target and suite version"}
    baseline = math.fsum(base) / len(base)
    delta = current - baseline
    drop = -delta
    if drop >= critical_points - _EPS:
        level = "critical"
    elif drop >= alert_points - _EPS:
        level = "alert"
    else:
        level = "ok"
    significant = None if paired_p is None else bool(paired_p < alpha)
    text = f"{_fmt_delta(delta)} points vs baseline {baseline:.1f} ({level})"
    at_n = f" at n = {n}" if n is not None else ""
    mde_txt = f"smallest detectable drop: {mde_points:.0f} points" if mde_points is not None else ""
    if paired_p is not None:
        inner = _fmt_p(paired_p) + (f"; {mde_txt}" if mde_txt else "")
        text += f", {'significant' if significant else 'not significant'}{at_n} ({inner})"
    elif mde_txt:
        text += f"; smallest detectable drop{at_n}: {mde_points:.0f} points"
    return {"baseline": baseline, "current": current, "delta_points": delta, "level": level,
            "significant": significant, "p_value": paired_p, "mde_points": mde_points, "n": n,
            "text": text}
