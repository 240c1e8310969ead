"""shared/policy.py: every verdict rule, pure (no emulators). Each test is a way the old rules
could be satisfied without a real check."""
from __future__ import annotations

from typing import Any

import pytest

from shared import policy
from shared.policy import SyncFacts, Thresholds, judge_model, majority_outcomes, required_checks

TH = Thresholds()


def outcomes(passed: int, failed: int, prefix: str = "c") -> dict[str, bool]:
    ids = [f"{prefix}{i:03d}" for i in range(passed + failed)]
    return {cid: i < passed for i, cid in enumerate(ids)}


# --- regression verdicts ----------------------------------------------------------------------

def test_no_baseline_is_baseline_established_not_a_pass():
    v = judge_model(outcomes(10, 14), [], 24, [], TH)
    assert v.state == "baseline_established" and not v.passes_check
    assert v.text.startswith("baseline established") and "not a regression check" in v.text


def test_a_critical_drop_fails_even_when_not_significant():
    """24 cases, 7 pass→fail and 1 fail→pass: a 25-point drop with p = 0.07 used to pass."""
    base = {f"c{i:02d}": i < 20 for i in range(24)}                 # 20 of 24 passed
    now = dict(base)
    for i in range(7):
        now[f"c{i:02d}"] = False                                     # 7 pass → fail
    now["c20"] = True                                                # 1 fail → pass
    v = judge_model(now, [], 24, [("b1", base)], TH)
    assert (v.pass_to_fail, v.fail_to_pass) == (7, 1)
    assert v.p_value == pytest.approx(0.0703125) and v.significant is False
    assert v.delta_points == pytest.approx(-25.0) and v.level == "critical"
    assert v.state == "regression" and not v.passes_check
    assert "fails whether or not it is significant" in v.text
    for part in ("−25.0 points", "95% CI", "p = 0.07", "smallest detectable drop at n = 24"):
        assert part in v.text


def test_alert_drop_fails_when_significant_and_warns_otherwise():
    base = outcomes(100, 0)
    sig = dict(base)
    for i in range(10):
        sig[f"c{i:03d}"] = False                                     # −10 points, b = 10, c = 0
    v = judge_model(sig, [], 100, [("b1", base)], TH)
    assert v.level == "alert" and v.significant is True and v.state == "regression"
    small = dict(outcomes(20, 4))
    base2 = dict(outcomes(22, 2))                                    # −8.3 points, b = 2, c = 0
    w = judge_model(small, [], 24, [("b1", base2)], TH)
    assert w.level == "alert" and w.significant is False and w.state == "warn" and w.passes_check


def test_thresholds_are_inclusive_and_come_from_settings():
    base = outcomes(100, 0)
    now = dict(base)
    for i in range(5):
        now[f"c{i:03d}"] = False
    assert judge_model(now, [], 100, [("b", base)], TH).level == "alert"            # exactly 5
    assert judge_model(now, [], 100, [("b", base)], Thresholds(alert_points=6)).level == "ok"
    for i in range(15):
        now[f"c{i:03d}"] = False
    assert judge_model(now, [], 100, [("b", base)], TH).level == "critical"         # exactly 15

    class S:
        bench_alert_points, bench_critical_points, bench_max_error_rate = 3.0, 9.0, 0.2
    assert Thresholds.from_settings(S) == Thresholds(alert_points=3, critical_points=9, max_error_rate=0.2)


def test_errored_cases_count_as_failures_and_are_listed():
    """A model that starts erroring on its hardest cases loses for it (2 of 24 errored is under
    the 10% limit, so the run is complete and the errors are failures in the comparison)."""
    base = outcomes(24, 0)
    now = dict(base)
    now["c000"] = now["c001"] = False
    v = judge_model(now, ["c001", "c000"], 24, [("b1", base)], TH)
    assert v.errored_cases == ["c000", "c001"] and v.pass_to_fail == 2
    assert v.delta_points == pytest.approx(-8.33, abs=0.01) and v.state == "warn"
    assert "2 errored cases counted as failures" in v.text


