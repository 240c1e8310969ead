"""Everything a research scan of the demo feeds stores, normalised (timestamps, the scan day and the
replay server's port removed), as JSON-ready data. tests/research/test_research_semantic.py
compares a scan with `semantic.enabled: false` with the snapshot that the code before the
semantic scorer produced (tests/fixtures/research/scan_keywords_only_golden.json).

Regenerate the golden file only from a tree WITHOUT the semantic scorer (e.g. commit 3e53f53):
    git archive 3e53f53 | tar -x -C /tmp/old && cp tests/research/scan_snapshot.py /tmp/old/tests/research/
    (cd /tmp/old && python -m tests.research.scan_snapshot) > tests/fixtures/research/scan_keywords_only_golden.json
This module uses only what both trees have.
"""
from __future__ import annotations

import json
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

AS_OF = date(2026, 11, 22)
EVER = datetime(2000, 1, 1, tzinfo=timezone.utc)
WALL_CLOCK = {"first_seen_at", "last_seen_at", "created_at", "started_at", "finished_at"}


def _normalise(value: Any, root: str, day: str) -> Any:
    if isinstance(value, dict):
        return {k: "<now>" if k in WALL_CLOCK and isinstance(v, datetime) else _normalise(v, root, day)
                for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_normalise(v, root, day) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str):
        return value.replace(root, "{replay}").replace(day, "<day>")
    return value


def snapshot(extra_yaml: str = "") -> dict[str, Any]:
    """Scan the demo feeds (sources file + extra_yaml) into an in-memory store; return what it stored."""
    from infra.demo import write_research_sources
    from infra.replay_server import ReplayServer, ReplayState
    from shared.catalog.store import InMemoryCatalogStore
    from shared.config import settings_from_env
    from shared.research import store as research_store
    from shared.research.scan import run_scan
    from tests.conftest import DEMO_RESEARCH, TEST_ENV

    replay = ReplayServer(ReplayState(research_dir=DEMO_RESEARCH)).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            sources = write_research_sources(replay.root_url, Path(folder) / "research_sources.yaml")
            sources.write_text(sources.read_text() + extra_yaml)
            settings = settings_from_env({**TEST_ENV, "REPORTS_BUCKET": "reports"})
            store = research_store.InMemoryResearchStore()
            rec = run_scan(settings, "rs-snapshot", AS_OF, str(sources), store, InMemoryCatalogStore())
            findings = sorted(store.findings_since(EVER), key=lambda d: d["id"])
            proposals = sorted(store.proposals_for_findings(f["id"] for f in findings), key=lambda p: p["id"])
            day = rec.started_at.date()
            markdown = store.read_findings_file("reports", day)
            record = rec.model_dump(mode="python", exclude={"config", "findings_uri", "duration_s"})
            for s in record["sources"]:
                s.pop("duration_s", None)
            data = {"record": record, "findings": findings, "proposals": proposals, "findings_file": markdown}
            return _normalise(data, replay.root_url, day.isoformat())
    finally:
        replay.stop()


if __name__ == "__main__":
    print(json.dumps(snapshot(), indent=1, sort_keys=True, ensure_ascii=False))
