"""Every rule that decides a verdict, in one pure module: scorer acceptance thresholds, regression
levels, the benchmark check, the SAFE rules and their reasons.

No cloud imports and no I/O: the benchmark, the report, the CLI and the api ask this module and
nobody else decides. Unit-tested without emulators (tests/test_policy.py).
"""
from __future__ import annotations

from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict

from shared.bench import stats   # pure: standard library only
from shared.messages import JOB_FINISHED

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


# =============================================================================================
# Regression: one model's run against its rolling baseline
# =============================================================================================

_EPS = 1e-9      # points; a drop of exactly 5.0 / 15.0 reaches the threshold despite float noise
MINUS = "\u2212"

ModelState = Literal["pass", "warn", "regression", "baseline_established", "incomplete"]
# worst first: a run is as bad as its worst model
_SEVERITY: tuple[str, ...] = ("incomplete", "regression", "baseline_established", "warn", "pass")


class Thresholds(BaseModel):
    """Regression levels in points of pass rate (0–100), the test level and the error-rate limit."""
    model_config = ConfigDict(frozen=True)

    alert_points: float = 5.0
    critical_points: float = 15.0
    alpha: float = 0.05
    power: float = 0.8                # for the minimum detectable effect shown with every verdict
    max_error_rate: float = 0.10

    @classmethod
    def from_settings(cls, settings: Any) -> "Thresholds":
        return cls(alert_points=settings.bench_alert_points, critical_points=settings.bench_critical_points,
                   max_error_rate=settings.bench_max_error_rate)


class ModelVerdict(BaseModel):
    """What the benchmark concludes about one model. Only "pass" and "warn" satisfy the check."""
    state: ModelState
    level: Literal["ok", "alert", "critical"] | None = None
    n: int = 0                                   # paired cases compared
    baseline_pass_rate: float | None = None      # points, on the paired cases
    current_pass_rate: float | None = None
    delta_points: float | None = None            # current − baseline (negative = worse)
    delta_ci95: list[float] | None = None
    p_value: float | None = None                 # exact McNemar on the same pairs
    significant: bool | None = None
    mde_points: float | None = None              # smallest drop detectable at this n (power 0.8)
    pass_to_fail: int | None = None
    fail_to_pass: int | None = None
    errored_cases: list[str] = []                # counted as failures, listed so nobody is surprised
    baseline_bench_ids: list[str] = []
    text: str

    @property
    def passes_check(self) -> bool:
        return self.state in ("pass", "warn")


def majority_outcomes(runs: Sequence[dict[str, bool]]) -> dict[str, bool]:
    """Each case's majority outcome over the baseline runs (newest first); a tie goes to the
    newest run that has the case. Errored baseline cases are failures like any other."""
    out: dict[str, bool] = {}
    for case_id in {c for run in runs for c in run}:
        votes = [run[case_id] for run in runs if case_id in run]
        passes = sum(votes)
        fails = len(votes) - passes
        out[case_id] = votes[0] if passes == fails else passes > fails
    return out


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def _signed(points: float) -> str:
    r = round(points, 1)
    return f"{MINUS}{abs(r):.1f}" if r < 0 else f"+{abs(r):.1f}"