def test_error_rate_over_the_limit_is_incomplete():
    now = outcomes(20, 4)
    v = judge_model(now, ["c020", "c021", "c022"], 24, [("b1", outcomes(24, 0))], TH)
    assert v.state == "incomplete" and not v.passes_check and "3 of 24 cases errored (limit 10%)" in v.text
    assert judge_model({}, [], 0, [], TH).state == "incomplete"


def test_drop_and_test_use_the_same_majority_pairs():
    """Three baseline runs: a case's baseline is its majority outcome; the drop and McNemar's
    test are computed on those same pairs (not the mean of runs against the latest run)."""
    runs = [("new", {"a": False, "b": True, "c": False}),
            ("mid", {"a": True, "b": True, "c": False}),
            ("old", {"a": True, "b": False, "c": True})]
    assert majority_outcomes([r for _, r in runs]) == {"a": True, "b": True, "c": False}
    v = judge_model({"a": True, "b": True, "c": False}, [], 3, runs, TH)
    assert v.delta_points == 0.0 and v.pass_to_fail == 0 == v.fail_to_pass and v.p_value == 1.0
    assert v.baseline_bench_ids == ["new", "mid", "old"]
    # a tie goes to the newest run that has the case
    assert majority_outcomes([{"x": False}, {"x": True}]) == {"x": False}


def test_improvement_passes_and_ci_is_never_zero_width():
    v = judge_model(outcomes(24, 0), [], 24, [("b", outcomes(24, 0))], TH)
    assert v.state == "pass" and v.delta_points == 0.0
    lo, hi = v.delta_ci95
    assert lo < 0 < hi          # 24 of 24 both times: still uncertain


def test_run_verdict_is_the_worst_model():
    assert policy.run_verdict(["pass", "warn"]) == "warn"
    assert policy.run_verdict(["pass", "baseline_established"]) == "baseline_established"
    assert policy.run_verdict(["regression", "incomplete"]) == "incomplete"
    assert policy.run_verdict([]) == "incomplete"


# --- required checks and SAFE -----------------------------------------------------------------

def model(state: str, text: str = "t", cats: list[str] | None = None) -> dict[str, Any]:
    return {"state": state, "routing_categories": cats or ["programming"],
            "regression": {"state": state, "text": text}}


def summary(simulated: bool = False, status: str = "complete", **models: dict[str, Any]) -> dict[str, Any]:
    return {"status": status, "verdict": "pass", "simulated": simulated, "llm_base_url": "https://x/v1",
            "simulated_because": ["LLM base URL listed in SIMULATOR_BASE_URLS"] if simulated else [],
            "models": models or {"a/m": model("pass")}}


def stages(bench: dict[str, Any] | None = None, post: dict[str, Any] | None = None, **status: str
           ) -> dict[str, Any]:
    out = {name: {"status": status.get(name, "succeeded")} for name, _ in policy.REQUIRED_CHECKS}
    out["benchmark"]["summary"] = bench if bench is not None else summary()
    out["upgrade"]["summary"] = {"result": "promoted", "post_benchmark": post if post is not None else summary(),
                                 "post_change": {"promote": True, "text": "3 comparisons: no regression"}}
    return out


OK = SyncFacts(found=True, status="succeeded")


def decide(st: dict[str, Any], **options: Any) -> policy.SafeDecision:
    opts = {"benchmarks": True, **options}
    checks = required_checks(st, opts, OK)
    return policy.decide_safe(checks, opts, bool((st["benchmark"].get("summary") or {}).get("simulated")))


def test_every_check_passed_on_real_models_is_safe():
    d = decide(stages())
    assert d.safe is True and d.reasons == [] and d.label == "SAFE=true"


def test_simulated_benchmark_is_unsafe_outside_demo_and_labelled_in_demo():
    sim = summary(simulated=True)
    d = decide(stages(sim, sim))
    assert d.safe is False and d.label == "SAFE=false (simulated models)"
    assert d.reasons[0].startswith("benchmark: the benchmark ran against simulated models")
    assert "LLM base URL listed in SIMULATOR_BASE_URLS" in d.reasons[0]
    demo = decide(stages(sim, sim), demo=True)
    assert demo.safe is True and demo.label == "SAFE=true (DEMO: simulated models)"


