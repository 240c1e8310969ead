"""Tests for shared/bench/stats.py against known values.

Reference values marked "numpy"/"scipy" were computed once with NumPy 2.4.6 / SciPy 1.17.1 in a
throwaway virtualenv outside the project and hard-coded here (neither is a project dependency):
    np.percentile(a, q)                                    (default method="linear")
    scipy.stats.t.ppf(p, df), scipy.stats.norm.ppf(p)
    scipy.stats.t.interval(conf, n-1, loc=np.mean(x), scale=scipy.stats.sem(x))
    scipy.stats.binomtest(k, n, 0.5).proportion_ci(conf, method="wilson")
    scipy.stats.binomtest(b, b+c, 0.5).pvalue              (exact McNemar)
    MDE: Connor's equation solved numerically with scipy.optimize.brentq (same value to 1e-12).
Values marked "by hand" are exact arithmetic shown in the comment.
"""
from __future__ import annotations

import math

import pytest

from shared.bench.stats import (
    betainc, mcnemar, mcnemar_from_pairs, mean_ci, minimum_detectable_effect, norm_cdf, norm_ppf,
    paired_bootstrap_delta, percentile, regression_verdict, t_cdf, t_ppf, wilson_interval,
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
# normal and Student-t quantiles
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
    assert abs(norm_ppf(p) - want) < 1e-9


def test_norm_ppf_inverts_cdf_and_rejects_bounds():
    for p in (1e-12, 1e-5, 0.02, 0.02425, 0.1, 0.4, 0.6, 0.9, 0.97575, 0.999):
        assert norm_cdf(norm_ppf(p)) == pytest.approx(p, rel=1e-10)
    for bad in (0.0, 1.0, -0.5, 2.0):
        with pytest.raises(ValueError):
            norm_ppf(bad)


def test_t_ppf_0975_brief_values():
    want = {2: 4.3027, 5: 2.5706, 10: 2.2281, 30: 2.0423, 100: 1.9840}
    for df, w in want.items():
        assert abs(t_ppf(0.975, df) - w) < 1e-3, df


# scipy.stats.t.ppf(p, df)
T_PPF = [
    (1, 0.975, 12.706204736174694), (1, 0.95, 6.313751514675037), (1, 0.995, 63.656741162871526),
    (1, 0.9, 3.0776835371752544), (2, 0.975, 4.302652729749462), (2, 0.95, 2.9199855803537242),
    (2, 0.995, 9.924843200918287), (2, 0.9, 1.8856180831641272), (3, 0.975, 3.1824463052837078),
    (3, 0.995, 5.840909309733355), (5, 0.975, 2.5705818356363146), (5, 0.95, 2.0150483733330233),
    (5, 0.995, 4.032142983555228), (10, 0.975, 2.228138851986274), (10, 0.9, 1.372183641110336),
    (10, 0.995, 3.16927267261695), (30, 0.975, 2.0422724563012378), (30, 0.95, 1.697260886593957),
    (100, 0.975, 1.9839715185235518), (100, 0.995, 2.6258905214380173),
    (2.5, 0.975, 3.5746548420036817), (2.5, 0.9, 1.7302509288071766),
]


@pytest.mark.parametrize("df,p,want", T_PPF)
def test_t_ppf_matches_scipy(df, p, want):
    assert t_ppf(p, df) == pytest.approx(want, rel=1e-9)
    assert t_ppf(1 - p, df) == pytest.approx(-want, rel=1e-8)      # symmetry
    assert t_cdf(want, df) == pytest.approx(p, rel=1e-10)


def test_t_ppf_tends_to_normal_and_median():
    assert t_ppf(0.5, 7) == 0.0
    assert t_ppf(0.975, 1e6) == pytest.approx(1.959963984540054, abs=1e-5)


def test_betainc_known_values():
    # by hand: I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1-x)^b; I_0.5(a, a) = 0.5
    assert betainc(1, 1, 0.3) == pytest.approx(0.3, rel=1e-13)
    assert betainc(3, 1, 0.4) == pytest.approx(0.4 ** 3, rel=1e-12)
    assert betainc(1, 4, 0.2) == pytest.approx(1 - 0.8 ** 4, rel=1e-12)
    assert betainc(7.5, 7.5, 0.5) == pytest.approx(0.5, rel=1e-12)


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
# mean_ci
# ---------------------------------------------------------------------------------------------

S1 = [0.2, 0.9, 0.4, 0.4, 1.0, 0.0, 0.65]
S2 = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
S3 = [0.5, 0.55, 0.6]
# scipy.stats.t.interval(conf, n-1, loc=mean, scale=sem) — unclamped (low, high)
T_INTERVALS = [
    (S1, 0.95, 0.5071428571428571, 0.1710994074075946, 0.8431863068781196),
    (S1, 0.90, 0.5071428571428571, 0.24027872608871037, 0.7740069881970038),
    (S1, 0.99, 0.5071428571428571, -0.00201193784830489, 1.016297652134019),
    (S2, 0.95, 0.7, 0.3544497855863562, 1.0455502144136437),
    (S2, 0.90, 0.7, 0.41998737429001015, 0.9800126257099897),
    (S3, 0.95, 0.55, 0.42579311441248346, 0.6742068855875164),
    (S3, 0.99, 0.55, 0.26349445531425, 0.8365055446857499),
]


@pytest.mark.parametrize("values,conf,mean,lo,hi", T_INTERVALS)
def test_mean_ci_t_matches_scipy_clamped(values, conf, mean, lo, hi):
    m, low, high = mean_ci(values, confidence=conf, method="t")
    assert m == pytest.approx(mean, abs=1e-12)
    assert low == pytest.approx(max(0.0, lo), abs=1e-9)
    assert high == pytest.approx(min(1.0, hi), abs=1e-9)


def test_mean_ci_small_n_and_errors():
    assert mean_ci([0.4]) == (0.4, 0.0, 1.0)
    assert mean_ci([0.4], method="bootstrap") == (0.4, 0.0, 1.0)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)          # no spread → zero width
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([0.5, 72.0])                                      # points, not proportions
    with pytest.raises(ValueError):
        mean_ci([0.5, 0.7], method="jackknife")