def judge_model(current: dict[str, bool], errored: Sequence[str], cases: int,
                baseline_runs: Sequence[tuple[str, dict[str, bool]]], th: Thresholds) -> ModelVerdict:
    """One model's verdict.

    `current`: case id → passed for every case of this run, errored cases as False (an errored
    case is a failure: a model that starts failing on its hardest cases must lose for it).
    `baseline_runs`: (bench id, case id → passed) of the comparable earlier runs, newest first.
    The drop and the test use the same pairs: each case against its majority outcome over the
    baseline runs. A drop >= critical fails whether or not it is significant; a drop >= alert
    fails when significant and warns otherwise. No baseline is not a pass.
    """
    errored = sorted(errored)
    if cases == 0 or len(errored) / cases > th.max_error_rate:
        return ModelVerdict(state="incomplete", errored_cases=errored,
                            text=f"incomplete: {len(errored)} of {cases} cases errored (limit "
                                 f"{th.max_error_rate:.0%}); not compared with the baseline")
    ids = [bench_id for bench_id, _ in baseline_runs]
    base = majority_outcomes([outcomes for _, outcomes in baseline_runs])
    pairs = [(base[c], passed) for c, passed in sorted(current.items()) if c in base]
    if not pairs:
        why = ("first complete run of this model on this suite version, endpoint and label" if not ids
               else "no case in common with the baseline runs")
        return ModelVerdict(state="baseline_established", errored_cases=errored, baseline_bench_ids=ids,
                            text=f"baseline established ({why}, n = {cases}): not a regression check; "
                                 f"the check runs from the next run on")
    both = sum(1 for b, c in pairs if b and c)
    pass_to_fail = sum(1 for b, c in pairs if b and not c)
    fail_to_pass = sum(1 for b, c in pairs if not b and c)
    neither = len(pairs) - both - pass_to_fail - fail_to_pass
    n = len(pairs)
    drop, lo, hi = stats.paired_difference_interval(both, pass_to_fail, fail_to_pass, neither)
    p_value = stats.mcnemar(pass_to_fail, fail_to_pass)
    p0 = (both + pass_to_fail) / n
    mde = 100 * stats.minimum_detectable_effect(n, p0, th.alpha, th.power)
    drop_points = 100 * drop
    significant = p_value < th.alpha
    if drop_points >= th.critical_points - _EPS:
        level, state = "critical", "regression"
        rule = f"fails: a drop of {th.critical_points:g} points or more fails whether or not it is significant"
    elif drop_points >= th.alert_points - _EPS:
        level = "alert"
        state = "regression" if significant else "warn"
        rule = ("fails: an alert-level drop that is significant" if significant
                else "warning: an alert-level drop that is not significant at this n")
    else:
        level, state, rule = "ok", "pass", "no regression"
    delta = -drop_points
    ci = [round(-100 * hi, 2), round(-100 * lo, 2)]
    text = (f"{_signed(delta)} points vs baseline {100 * p0:.1f} on {n} paired cases ({level}; 95% CI "
            f"{_signed(ci[0])} to {_signed(ci[1])}; {_p(p_value)}; smallest detectable drop at n = {n}: "
            f"{mde:.0f} points): {rule}")
    if errored:
        text += f"; {len(errored)} errored case{'s' if len(errored) != 1 else ''} counted as failures"
    return ModelVerdict(state=state, level=level, n=n, baseline_pass_rate=round(100 * p0, 2),
                        current_pass_rate=round(100 * (both + fail_to_pass) / n, 2),
                        delta_points=round(delta, 2), delta_ci95=ci, p_value=p_value,
                        significant=significant, mde_points=round(mde, 1), pass_to_fail=pass_to_fail,
                        fail_to_pass=fail_to_pass, errored_cases=errored, baseline_bench_ids=ids,
                        text=text)


def run_verdict(states: Sequence[str]) -> str:
    """A run is as bad as its worst model ("pass" only when every model passed)."""
    for state in _SEVERITY:
        if state in states:
            return state
    return "incomplete"      # no model at all: nothing was measured


# =============================================================================================
# Post-change: a candidate's changed routes against what they served before, on the same cases
# =============================================================================================

class CaseOutcome(BaseModel):
    """One target's result on one case, as the post-change judgement needs it."""
    model_config = ConfigDict(frozen=True)
    case_id: str
    category: str                  # the benchmark category (coding, math, ...)
    passed: bool
    errored: bool = False


class RouteComparison(BaseModel):
    route: str                     # routing category
    category: str                  # benchmark category
    before: str | None
    after: str
    verdict: ModelVerdict

    @property
    def fails(self) -> bool:
        if self.before is None:     # a new route: nothing served it before; it must be measured
            return self.verdict.state == "incomplete"
        return not self.verdict.passes_check


class PostChangeVerdict(BaseModel):
    promote: bool
    comparisons: list[RouteComparison]
    reasons: list[str]              # why not promoted (empty when promoted)
    text: str