def test_first_week_establishes_the_baseline_and_is_not_safe():
    st = stages(summary(**{"a/m": model("baseline_established", cats=["programming", "legal"])}))
    checks = required_checks(st, {"benchmarks": True}, OK)
    bench = checks[2]
    assert bench.outcome == "baseline established" and bench.passed is False
    assert "a/m (programming, legal)" in bench.detail and "SAFE stays false" in bench.detail
    assert decide(st).safe is False


def test_regression_and_incomplete_models_fail_the_check_with_their_text():
    st = stages(summary(**{"a/m": model("regression", "−25.0 points … fails"), "b/m": model("warn"),
                           "c/m": model("incomplete", "incomplete: 5 of 24")}))
    bench = required_checks(st, {}, OK)[2]
    assert bench.outcome == "failed"
    assert bench.detail == "2 of 3 models failed: a/m: −25.0 points … fails | c/m: incomplete: 5 of 24"


def test_warn_passes_with_the_warning_named():
    bench = required_checks(stages(summary(**{"a/m": model("pass"), "b/m": model("warn")})), {}, OK)[2]
    assert bench.passed and "warning (alert-level drop, not significant): b/m" in bench.detail


def test_upgrade_check_needs_a_post_change_benchmark():
    st = stages()
    st["upgrade"]["summary"] = {}
    up = required_checks(st, {}, OK)[4]
    assert up.outcome == "did not run" and "no post-change benchmark summary" in up.detail
    st["upgrade"]["summary"] = {"result": "not promoted: the serving version moved", "post_benchmark": summary(),
                                "post_change": {"promote": True}}
    assert required_checks(st, {}, OK)[4].outcome == "failed"
    st["upgrade"]["summary"] = {"result": "rolled back", "rolled_back": True, "post_benchmark": summary(),
                                "rollback": {"kept_version": 4, "reason": "programming (math): −20 points"}}
    up = required_checks(st, {}, OK)[4]
    assert up.outcome == "failed" and up.detail == ("the candidate was rolled back (serving stays at version 4): "
                                                    "programming (math): −20 points")


def test_stage_states_that_never_pass():
    st = stages(planner="not_implemented", research_digest="failed", upgrade="pending")
    st["research_digest"]["error"] = "boom"
    checks = {c.name: c for c in required_checks(st, {}, OK)}
    assert checks["planner"].outcome == "did not run" and "not implemented" in checks["planner"].detail
    assert checks["research_digest"].detail == "stage failed: boom"
    assert checks["upgrade"].outcome == "did not run"
    disabled = required_checks(stages(), {"benchmarks": False}, OK)[2]
    assert disabled.outcome == "did not run" and "benchmarks=false" in disabled.detail


def test_incomplete_or_exhausted_benchmark_summary_fails():
    for status in ("incomplete", "budget_exhausted"):
        bench = required_checks(stages(summary(status=status)), {}, OK)[2]
        assert bench.outcome == "failed" and status in bench.detail


def test_catalog_sync_facts():
    assert required_checks(stages(), {}, SyncFacts(found=False))[0].outcome == "failed"
    c = required_checks(stages(), {}, SyncFacts(found=True, status="partial", errors=["e1", "e2"]))[0]
    assert c.detail == "sync finished with 2 isolated errors: e1 …"
    for unfinished in ("running", None, "failed"):    # a record not finished never passes
        c = required_checks(stages(), {}, SyncFacts(found=True, status=unfinished))[0]
        assert c.outcome == "failed" and f"says {unfinished!r}" in c.detail
    assert required_checks(stages(), {}, SyncFacts(found=True, status="partial"))[0].passed


def test_dry_run_is_never_safe_and_labels_are_consistent():
    d = decide(stages(), dry_run=True)
    assert d.safe is False and d.reasons == ["dry run: catalog changes were computed but not applied"]
    assert policy.safe_label(True, False, False) == "SAFE=true"
    assert policy.safe_label(True, True, False) == "SAFE=true (DEMO)"
    assert policy.safe_label(False, True, True) == "SAFE=false (DEMO: simulated models)"


