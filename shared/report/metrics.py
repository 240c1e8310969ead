"""Metrics over time: one document per weekly run (`run_metrics/{run_id}`) with the figures the
history charts and log-based metrics need, taken from the run's report.

Extraction is pure and reads the report defensively (a field the report does not have yet, or
no longer has, gives None or 0, never an error), so the report's content can change without
breaking the history. The reporter records a run's metrics once (a redelivery keeps the first)
and emits them as ONE structured INFO log line (`message`: "weekly run metrics") that log-based
metrics count. Persistence sits behind a repository: `FirestoreRunMetrics` in production,
`InMemoryRunMetrics` for unit tests, one contract (tests/report/test_run_metrics_contract.py).
The collection name lives here only.
"""
from __future__ import annotations

import functools
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from pydantic import BaseModel

from shared.log import get_logger

log = get_logger(__name__)

RUN_METRICS = "run_metrics"
METRICS_VERSION = 1
LOG_MESSAGE = "weekly run metrics"   # log-based metrics filter on it (terraform/monitoring.tf)
HISTORY_WEEKS = 12
HISTORY_MAX_RUNS = 1000     # a bound on one history read, far above a year of weekly runs


class Score(BaseModel):
    """One benchmark score: a model's overall score (category None) or one category's."""
    model: str
    category: str | None = None
    score: float | None = None
    n: int | None = None


class RunMetrics(BaseModel):
    metrics_version: int = METRICS_VERSION
    run_id: str
    started_at: datetime
    generated_at: datetime | None = None
    safe: bool = False
    safe_label: str = ""
    demo: bool = False
    simulated: bool = False
    dry_run: bool = False
    cycle_duration_s: float | None = None
    stage_durations_s: dict[str, float | None] = {}
    sync_duration_s: float | None = None
    models_added: int | None = None
    models_removed: int | None = None
    models_repriced: int | None = None
    benchmark_status: str | None = None
    benchmark_verdict: str | None = None
    benchmark_scores: list[Score] = []
    benchmark_cost_usd: float | None = None
    upgrade_result: str | None = None
    upgrade_attempts: int = 0           # the 7 days to the report (report.upgrades.week)
    upgrade_promotions: int = 0
    upgrade_rollbacks: int = 0
    upgrade_success_rate: float | None = None
    alerts_sent: int | None = None      # None until the alerts stage fills it


# --- pure extraction ------------------------------------------------------------------------------
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any, default: int | None = None) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _scores(models: dict[str, Any]) -> list[Score]:
    rows = []
    for model, m in models.items():
        m = _dict(m)
        if _num(m.get("score")) is not None:
            rows.append(Score(model=model, score=_num(m.get("score")), n=_int(m.get("cases"))))
        for cat, c in _dict(m.get("categories")).items():
            c = _dict(c)
            if _num(c.get("score")) is not None:
                rows.append(Score(model=model, category=cat, score=_num(c.get("score")), n=_int(c.get("n"))))
    return rows


def _cost(bench: dict[str, Any]) -> float | None:
    """The benchmark's own total when it states one, else the sum of the models' known costs;
    None when no cost is known (never a guessed 0)."""
    if _num(bench.get("cost_usd")) is not None:
        return _num(bench.get("cost_usd"))
    costs = [_num(_dict(m).get("cost_usd")) for m in _dict(bench.get("models")).values()]
    known = [c for c in costs if c is not None]
    return round(sum(known), 6) if known else None


def extract(report: Any) -> RunMetrics:
    """The run's metrics from its WeeklyReport (or the report's JSON as a dict)."""
    r = report if isinstance(report, dict) else report.model_dump(mode="python")
    summary, bench, upgrades = _dict(r.get("summary")), _dict(r.get("benchmark")), _dict(r.get("upgrades"))
    week = _dict(upgrades.get("week"))
    generated = r.get("generated_at")
    return RunMetrics(
        run_id=r["run_id"], started_at=r.get("started_at") or generated, generated_at=generated,
        safe=bool(r.get("safe")), safe_label=str(r.get("safe_label") or ""), demo=bool(r.get("demo")),
        simulated=bool(r.get("simulated")), dry_run=bool(r.get("dry_run")),
        cycle_duration_s=_num(summary.get("cycle_duration_s")),
        stage_durations_s={str(s.get("stage")): _num(s.get("duration_s"))
                           for s in r.get("stages") or [] if isinstance(s, dict) and s.get("stage")},
        sync_duration_s=_num(summary.get("sync_duration_s")),
        models_added=_int(summary.get("models_added")), models_removed=_int(summary.get("models_removed")),
        models_repriced=_int(summary.get("price_changes")),
        benchmark_status=bench.get("status"), benchmark_verdict=bench.get("verdict"),
        benchmark_scores=_scores(_dict(bench.get("models"))), benchmark_cost_usd=_cost(bench),
        upgrade_result=upgrades.get("result"),
        upgrade_attempts=_int(week.get("candidates"), 0), upgrade_promotions=_int(week.get("promoted"), 0),
        upgrade_rollbacks=_int(week.get("rolled_back"), 0),
        upgrade_success_rate=_num(week.get("success_rate")))


