"""Tests for shared/bench/stats.py against known values.

Reference values marked "numpy"/"scipy" were computed once with NumPy 2.4.6 / SciPy 1.17.1 in a
throwaway virtualenv outside the project and hard-coded here (neither is a project dependency):
    np.percentile(a, q)                                    (default method="linear")
    scipy.stats.norm.ppf(p)
    scipy.stats.binomtest(k, n, 0.5).proportion_ci(conf, method="wilson")
    scipy.stats.binomtest(b, b+c, 0.5).pvalue              (exact McNemar)
    MDE: Connor's equation solved numerically with scipy.optimize.brentq (same value to 1e-12).
Values marked "by hand" are exact arithmetic shown in the comment.
"""
from __future__ import annotations

import math

import pytest

from shared.bench.stats import (
    mcnemar, mcnemar_from_pairs, minimum_detectable_effect, norm_ppf, paired_difference_interval,
    percentile, proportion_interval, wilson_interval,
)

# ---------------------------------------------------------------------------------------------
# percentile (numpy linear / R type 7)
# ---------------------------------------------------------------------------------------------

# numpy: np.percentile(a, q) for q in (0, 5, 25, 50, 90, 95, 99, 100)
PCT_QS = (0, 5, 25, 50, 90, 95, 99, 100)
PCT_CASES = [
    ([1, 2, 3, 4], (1.0, 1.15, 1.75, 2.5, 3.7, 3.85, 3.97, 4.0)),
    (list(range(1, 101)), (1.0, 5.95, 25.75, 50.5, 90.1, 95.05, 99.01, 100.0)),
    ([3.5, -1.0, 7.25, 0.0, 2.0], (-1.0, -0.8, 0.0, 2.0, 5.75, 6.5, 7.1, 7.25)),   # unsorted input
    ([10, 20], (10.0, 10.5, 12.5, 15.0, 19.0, 19.5, 19.9, 20.0)),
    ([0.2, 0.9, 0.4, 0.4, 1.0, 0.0, 0.65], (0.0, 0.06, 0.3, 0.4, 0.94, 0.97, 0.994, 1.0)),  # ties
]


@pytest.mark.parametrize("values,expected", PCT_CASES)
def test_percentile_matches_numpy_linear(values, expected):
    for q, want in zip(PCT_QS, expected):
        assert percentile(values, q) == pytest.approx(want, abs=1e-12), (values, q)


def test_percentile_hand_checked():
    # by hand: h = (4-1)*0.95 = 2.85 → x[2] + 0.85*(x[3]-x[2]) = 3 + 0.85 = 3.85
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    # by hand: h = 99*0.95 = 94.05 → 95 + 0.05*(96-95) = 95.05
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)
    assert percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)      # median of an even count


def test_percentile_edges():
    assert percentile([7.5], 0) == 7.5
    assert percentile([7.5], 95) == 7.5
    assert percentile([7.5], 100) == 7.5
    with pytest.raises(ValueError):
        percentile([], 50)
    for bad in (-0.1, 100.1, float("nan")):
        with pytest.raises(ValueError):
            percentile([1, 2, 3], bad)
    with pytest.raises(ValueError):
        percentile([1.0, float("nan")], 50)


# ---------------------------------------------------------------------------------------------
# normal quantiles
# ---------------------------------------------------------------------------------------------

# scipy.stats.norm.ppf(p)
NORM_PPF = {
    0.975: 1.959963984540054, 0.5: 0.0, 0.8: 0.8416212335729143, 0.95: 1.6448536269514722,
    0.995: 2.5758293035489004, 1e-08: -5.612001244174789, 0.01: -2.3263478740408408,
    0.3: -0.5244005127080409, 0.99999: 4.264890793923841,
}


def test_norm_ppf_0975():
    assert abs(norm_ppf(0.975) - 1.959964) < 1e-6


@pytest.mark.parametrize("p,want", sorted(NORM_PPF.items()))
def test_norm_ppf_matches_scipy(p, want):
    # NormalDist.inv_cdf is within 1e-15 of SciPy at every p here, tails (1e-8, 0.99999) included
    assert abs(norm_ppf(p) - want) < 1e-12


def _phi(z: float) -> float:
    # erfc keeps relative precision in the lower tail (NormalDist.cdf uses erf: ~1e-5 at p = 1e-12)
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def test_norm_ppf_inverts_cdf_and_rejects_bounds():
    for p in (1e-12, 1e-5, 0.02, 0.02425, 0.1, 0.4, 0.6, 0.9, 0.97575, 0.999):
        assert _phi(norm_ppf(p)) == pytest.approx(p, rel=1e-12)
    for bad in (0.0, 1.0, -0.5, 2.0, float("nan")):
        with pytest.raises(ValueError):
            norm_ppf(bad)