def test_the_upgrade_check():
    judge = policy.judge_upgrade
    assert judge({"rolled_back": True, "rollback": {"kept_version": 3, "reason": "programming −12 points"}},
                 False) == ("failed", "the candidate was rolled back (serving stays at version 3): programming −12 points")
    promoted = {"result": "promoted", "post_benchmark": summary(simulated=True), "post_change": {"promote": True,
                "text": "6 comparisons: no regression"}}
    assert judge(promoted, True) == ("passed", "post-change benchmark None: 6 comparisons: no regression "
                                               "(DEMO: simulated models)")
    assert judge(promoted, False)[0] == "failed"                                 # simulated outside a demo
    assert judge({"post_benchmark_needed": False, "post_benchmark_skipped": "benchmarks are disabled"},
                 False) == ("did not run", "benchmarks are disabled")
    outcome, detail = judge({"post_benchmark_needed": False, "applied": ["a", "b"], "waiting": {"c": "gated"}}, False)
    assert outcome == "passed" and "no change needed a post-change benchmark (2" in detail and "1 waiting" in detail
    assert judge({"post_benchmark_needed": True}, False)[0] == "did not run"     # needed, not run: never a pass
    assert judge({}, False)[0] == "did not run"


# --- post-change: a changed route against what it served before --------------------------------

def case_outcomes(n: int, passed: int, category: str = "math", errored: int = 0) -> list[policy.CaseOutcome]:
    return [policy.CaseOutcome(case_id=f"{category}-{i}", category=category, passed=i < passed,
                               errored=passed <= i < passed + errored) for i in range(n)]


def test_post_change_promotes_when_no_category_of_a_changed_route_regresses():
    v = policy.judge_post_change([("programming", "old/m", "new/m")],
                                 {"old/m": case_outcomes(40, 32) + case_outcomes(40, 30, "coding"),
                                  "new/m": case_outcomes(40, 33) + case_outcomes(40, 30, "coding")},
                                 {"old/m": "pre"}, TH)
    assert v.promote and v.reasons == [] and [c.category for c in v.comparisons] == ["coding", "math"]
    assert v.comparisons[1].verdict.baseline_bench_ids == ["pre"]


def test_post_change_a_critical_drop_in_one_category_rolls_back_even_if_others_improve():
    v = policy.judge_post_change([("programming", "old/m", "new/m")],
                                 {"old/m": case_outcomes(40, 32) + case_outcomes(40, 20, "coding"),
                                  "new/m": case_outcomes(40, 20) + case_outcomes(40, 40, "coding")},
                                 {"old/m": "pre"}, TH)
    assert not v.promote and len(v.reasons) == 1
    assert v.reasons[0].startswith("programming (math): new/m vs old/m: −30.0 points vs baseline 80.0")


def test_post_change_alert_drop_fails_only_when_significant():
    # 8 of 40 fewer (−20 points would be critical): −7.5 points, 3 pass→fail only, not significant → warns, promotes
    small = policy.judge_post_change([("r", "o", "n")], {"o": case_outcomes(40, 30), "n": case_outcomes(40, 27)},
                                     {"o": "pre"}, TH)
    assert small.promote and small.comparisons[0].verdict.state == "warn"


def test_post_change_errors_no_common_cases_and_missing_results_never_promote():
    errored = policy.judge_post_change([("r", "o", "n")], {"o": case_outcomes(20, 16),
                                                           "n": case_outcomes(20, 10, errored=6)}, {"o": "pre"}, TH)
    assert not errored.promote and errored.comparisons[0].verdict.state == "incomplete"
    other = [policy.CaseOutcome(case_id=f"x-{i}", category="math", passed=True) for i in range(20)]
    disjoint = policy.judge_post_change([("r", "o", "n")], {"o": case_outcomes(20, 16), "n": other}, {"o": "pre"}, TH)
    assert not disjoint.promote and disjoint.comparisons[0].verdict.state == "baseline_established"
    missing = policy.judge_post_change([("r", "o", "n")], {"o": case_outcomes(20, 16)}, {"o": "pre"}, TH)
    assert not missing.promote and "has no results" in missing.reasons[0]
    assert not policy.judge_post_change([], {}, {}, TH).promote          # nothing measured is no evidence


def test_post_change_a_new_route_needs_only_a_complete_measurement():
    v = policy.judge_post_change([("new-cat", None, "n")], {"n": case_outcomes(20, 5)}, {}, TH)
    assert v.promote and v.comparisons[0].before is None