def window(limit_weeks: int, until: datetime | None) -> tuple[datetime, datetime]:
    """(after, until]: the runs a history of `limit_weeks` weeks to `until` (default now) holds."""
    end = until or datetime.now(timezone.utc)
    return end - timedelta(weeks=limit_weeks), end


# --- the repository -----------------------------------------------------------------------------
class RunMetricsStore(Protocol):
    def create(self, metrics: RunMetrics) -> bool:
        """Store a run's metrics; False (and the stored ones kept) when the run has them already."""
    def get(self, run_id: str) -> RunMetrics | None: ...
    def history(self, limit_weeks: int = HISTORY_WEEKS, until: datetime | None = None) -> list[RunMetrics]:
        """The runs started in the `limit_weeks` weeks to `until` (default now), newest first."""
    def set_alerts_sent(self, run_id: str, count: int) -> None:
        """The alerts stage's figure (the record must exist)."""


class FirestoreRunMetrics:
    def _col(self) -> Any:
        from shared.platform import firestore as fs

        return fs.client().collection(RUN_METRICS)

    def _ref(self, run_id: str) -> Any:
        from shared.platform import firestore as fs

        return self._col().document(fs.doc_id(run_id))

    def create(self, metrics: RunMetrics) -> bool:
        from google.api_core.exceptions import AlreadyExists

        try:
            self._ref(metrics.run_id).create(metrics.model_dump(mode="python"))
            return True
        except AlreadyExists:
            return False

    def get(self, run_id: str) -> RunMetrics | None:
        snap = self._ref(run_id).get()
        return RunMetrics.model_validate(snap.to_dict()) if snap.exists else None

    def history(self, limit_weeks: int = HISTORY_WEEKS, until: datetime | None = None) -> list[RunMetrics]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        after, end = window(limit_weeks, until)
        query = (self._col().where(filter=FieldFilter("started_at", ">", after))
                 .where(filter=FieldFilter("started_at", "<=", end))
                 .order_by("started_at", direction=firestore.Query.DESCENDING).limit(HISTORY_MAX_RUNS))
        return [RunMetrics.model_validate(s.to_dict()) for s in query.stream()]

    def set_alerts_sent(self, run_id: str, count: int) -> None:
        self._ref(run_id).update({"alerts_sent": count})


class InMemoryRunMetrics:
    def __init__(self) -> None:
        self.docs: dict[str, str] = {}      # stored as JSON, as Firestore would: no shared objects
        self._mutex = threading.Lock()

    def create(self, metrics: RunMetrics) -> bool:
        with self._mutex:
            if metrics.run_id in self.docs:
                return False
            self.docs[metrics.run_id] = metrics.model_dump_json()
            return True

    def get(self, run_id: str) -> RunMetrics | None:
        raw = self.docs.get(run_id)
        return RunMetrics.model_validate_json(raw) if raw else None

    def history(self, limit_weeks: int = HISTORY_WEEKS, until: datetime | None = None) -> list[RunMetrics]:
        after, end = window(limit_weeks, until)
        found = [m for m in map(RunMetrics.model_validate_json, list(self.docs.values()))
                 if after < m.started_at <= end]
        return sorted(found, key=lambda m: m.started_at, reverse=True)[:HISTORY_MAX_RUNS]

    def set_alerts_sent(self, run_id: str, count: int) -> None:
        with self._mutex:
            doc = RunMetrics.model_validate_json(self.docs[run_id])     # like update: must exist
            self.docs[run_id] = doc.model_copy(update={"alerts_sent": count}).model_dump_json()


@functools.cache
def repository() -> RunMetricsStore:
    return FirestoreRunMetrics()


def record(report: Any, store: RunMetricsStore | None = None) -> RunMetrics:
    """Store the run's metrics once and log them on one line; a redelivery finds them stored,
    logs no second metrics line (so a log-based counter counts each run once) and returns the
    stored ones."""
    store = store or repository()
    metrics = extract(report)
    if store.create(metrics):
        log.info(LOG_MESSAGE, **metrics.model_dump(mode="json"))
        return metrics
    log.info("run metrics already recorded: kept", metrics_run_id=metrics.run_id)
    return store.get(metrics.run_id) or metrics