def judge_post_change(routes: Sequence[tuple[str, str | None, str]], outcomes: dict[str, Sequence[CaseOutcome]],
                      before_runs: dict[str, str], th: Thresholds) -> PostChangeVerdict:
    """Each changed route `(route, before label, after label)`, per benchmark category: the
    candidate's target on the cases of that category paired case by case with what the route
    served before (`before_runs`: label → the bench id its outcomes come from). The regression
    rules are judge_model's: a drop of `critical_points` fails outright, an `alert_points` drop
    fails when significant (a non-significant one warns), an incomplete measurement fails, and
    no case in common is no evidence (fails). Promote only when no comparison fails."""
    comparisons: list[RouteComparison] = []
    for route, before, after in routes:
        mine = list(outcomes.get(after) or [])
        if not mine:
            verdict = ModelVerdict(state="incomplete", text=f"incomplete: {after} has no results in the post-change run")
            comparisons.append(RouteComparison(route=route, category="all", before=before, after=after, verdict=verdict))
            continue
        theirs = list(outcomes.get(before) or []) if before else []
        for category in sorted({o.category for o in mine}):
            cur = [o for o in mine if o.category == category]
            base = {o.case_id: o.passed and not o.errored for o in theirs if o.category == category}
            baseline = [(before_runs.get(before, "?"), base)] if before and base else []
            verdict = judge_model({o.case_id: o.passed and not o.errored for o in cur},
                                  [o.case_id for o in cur if o.errored], len(cur), baseline, th)
            comparisons.append(RouteComparison(route=route, category=category, before=before, after=after,
                                               verdict=verdict))
    failed = [c for c in comparisons if c.fails]
    reasons = [f"{c.route} ({c.category}): {c.after} vs {c.before or 'no previous route'}: {c.verdict.text}"
               for c in failed]
    n_routes = len({r for r, _, _ in routes})
    text = (f"{len(failed)} of {len(comparisons)} route/category comparisons failed on {n_routes} changed route(s)"
            if failed else f"{len(comparisons)} route/category comparisons on {n_routes} changed route(s): "
                           f"no regression against what the routes served before")
    return PostChangeVerdict(promote=not failed and bool(comparisons), comparisons=comparisons, reasons=reasons,
                             text=text)


# =============================================================================================
# SAFE: the checks a weekly run must pass, and their reasons
# =============================================================================================

REQUIRED_CHECKS: list[tuple[str, str]] = [
    ("catalog_sync", "Catalog sync completed without errors"),
    ("research_digest", "Research digest ran"),
    ("benchmark", "Routed models benchmarked before changes, no regression against a like-for-like baseline"),
    ("planner", "Upgrade plan produced and risk-rated"),
    ("upgrade", "Upgrades applied or held, post-change benchmark without regression"),
]

Outcome = Literal["passed", "failed", "did not run", "baseline established"]


class Check(BaseModel):
    name: str
    description: str
    passed: bool
    outcome: Outcome
    detail: str


class SyncFacts(BaseModel):
    """What the SAFE rules need from the catalog sync record."""
    found: bool
    status: str | None = None       # the sync record's own status: "running" is not a finished sync
    errors: list[str] = []


class SafeDecision(BaseModel):
    safe: bool
    demo: bool
    simulated: bool
    reasons: list[str]
    label: str


def _check(name: str, outcome: Outcome, detail: str) -> Check:
    return Check(name=name, description=dict(REQUIRED_CHECKS)[name], passed=outcome == "passed",
                 outcome=outcome, detail=detail)


def judge_benchmark_summary(summary: dict[str, Any], demo: bool) -> tuple[Outcome, str]:
    """A benchmark summary (shared.bench.results.aggregate) as the outcome of a required check."""
    models: dict[str, Any] = summary.get("models") or {}
    simulated = bool(summary.get("simulated"))
    if simulated and not demo:
        because = ", ".join(summary.get("simulated_because") or []) or "simulated"
        return "failed", (f"the benchmark ran against simulated models ({because}; LLM endpoint "
                          f"{summary.get('llm_base_url')}): not evidence about real models; only a run "
                          f"marked demo accepts it")
    if summary.get("status") != "complete":
        return "failed", f"benchmark {summary.get('status')}: {summary.get('error') or summary.get('verdict')}"
    if not models:
        return "failed", "no model was measured"
    states = {m: (v.get("regression") or {}).get("state", "incomplete") for m, v in models.items()}
    bad = [f"{m}: {(models[m].get('regression') or {}).get('text')}" for m, s in states.items()
           if s in ("regression", "incomplete")]
    if bad:
        return "failed", f"{len(bad)} of {len(models)} models failed: " + " | ".join(bad)
    fresh = [m for m, s in states.items() if s == "baseline_established"]
    if fresh:
        where = "; ".join(f"{m} ({', '.join(models[m].get('routing_categories') or []) or 'no routed category'})"
                          for m in fresh)
        return "baseline established", (f"baseline established, not yet compared, for {where}: SAFE stays "
                                         f"false for these until a baseline exists (the next run compares)")
    warned = [m for m, s in states.items() if s == "warn"]
    detail = f"{len(models)} models compared with like-for-like baselines: no regression"
    if warned:
        detail += "; warning (alert-level drop, not significant): " + ", ".join(warned)
    if simulated:
        detail += " (DEMO: simulated models)"
    return "passed", detail