def test_mean_ci_bootstrap_reproducible_and_sane():
    a = mean_ci(S1 * 3, method="bootstrap", seed=7)
    b = mean_ci(S1 * 3, method="bootstrap", seed=7)
    c = mean_ci(S1 * 3, method="bootstrap", seed=8)
    assert a == b
    assert a != c
    m, lo, hi = a
    assert lo < m < hi
    # close to the t-interval for a moderate sample (same data, same confidence)
    _, tlo, thi = mean_ci(S1 * 3, method="t")
    assert abs(lo - tlo) < 0.06 and abs(hi - thi) < 0.06
    # wider at 99 % than at 80 %
    _, lo99, hi99 = mean_ci(S1 * 3, confidence=0.99, method="bootstrap")
    _, lo80, hi80 = mean_ci(S1 * 3, confidence=0.80, method="bootstrap")
    assert hi99 - lo99 > hi80 - lo80


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
# paired bootstrap
# ---------------------------------------------------------------------------------------------

def _constructed_pairs():
    # 40 cases: 12 fail→pass, 4 pass→fail, 16 pass→pass, 8 fail→fail → true mean delta = 8/40 = 0.2
    before = [0.0] * 12 + [1.0] * 4 + [1.0] * 16 + [0.0] * 8
    after = [1.0] * 12 + [0.0] * 4 + [1.0] * 16 + [0.0] * 8
    return before, after


def test_paired_bootstrap_reproducible_and_contains_true_delta():
    before, after = _constructed_pairs()
    r1 = paired_bootstrap_delta(before, after, seed=3)
    r2 = paired_bootstrap_delta(before, after, seed=3)
    assert r1 == r2
    assert paired_bootstrap_delta(before, after, seed=4) != r1
    delta, lo, hi, p = r1
    assert delta == pytest.approx(0.2)
    assert lo < 0.2 < hi
    assert lo > 0.0                    # the improvement is clear at 95 %...
    assert p < 0.05                    # ...so the bootstrap p-value is small
    assert 0.0 <= p <= 1.0


def test_paired_bootstrap_no_effect_and_sign():
    before, after = _constructed_pairs()
    d, lo, hi, p = paired_bootstrap_delta(after, before, seed=0)      # the reverse: a drop
    assert d == pytest.approx(-0.2) and hi < 0 < -lo and p < 0.05
    same = [0.3, 0.8, 1.0, 0.0]
    assert paired_bootstrap_delta(same, same) == (0.0, 0.0, 0.0, 1.0)
    # a tiny, noisy effect is not significant
    b = [1.0, 0.0] * 20
    a = [0.0, 1.0] * 20
    a[0] = 1.0                          # one extra pass → delta = 1/40
    d, lo, hi, p = paired_bootstrap_delta(b, a, seed=1)
    assert d == pytest.approx(0.025) and lo < 0 < hi and p > 0.5
    with pytest.raises(ValueError):
        paired_bootstrap_delta([1.0], [1.0, 0.0])
    with pytest.raises(ValueError):
        paired_bootstrap_delta([], [])


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