# ---------------------------------------------------------------------------------------------
# Wilson interval
# ---------------------------------------------------------------------------------------------

# scipy.stats.binomtest(k, n).proportion_ci(conf, method="wilson")
WILSON = [
    (8, 10, 0.95, 0.4901624715366418, 0.9433178485456248),
    (0, 10, 0.95, 0.0, 0.27753279986288926),
    (10, 10, 0.95, 0.7224672001371109, 1.0),
    (37, 50, 0.95, 0.6044684273515115, 0.8412847250644762),
    (1, 3, 0.95, 0.06149194472039626, 0.7923403991979523),
    (8, 10, 0.90, 0.5407928056874879, 0.9314420122624679),
]


@pytest.mark.parametrize("k,n,conf,lo,hi", WILSON)
def test_wilson_matches_scipy(k, n, conf, lo, hi):
    got = wilson_interval(k, n, conf)
    assert got[0] == pytest.approx(lo, abs=1e-9)
    assert got[1] == pytest.approx(hi, abs=1e-9)


def test_wilson_brief_values_and_edges():
    lo, hi = wilson_interval(8, 10)
    assert round(lo, 4) == 0.4902 and round(hi, 4) == 0.9433
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and round(hi, 4) == 0.2775
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == 1.0
    for k, n in ((-1, 5), (6, 5), (1, -1)):
        with pytest.raises(ValueError):
            wilson_interval(k, n)


# ---------------------------------------------------------------------------------------------
# McNemar
# ---------------------------------------------------------------------------------------------

def test_mcnemar_exact_values():
    assert mcnemar(0, 5) == 0.0625             # by hand: 2 * (1/2)^5
    assert mcnemar(5, 0) == 0.0625
    assert mcnemar(3, 3) == 1.0                # 2 * P(X <= 3 | n=6) = 2 * 42/64 > 1 → capped
    assert mcnemar(1, 9) == 0.021484375        # by hand: 2 * (1 + 10) / 1024
    assert mcnemar(0, 0) == 1.0


@pytest.mark.parametrize("b,c,want", [
    (10, 2, 0.03857421875), (4, 12, 0.076812744140625), (7, 20, 0.0191572904586792),
])
def test_mcnemar_matches_scipy_binomtest(b, c, want):     # scipy.stats.binomtest(b, b+c, 0.5)
    assert mcnemar(b, c) == pytest.approx(want, rel=1e-12)
    assert mcnemar(c, b) == pytest.approx(want, rel=1e-12)


def test_mcnemar_large_n_and_errors():
    p = mcnemar(600, 400)
    assert 0.0 < p < 1e-9
    assert mcnemar(1500, 1500) == 1.0
    with pytest.raises(ValueError):
        mcnemar(-1, 3)


def test_mcnemar_from_pairs():
    before = [True, True, False, False, True, False, True, True, False, True]
    after = [False, True, True, True, True, True, False, True, True, True]
    # pass→fail at 0 and 6 (b = 2); fail→pass at 2, 3, 5, 8 (c = 4)
    assert mcnemar_from_pairs(before, after) == (2, 4, mcnemar(2, 4))
    assert mcnemar_from_pairs([], []) == (0, 0, 1.0)
    with pytest.raises(ValueError):
        mcnemar_from_pairs([True], [True, False])


# ---------------------------------------------------------------------------------------------
# intervals over proportions: Wilson around a mean, Newcombe's paired difference
# ---------------------------------------------------------------------------------------------