def required_checks(stages: dict[str, Any], options: dict[str, Any], sync: SyncFacts) -> list[Check]:
    """Every required check of a weekly run; a stage that did not run is never an assumed pass."""
    demo = bool(options.get("demo"))
    out = []
    for name, _ in REQUIRED_CHECKS:
        state = stages.get(name) or {}
        status = state.get("status", "pending")
        error = state.get("error")
        if name == "benchmark" and not options.get("benchmarks", True):
            out.append(_check(name, "did not run", "benchmarks were disabled for this run "
                                                   "(benchmarks=false): nothing was measured"))
        elif status == "not_implemented":
            out.append(_check(name, "did not run", f"the {name} stage is not implemented yet: this check did not run"))
        elif status != "succeeded":
            out.append(_check(name, "did not run" if status in ("pending", "skipped") else "failed",
                              f"stage {status}" + (f": {error}" if error else "")))
        elif name == "benchmark":
            out.append(_check(name, *judge_benchmark_summary(state.get("summary") or {}, demo)))
        elif name == "upgrade":
            out.append(_check(name, *judge_upgrade(state.get("summary") or {}, demo)))
        elif name == "catalog_sync" and not sync.found:
            out.append(_check(name, "failed", "no sync-run record found, so 'without errors' cannot be verified"))
        elif name == "catalog_sync" and sync.status not in JOB_FINISHED:
            out.append(_check(name, "failed", f"the sync-run record says {sync.status!r}, not finished: "
                                              f"its changes cannot be verified"))
        elif name == "catalog_sync" and sync.errors:
            out.append(_check(name, "failed", f"sync finished with {len(sync.errors)} isolated errors: "
                                              f"{sync.errors[0]}" + (" …" if len(sync.errors) > 1 else "")))
        else:
            out.append(_check(name, "passed", "ran and passed"))
    return out


def judge_upgrade(summary: dict[str, Any], demo: bool) -> tuple[str, str]:
    """The upgrade check: a rollback fails it; a candidate that changed a route passes only on its
    post-change benchmark; one that changed no route passes, stated as such."""
    if summary.get("rolled_back"):
        rollback = summary.get("rollback") or {}
        return "failed", (f"the candidate was rolled back (serving stays at version {rollback.get('kept_version')}): "
                          f"{rollback.get('reason') or summary.get('rollback_reason') or 'it regressed'}")
    post = summary.get("post_benchmark")
    if post:
        if post.get("simulated") and not demo:
            return judge_benchmark_summary(post, demo)     # says why simulated evidence fails
        change = summary.get("post_change") or {}
        if summary.get("result") != "promoted" or not change.get("promote"):
            return "failed", f"post-change benchmark {post.get('bench_id')}: candidate not promoted: " \
                             f"{summary.get('result')}"
        detail = f"post-change benchmark {post.get('bench_id')}: {change.get('text')}"
        return "passed", detail + (" (DEMO: simulated models)" if post.get("simulated") else "")
    if summary.get("post_benchmark_skipped"):     # a change that needed it waits: the check did not run
        return "did not run", summary["post_benchmark_skipped"]
    if summary.get("post_benchmark_needed") is False:
        applied = len(summary.get("applied") or [])
        return "passed", (f"no change needed a post-change benchmark ({applied} change(s) applied, none altering "
                          f"what a route serves; {len(summary.get('waiting') or {})} waiting)")
    return "did not run", "no post-change benchmark summary: the post-change check did not run"


def safe_label(safe: bool, demo: bool, simulated: bool) -> str:
    """The one line every surface prints (report, CLI, logs, messages)."""
    if safe:
        return "SAFE=true (DEMO: simulated models)" if demo and simulated else \
            "SAFE=true (DEMO)" if demo else "SAFE=true"
    return "SAFE=false" + (" (DEMO: simulated models)" if demo and simulated
                           else " (DEMO)" if demo else " (simulated models)" if simulated else "")


def decide_safe(checks: Sequence[Check], options: dict[str, Any], simulated: bool) -> SafeDecision:
    """SAFE=true only when every required check passed and nothing was a dry run."""
    reasons = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    if options.get("dry_run"):
        reasons.append("dry run: catalog changes were computed but not applied")
    demo = bool(options.get("demo"))
    safe = not reasons
    return SafeDecision(safe=safe, demo=demo, simulated=simulated, reasons=reasons,
                        label=safe_label(safe, demo, simulated))
