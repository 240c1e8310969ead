"""One contract, two implementations: the metrics of each weekly run (`run_metrics/{run_id}`)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.report import metrics
from shared.report.metrics import RunMetrics, Score
from tests.conftest import BOTH_BACKENDS, either

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)


@pytest.fixture(params=BOTH_BACKENDS)
def store(request):
    return either(request, metrics.InMemoryRunMetrics, metrics.FirestoreRunMetrics)


def run(run_id: str, started_at: datetime, **kw) -> RunMetrics:
    fields = dict(safe=True, safe_label="SAFE=true", cycle_duration_s=712.5,
                  stage_durations_s={"catalog_sync": 41.0, "reporter": None},
                  benchmark_scores=[Score(model="a/one", score=71.5, n=24),
                                    Score(model="<b>x</b>", category="coding", score=50.0, n=4)])
    return RunMetrics(run_id=run_id, started_at=started_at, **{**fields, **kw})


def test_metrics_are_written_once_and_read_back_whole(store):
    assert store.get("weekly-2026-W48") is None
    first = run("weekly-2026-W48", NOW)
    assert store.create(first) is True
    assert store.create(run("weekly-2026-W48", NOW, safe_label="other")) is False
    assert store.get("weekly-2026-W48") == first


def test_history_is_newest_first_within_the_weeks_asked(store):
    for w in range(15):
        store.create(run(f"weekly-{w}", NOW - timedelta(weeks=w)))
    store.create(run("dry-1", NOW - timedelta(hours=2), dry_run=True))
    store.create(run("future", NOW + timedelta(days=1)))
    got = store.history(limit_weeks=12, until=NOW)
    assert [m.run_id for m in got] == ["weekly-0", "dry-1"] + [f"weekly-{w}" for w in range(1, 12)]
    assert [m.run_id for m in store.history(limit_weeks=2, until=NOW - timedelta(weeks=5))] == ["weekly-5", "weekly-6"]
    assert store.history(limit_weeks=12, until=NOW - timedelta(weeks=30)) == []


def test_the_alerts_stage_fills_its_field_later(store):
    store.create(run("weekly-2026-W48", NOW))
    assert store.get("weekly-2026-W48").alerts_sent is None
    store.set_alerts_sent("weekly-2026-W48", 3)
    assert store.get("weekly-2026-W48").alerts_sent == 3
    assert store.get("weekly-2026-W48").cycle_duration_s == 712.5


def test_run_ids_of_any_shape(store):
    for run_id in ("a/b", "x" * 1600, "__x__"):
        assert store.create(run(run_id, NOW)) and store.get(run_id).run_id == run_id