def test_proportion_interval_is_wilson_for_binary_scores_and_never_zero_width():
    for k, n in ((0, 4), (3, 4), (4, 4), (8, 10), (17, 40)):
        assert proportion_interval(k / n, n) == pytest.approx(wilson_interval(k, n), abs=1e-12)
    lo, hi = proportion_interval(1.0, 4)        # 4 of 4: a t-interval would be (1, 1)
    assert hi == 1.0 and lo == pytest.approx(0.5101, abs=1e-4)
    lo, hi = proportion_interval(0.0, 4)
    assert lo == 0.0 and hi == pytest.approx(0.4899, abs=1e-4)
    assert proportion_interval(0.3, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        proportion_interval(1.2, 5)


def test_paired_difference_interval_without_correlation_is_square_and_add():
    # by hand: with phi = 0 (B = both*neither - first*second = 0 here: 3*3 - 3*3), the limits are
    # d -/+ sqrt of the summed squared Wilson half-widths of the two margins
    d, lo, hi = paired_difference_interval(3, 3, 3, 3)
    l1, u1 = wilson_interval(6, 12)
    assert d == 0.0
    assert lo == pytest.approx(-math.hypot(0.5 - l1, u1 - 0.5), abs=1e-12)
    assert hi == pytest.approx(math.hypot(u1 - 0.5, 0.5 - l1), abs=1e-12)


def test_paired_difference_interval_contains_the_estimate_and_has_width_when_concordant():
    for table in ((20, 0, 0, 4), (14, 5, 0, 22), (10, 7, 1, 6), (0, 0, 0, 9), (5, 0, 9, 0)):
        d, lo, hi = paired_difference_interval(*table)
        assert -1.0 <= lo < d < hi <= 1.0 or (lo < d <= hi)
        assert hi - lo > 0.05
    d, lo, hi = paired_difference_interval(20, 0, 0, 4)    # no discordant pair: still uncertain
    assert d == 0.0 and lo == pytest.approx(-hi) and hi > 0.1
    assert paired_difference_interval(0, 0, 0, 0) == (0.0, -1.0, 1.0)
    with pytest.raises(ValueError):
        paired_difference_interval(1, -1, 0, 0)


def test_paired_difference_interval_covers_the_true_difference_about_95_percent():
    """Simulated paired outcomes (p1 = 0.7, p2 = 0.6, correlated; n = 40): the interval's
    coverage is near its nominal 95% (Newcombe reports method 10 close to nominal)."""
    import random

    rng = random.Random(1)
    covered = 0
    for _ in range(2000):
        cells = [0, 0, 0, 0]
        for _ in range(40):
            u = rng.random()
            cells[0 if u < 0.55 else 1 if u < 0.70 else 2 if u < 0.75 else 3] += 1
        _, lo, hi = paired_difference_interval(*cells)
        covered += lo <= 0.1 <= hi
    assert 0.93 <= covered / 2000 <= 0.97


# ---------------------------------------------------------------------------------------------
# minimum detectable effect
# ---------------------------------------------------------------------------------------------

# Connor (1987): n = (z_a√ψ + z_b√(ψ−δ²))² / δ², solved for δ; reference values from brentq on that
# equation with scipy.stats.norm.ppf quantiles (alpha = 0.05 two-sided, power = 0.8).
MDE_REF = [
    (40, 0.7, None, 0.2786954739733572),
    (100, 0.7, None, 0.1794312581001956),
    (200, 0.7, None, 0.1276294581858839),
    (20, 0.7, None, 0.3824823640671767),
    (40, 0.7, 0.2, 0.1923181481336072),
    (500, 0.5, None, 0.08838517491077667),
]


@pytest.mark.parametrize("n,p0,psi,want", MDE_REF)
def test_mde_matches_connor_reference(n, p0, psi, want):
    assert minimum_detectable_effect(n, p0, paired_discordance=psi) == pytest.approx(want, rel=1e-9)


def test_mde_n40_p07_in_expected_band_and_decreasing():
    mde40 = minimum_detectable_effect(40, 0.7)
    assert mde40 == pytest.approx(0.2787, abs=1e-4)          # ≈ 28 points
    assert 0.19 <= mde40 <= 0.30
    values = [minimum_detectable_effect(n, 0.7) for n in (10, 20, 40, 80, 160, 320, 1000)]
    assert all(x >= y for x, y in zip(values, values[1:]))
    assert all(x > y for x, y in zip(values[1:], values[2:]))
    # stricter alpha or higher power → larger MDE
    assert minimum_detectable_effect(40, 0.7, alpha=0.01) > mde40
    assert minimum_detectable_effect(40, 0.7, power=0.9) > mde40


def test_mde_edges():
    assert minimum_detectable_effect(0, 0.7) == 1.0
    assert minimum_detectable_effect(3, 0.7) == 1.0            # n too small for any effect
    assert minimum_detectable_effect(10, 0.7) == 1.0           # δ ≈ 0.51 > ψ = 0.42: impossible
    assert minimum_detectable_effect(40, 1.0) == 1.0           # ψ = 0
    for n in (1, 5, 40, 10_000):
        assert 0.0 <= minimum_detectable_effect(n, 0.5) <= 1.0
    with pytest.raises(ValueError):
        minimum_detectable_effect(40, 1.5)
    with pytest.raises(ValueError):
        minimum_detectable_effect(40, 0.7, paired_discordance=1.2)