# ---------------------------------------------------------------------------------------------
# regression verdict
# ---------------------------------------------------------------------------------------------

def test_verdict_example_alert_not_significant():
    v = regression_verdict([71.0, 73.0], 66.0, paired_p=0.31, mde_points=19.0, n=40)
    assert v["baseline"] == pytest.approx(72.0)
    assert v["current"] == 66.0
    assert v["delta_points"] == pytest.approx(-6.0)
    assert v["level"] == "alert"
    assert v["significant"] is False
    assert v["p_value"] == 0.31 and v["mde_points"] == 19.0 and v["n"] == 40
    assert v["text"] == ("\u22126.0 points vs baseline 72.0 (alert), not significant at n = 40 "
                         "(p = 0.31; smallest detectable drop: 19 points)")


def test_verdict_with_computed_mde_and_mcnemar():
    n = 40
    mde = minimum_detectable_effect(n, 0.72) * 100            # ψ = 2·0.72·0.28 → ≈ 27.3 points
    p = mcnemar(7, 3)                                         # 2·176/1024 = 0.34375
    v = regression_verdict([72.0], 66.0, paired_p=p, mde_points=mde, n=n)
    assert v["text"] == ("\u22126.0 points vs baseline 72.0 (alert), not significant at n = 40 "
                         "(p = 0.34; smallest detectable drop: 27 points)")


def test_verdict_ok_improvement_and_significant():
    v = regression_verdict([70.0, 70.0, 70.0], 72.1)
    assert v["level"] == "ok" and v["significant"] is None
    assert v["text"] == "+2.1 points vs baseline 70.0 (ok)"
    v = regression_verdict([60.0], 80.0, paired_p=0.004, n=50)
    assert v["level"] == "ok" and v["significant"] is True
    assert v["text"] == "+20.0 points vs baseline 60.0 (ok), significant at n = 50 (p = 0.004)"
    v = regression_verdict([60.0], 40.0, paired_p=0.0001, n=50)
    assert v["level"] == "critical"
    assert v["text"] == "\u221220.0 points vs baseline 60.0 (critical), significant at n = 50 (p < 0.001)"
    v = regression_verdict([60.0], 52.0, mde_points=12.4, n=200)
    assert v["text"] == "\u22128.0 points vs baseline 60.0 (alert); smallest detectable drop at n = 200: 12 points"


def test_verdict_boundaries_exactly_at_5_and_15():
    assert regression_verdict([72.0], 67.0)["level"] == "alert"           # drop 5.0
    assert regression_verdict([72.0], 67.01)["level"] == "ok"             # drop 4.99
    assert regression_verdict([72.0], 57.0)["level"] == "critical"        # drop 15.0
    assert regression_verdict([72.0], 57.01)["level"] == "alert"          # drop 14.99
    # float noise: scores made from pass rates, 0.57*100 − 0.52*100 = 4.999999999999993 and
    # 0.57*100 − 0.42*100 = 14.999999999999993 in binary floating point: still alert / critical
    assert 0.57 * 100 - 0.52 * 100 < 5.0
    assert regression_verdict([0.57 * 100], 0.52 * 100)["level"] == "alert"
    assert regression_verdict([0.57 * 100], 0.42 * 100)["level"] == "critical"
    assert regression_verdict([50.0], 100.0)["level"] == "ok"             # improvement
    # custom thresholds
    assert regression_verdict([50.0], 48.0, alert_points=2.0, critical_points=4.0)["level"] == "alert"
    assert regression_verdict([50.0], 46.0, alert_points=2.0, critical_points=4.0)["level"] == "critical"


def test_verdict_no_baseline_and_errors():
    v = regression_verdict([], 55.0, paired_p=0.2)
    assert v["level"] == "ok" and v["baseline"] is None and v["delta_points"] is None
    assert v["significant"] is None
    assert v["text"] == "no baseline yet: first run for this target and suite version"
    with pytest.raises(ValueError):
        regression_verdict([70.0], float("nan"))
    with pytest.raises(ValueError):
        regression_verdict([70.0], 60.0, alert_points=20.0, critical_points=10.0)


def test_verdict_tiny_delta_has_no_negative_zero():
    assert regression_verdict([70.0], 69.98)["text"].startswith("+0.0 points")
    assert not math.isnan(regression_verdict([70.0], 69.98)["delta_points"])
